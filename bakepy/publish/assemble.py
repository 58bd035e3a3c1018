"""`bakepy assemble`: one multi-platform index from images already pushed (the Amazon ECR way), in one transaction.

Each architecture was built on its own host and pushed under its own tag (`hello:amd64`, `hello:arm64`). This
module reads every source (by tag or digest, in any repository or registry), learns its platform from its image
config (or, for an index, from its descriptors; its attestation manifests come along), refuses a source whose
config contradicts the platform it is given for unless the user says so explicitly (`docker manifest annotate`'s
job), refuses two sources for one platform — and only then copies the sources by digest into the target's
repositories (no tag names them) and runs the same transaction as `bakepy publish`: stage the index by digest,
move every tag of every registry at once, read back, put back on any failure.

`docker manifest` cannot take index sources ("is a manifest list"), cannot cross registries, makes one tag per
run and accepts one architecture twice; `imagetools create` alone checks nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bakepy.engine import registry
from bakepy.engine.runner import Runner
from bakepy.errors import ConfigError, RegistryError
from bakepy.publish.index import ImageIndex, repository_of
from bakepy.publish.sources import TargetSpec, collect_all
from bakepy.publish.verify import Published


@dataclass(frozen=True)
class SourceSpec:
    """One platform's image as the user names it."""

    ref: str  # by tag or digest, anywhere
    platform: str | None = None  # the platform it is given for; None: read it from the image
    annotate: bool = (
        False  # the user's platform wins over the image config (`docker manifest annotate`)
    )

    @classmethod
    def from_plan(cls, text: str) -> SourceSpec:
        """A plan's spelling: `!PLATFORM=REF` for an annotated source (a target's `annotate`)."""
        return cls.parse(text[1:], annotate=True) if text.startswith("!") else cls.parse(text)

    @classmethod
    def parse(cls, text: str, *, annotate: bool = False) -> SourceSpec:
        """`REF` or `PLATFORM=REF` (a platform has no `:` or `@`, so a reference is never mistaken for one)."""
        head, sep, rest = text.partition("=")
        if sep and "/" in head and ":" not in head and "@" not in head:
            from bakepy.model import normalize_platform

            try:
                normalize_platform(head.strip())
            except ValueError as exc:
                raise ConfigError(f"source {text!r}: {exc}") from None
            return cls(rest.strip(), head.strip(), annotate)
        if annotate:
            raise ConfigError(
                f"--annotate {text!r}: say which platform to label it with: PLATFORM=REF"
            )
        return cls(text.strip())


@dataclass(frozen=True)
class ResolvedSource:
    spec: SourceSpec
    index: ImageIndex  # what the reference points at (a digest now: tags may move)
    platforms: tuple[str, ...]  # the platforms it brings
    annotated: str | None = None  # the config's platform, when the user's label overrides it

    @property
    def digest_ref(self) -> str:
        return f"{repository_of(self.spec.ref)}@{self.index.digest}"


def _same(a: str, b: str) -> bool:
    from bakepy.model import normalize_platform

    try:
        return normalize_platform(a) == normalize_platform(b)
    except ValueError:
        return a == b


def _way_forward(spec: SourceSpec, index: ImageIndex) -> str:
    """`--annotate PLATFORM=repo@sha256:…` of the image inside `index` to relabel: the one of `spec.platform`
    when the index has it, else its only image, else every image (the user picks). bakepy reads a child manifest
    by digest like any other source; the index's attestations stay behind with the index."""
    repo = repository_of(spec.ref)
    images = index.images
    wanted = [
        m for m in images if m.platform and spec.platform and _same(m.platform, spec.platform)
    ]
    chosen = wanted[:1] or images
    if len(chosen) == 1:
        return f"--annotate {spec.platform}={repo}@{chosen[0].digest}"
    listed = ", ".join(f"{m.platform or 'unknown/unknown'} {repo}@{m.digest}" for m in chosen)
    return f"--annotate {spec.platform}=REF with REF one of: {listed}"


