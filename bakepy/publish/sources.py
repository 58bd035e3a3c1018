"""Stage 2 of a publish: the pushed sources of each target, checked in every registry before any tag moves.

Each pushed digest must exist in every registry its target publishes to, with exactly the planned platforms.
`TargetSpec` is what publishing needs to know about a target; `Collected` is a target's checked sources."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bakepy.engine.registry import config_platform, inspect_many
from bakepy.engine.runner import Runner
from bakepy.engine.transport import session
from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex, split_reference


@dataclass(frozen=True)
class TargetSpec:
    """What publishing needs to know about one target (taken from the plan)."""

    name: str
    platforms: tuple[str, ...]
    repositories: tuple[str, ...]  # repository-only references, one or more per registry
    tags: tuple[str, ...]  # full references
    index_annotations: Mapping[str, str] = field(default_factory=dict)

    def registries(self) -> list[str]:
        seen: list[str] = []
        for ref in (*self.repositories, *self.tags):
            registry = split_reference(ref)[0]
            if registry not in seen:
                seen.append(registry)
        return seen

    def repository_in(self, registry: str) -> str:
        for repo in self.repositories:
            if split_reference(repo)[0] == registry:
                return repo
        raise RegistryError(
            f"target {self.name}: nothing is pushed to {registry}, where it has tags"
        )

    def tags_in(self, registry: str) -> tuple[str, ...]:
        return tuple(t for t in self.tags if split_reference(t)[0] == registry)


@dataclass(frozen=True)
class Collected:
    """A target's pushed sources, checked in every registry: platform → image manifest digest."""

    spec: TargetSpec
    digests: tuple[str, ...]  # the pushed descriptors to merge from
    images: Mapping[str, str]  # platform → image manifest digest
    attestations: int  # attestation manifests across the sources
    indexes: Mapping[str, ImageIndex]  # source digest → what it is


# -- 2. collect -----------------------------------------------------------------------------------------
def collect_all(
    runner: Runner,
    sources: Sequence[tuple[TargetSpec, Sequence[str]]],
    platform_of: Mapping[str, str] | None = None,
    annotated: Collection[str] = (),
) -> list[Collected]:
    """Check every source digest exists in every registry its target publishes to, with the planned platforms.

    `platform_of` (pushed digest → the one platform its build pushed, from digest records) names the platform of
    plain image manifests, which do not name it themselves (pushes without attestations).
    """
    client = session()
    client.log = client.log or runner.log  # retries show where the run's commands show
    # one token per repository serves the reads here and the writes of the merge (`pull,push` at once)
    client.will_write(split_reference(r)[:2] for spec, _ in sources for r in spec.repositories)
    client.prime(split_reference(r)[0] for spec, _ in sources for r in spec.repositories)
    refs = [
        f"{spec.repository_in(registry)}@{digest}"
        for spec, digests in sources
        for registry in spec.registries()
        for digest in digests
    ]
    found = label_plain_manifests(inspect_many(runner, refs), platform_of or {})
    collected = [check_sources(spec, digests, found) for spec, digests in sources]
    check_configs(runner, collected, annotated)
    return collected


def check_configs(
    runner: Runner, collected: Sequence[Collected], annotated: Collection[str] = ()
) -> None:
    """Each platform image's own config says the platform it is listed as; else nothing moves.

    An index descriptor or a digest record only *claims* a platform: a cross-built image whose config says amd64
    listed as arm64 would publish a broken index (two amd64 entries as far as a runtime can tell). Content is
    addressed, so one registry's copy speaks for all: read once per image.
    """
    from bakepy.model import normalize_platform

    # Only platforms bakepy was *told* (a digest record's or the plan's label on a plain image manifest, an
    # assembled source): an index descriptor written by BuildKit states the platform it built from that config.
    # `annotated`: images the user labelled on purpose (`assemble --annotate`).
    labelled = {d for c in collected for d, i in c.indexes.items() if not i.is_index}
    wanted = {
        f"{c.spec.repositories[0]}@{image}": (c.spec.name, platform)
        for c in collected
        for platform, image in c.images.items()
        if image not in annotated and image in labelled
    }
    if not wanted:
        return
    refs = list(wanted)
    with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
        said = dict(zip(refs, pool.map(lambda r: config_platform(runner, r), refs), strict=True))
    for ref, (target, listed) in wanted.items():
        actual = said[ref]
        if actual is None or listed == "unknown/unknown":
            continue  # a config without a platform (rare, non-runnable images): nothing to compare
        try:
            same = normalize_platform(actual) == normalize_platform(listed)
        except ValueError:
            same = actual == listed
        if not same:
            raise RegistryError(
                f"target {target}: {ref} is listed as {listed}, but its image config says {actual}; "
                "no tag was moved",
                hint="build that platform again, or fix the record or source that names it",
            )


def label_plain_manifests(
    found: Mapping[str, ImageIndex | None], platform_of: Mapping[str, str]
) -> dict[str, ImageIndex | None]:
    """`found` (ref → what it is), each plain image manifest labelled with the platform its digest was built for.

    `platform_of` maps a pushed digest to the one platform its build pushed; indexes, missing references and
    digests it does not name are left as they are.
    """
    out = dict(found)
    for ref, index in found.items():
        platform = platform_of.get(ref.rpartition("@")[2])
        if index is not None and not index.is_index and platform is not None:
            (entry,) = index.manifests
            out[ref] = dataclasses.replace(
                index, manifests=(dataclasses.replace(entry, platform=platform),)
            )
    return out


def check_sources(
    spec: TargetSpec, digests: Sequence[str], found: Mapping[str, ImageIndex | None]
) -> Collected:
    indexes: dict[str, ImageIndex] = {}
    for registry in spec.registries():
        repo = spec.repository_in(registry)
        for digest in digests:
            index = found.get(f"{repo}@{digest}")
            if index is None:
                raise RegistryError(
                    f"target {spec.name}: {repo}@{digest} is missing; no tag was moved",
                    hint="the build did not push to every registry; check its output and credentials",
                )
            indexes.setdefault(digest, index)
    images: dict[str, str] = {}
    for digest in digests:
        for platform, image in images_of(indexes[digest], spec.platforms).items():
            if platform in images and images[platform] != image:
                raise RegistryError(
                    f"target {spec.name}: two different images for {platform} ({images[platform]} and {image}); "
                    "no tag was moved",
                    hint="each platform must be built exactly once per run",
                )
            images[platform] = image
    want, have = set(spec.platforms), set(images)
    if not want:  # no platforms set: the builder built its default one, whichever that is
        if not have or "unknown/unknown" in have:
            raise RegistryError(
                f"target {spec.name}: the pushed image does not say which platform it is; no tag was moved",
                hint="set platforms for the target or in [project] (a push without attestations names none)",
            )
    elif want != have:
        missing, extra = sorted(want - have), sorted(have - want)
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unplanned {', '.join(extra)}"] if extra else []
        raise RegistryError(
            f"target {spec.name}: pushed images do not match the plan ({'; '.join(parts)}); no tag was moved"
        )
    attestations = sum(len(indexes[d].attestations) for d in digests)
    return Collected(spec, tuple(digests), images, attestations, indexes)


def images_of(index: ImageIndex, planned: Sequence[str]) -> dict[str, str]:
    """platform → image digest. A single-platform push without attestations is a plain image manifest, which
    names no platform: the plan's one platform is what it was built for."""
    if not index.is_index and len(planned) == 1:
        return {planned[0]: index.digest}
    return index.platform_digests()


def _same_images(index: ImageIndex, images: Mapping[str, str]) -> bool:
    try:
        return images_of(index, tuple(images)) == dict(images)
    except RegistryError:
        return False