def resolve_sources(runner: Runner, specs: Sequence[SourceSpec]) -> list[ResolvedSource]:
    """Read every source and its platform; refuse contradictions and duplicates (bad input: ConfigError, exit 2;
    a source the registry does not give is a RegistryError, exit 5). Nothing is pushed here."""
    if not specs:
        raise ConfigError("assemble: no source given", hint="name one image per platform: REF ...")

    def one(spec: SourceSpec) -> ResolvedSource:
        found = registry.inspect(runner, spec.ref)
        if found is None:
            raise RegistryError(
                f"source {spec.ref} does not exist; no tag was moved",
                hint="check the reference, and `docker login` for its registry",
            )
        if found.is_index:
            platforms = found.platforms
            if spec.annotate:
                raise ConfigError(
                    f"--annotate {spec.platform}={spec.ref}: {spec.ref} is an index "
                    f"({', '.join(platforms)}), and only a single image can be relabelled: pass its image "
                    f"manifest instead, {_way_forward(spec, found)}"
                )
            if spec.platform is not None and (
                len(platforms) != 1 or not _same(platforms[0], spec.platform)
            ):
                raise ConfigError(
                    f"source {spec.ref} is given for {spec.platform}, but it is an index of "
                    f"{', '.join(platforms)}; no tag was moved",
                    hint=f"if its image really is {spec.platform}, relabel that image: "
                    f"{_way_forward(spec, found)}",
                )
            return ResolvedSource(spec, found, platforms)
        config = registry.config_platform(runner, f"{repository_of(spec.ref)}@{found.digest}")
        if spec.platform is None:
            if config is None:
                raise ConfigError(
                    f"source {spec.ref}: its image config names no platform; no tag was moved",
                    hint=f"give it as PLATFORM={spec.ref}",
                )
            return ResolvedSource(spec, found, (config,))
        if config is not None and not _same(config, spec.platform):
            if not spec.annotate:
                raise ConfigError(
                    f"source {spec.ref} is given for {spec.platform}, but its image config says "
                    f"{config}; no tag was moved",
                    hint=f"if it really is {spec.platform} (a cross-build that recorded the wrong "
                    f"platform), say so: --annotate {spec.platform}={spec.ref}",
                )
            return ResolvedSource(spec, found, (spec.platform,), annotated=config)
        return ResolvedSource(spec, found, (spec.platform,))

    with ThreadPoolExecutor(max_workers=min(8, len(specs))) as pool:
        resolved = list(pool.map(one, specs))
    seen: dict[str, str] = {}
    for source in resolved:
        for platform in source.platforms:
            key = next((p for p in seen if _same(p, platform)), platform)
            if key in seen:
                raise ConfigError(
                    f"two sources for {platform}: {seen[key]} and {source.spec.ref}; no tag was moved",
                    hint="give exactly one image per platform",
                )
            seen[key] = source.spec.ref
    return resolved


def copy_sources(runner: Runner, spec: TargetSpec, sources: Sequence[ResolvedSource]) -> None:
    """Each source by digest in every repository of the target (no tag names it), as it is (a carbon copy:
    a single image stays a single image), skipped where it is already there: through the registry client
    (a mount or a download and upload per missing blob), through `imagetools create` only where the client
    cannot log in."""
    jobs = [(source, repo) for source in sources for repo in spec.repositories]

    def one(job: tuple[ResolvedSource, str]) -> None:
        source, repo = job
        try:
            registry.copy(source.digest_ref, repo)
        except registry.NoAnswer:
            registry.count_fallback("imagetools create")
            runner.imagetools_create(
                [f"{repo}@{source.index.digest}"], [source.digest_ref], prefer_index=False
            )

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(jobs)))) as pool:
        list(pool.map(one, jobs))


@dataclass(frozen=True)
class Assembly:
    """A target ready to merge from images already pushed: its sources, copied by digest into its repositories."""

    spec: TargetSpec  # with the sources' platforms
    digests: tuple[str, ...]
    platform_of: Mapping[str, str]  # plain image manifest digest → the platform it is published as
    annotated: frozenset[str]  # digests labelled by the user against their config


def prepare(runner: Runner, spec: TargetSpec, specs: Sequence[SourceSpec]) -> Assembly:
    """Read and check every source (refusing before anything is pushed), then copy them by digest."""
    sources = resolve_sources(runner, specs)
    platforms = tuple(p for s in sources for p in s.platforms)
    spec = dataclasses.replace(spec, platforms=platforms)
    copy_sources(runner, spec, sources)
    return Assembly(
        spec,
        tuple(s.index.digest for s in sources),
        {s.index.digest: s.platforms[0] for s in sources if not s.index.is_index},
        frozenset(s.index.digest for s in sources if s.annotated is not None),
    )


def assemble(runner: Runner, spec: TargetSpec, specs: Sequence[SourceSpec]) -> list[Published]:
    """The whole assembly of one target: read and check every source, copy by digest, then the transaction."""
    from bakepy.publish.run import merge_collected

    ready = prepare(runner, spec, specs)
    (collected,) = collect_all(
        runner, [(ready.spec, ready.digests)], ready.platform_of, ready.annotated
    )
    return merge_collected(runner, [collected])
