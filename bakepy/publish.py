"""Publishing: build every platform by digest, then move tags once, all or none, and verify through the registry.

The race this exists for (buildx#2955, #2959): pushing a tag once per platform lets the last push win. Here a build
pushes by digest only (no tag can move), and tags move only after every target and platform of the run is in every
registry (buildx#1089: bake exports are not transactional, so bakepy does the transaction). Steps:

1. `build_by_digest`: one `docker buildx bake` for all targets (one BuildKit session, shared cache).
2. `collect_all`: each pushed digest must exist in every registry, with exactly the planned platforms.
3. `decide`: per target and registry, the tags to move. A tag whose platform images already equal the new ones is
   left alone (provenance makes every rebuild a new index digest; leaving it keeps its digest and signatures).
4. `apply`: one `imagetools create` per target and registry, all of its tags at once, registries in parallel. If a
   step fails, tags already moved in this run are put back where they were.
5. `verify`: every tag read back from its registry: one index per target and registry, the planned platforms.

Merging digest records from separate builds (`bakepy merge`) enters at step 2 with several sources per target.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakepy.errors import BuildError, RegistryError
from bakepy.records import DigestRecord
from bakepy.registry import (
    ImageIndex,
    MergeStep,
    inspect_many,
    merge_all,
    repository_of,
    split_reference,
)
from bakepy.runner import Runner

WORKDIR = ".bakepy"


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


@dataclass(frozen=True)
class Decision:
    """What happens to the tags of one target in one registry."""

    target: str
    registry: str
    expected: Mapping[str, str]  # platform → image digest every tag must end up with
    attestations: int
    tags: tuple[str, ...]
    before: Mapping[str, str | None]  # tag → digest it pointed at before the run
    step: MergeStep | None  # None: every tag already holds these images
    unchanged: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    target: str
    registry: str
    tags: tuple[str, ...]
    digest: str
    platforms: tuple[str, ...]
    attestations: int
    moved: tuple[str, ...]
    unchanged: tuple[str, ...]
    emulated: tuple[str, ...] = ()

    def summary_cells(self) -> tuple[str, str, list[str], str, list[str]]:
        """What a summary shows (the terminal table and the CI job summary): target, registry, tag names
        (marked when left alone), the short index digest, platforms (marked when emulated) and attestations."""
        tags = [
            t.rsplit(":", 1)[-1] + ("" if t in self.moved else " (unchanged)") for t in self.tags
        ]
        platforms = [f"{x} (QEMU)" if x in self.emulated else x for x in self.platforms]
        if self.attestations:
            platforms.append(f"+{self.attestations} attestations")
        return self.target, self.registry, tags, self.digest.removeprefix("sha256:")[:12], platforms

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "registry": self.registry,
            "tags": list(self.tags),
            "digest": self.digest,
            "platforms": list(self.platforms),
            "attestations": self.attestations,
            "moved": list(self.moved),
            "unchanged": list(self.unchanged),
            "emulated": list(self.emulated),
        }


# -- 1. build -------------------------------------------------------------------------------------------
# A step line: `#12 [bad linux/arm64 2/2] RUN …`. Inside the brackets buildx names the bake target (only when it
# builds several), the platform (only when there are several), the Dockerfile stage and the step counter.
_STEP = re.compile(r"^#(\d+) \[(?P<labels>[^\]]*)\]")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9.]+)?$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (?P<message>.*)")
_TARGET_ERROR = re.compile(r"^ERROR: target (?P<target>[^:]+): (?P<message>.*)")


class BuildLog:
    """Follows `--progress plain` output to name the target and platform of a failure."""

    def __init__(self, echo: Callable[[str], None] | None, targets: Sequence[str] = ()) -> None:
        self.echo = echo
        self.targets = set(targets)
        self.only = targets[0] if len(targets) == 1 else "?"
        self.steps: dict[str, tuple[str, str | None]] = {}
        self.failures: list[tuple[str, str | None, str]] = []

    def __call__(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        if m := _STEP.match(line):
            labels = m.group("labels").split()
            target = labels[0] if labels and labels[0] in self.targets else self.only
            platform = next((x for x in labels if _PLATFORM.match(x)), None)
            self.steps.setdefault(m.group(1), (target, platform))
        elif m := _STEP_ERROR.match(line):
            target, platform = self.steps.get(m.group(1), (self.only, None))
            self.failures.append((target, platform, m.group("message")))
        elif (m := _TARGET_ERROR.match(line)) and not any(
            f[0] == m.group("target") for f in self.failures
        ):
            self.failures.append((m.group("target"), None, m.group("message")))

    def describe(self) -> str | None:
        if not self.failures:
            return None
        target, platform, message = self.failures[0]
        where = f"target {target}" + (f" for {platform}" if platform else "")
        more = f" (and {len(self.failures) - 1} more failure(s))" if len(self.failures) > 1 else ""
        what = "push" if self.push_failed else "build"
        return f"{what} of {where} failed: {message}{more}"

    @property
    def push_failed(self) -> bool:
        return bool(self.failures) and self.failures[0][2].startswith("failed to push")


def run_bake(
    runner: Runner,
    bake_file: Path,
    targets: Sequence[str],
    *,
    cwd: Path,
    metadata_file: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run one bake of a rendered file; a failure names the target and platform that failed."""
    if echo is None and runner.echo_output:
        echo = lambda line: runner.log("  " + line)  # noqa: E731
    log = BuildLog(echo, targets)
    try:
        runner.bake([bake_file], targets, metadata_file=metadata_file, cwd=cwd, on_line=log)
    except BuildError as exc:
        described = log.describe()
        hint = (
            "check that the registry is reachable and that you are logged in to it (docker login REGISTRY)"
            if log.push_failed
            else "fix the build and publish again"
        )
        raise BuildError(
            (described or exc.message) + "; no tag was created or moved",
            hint=hint + " (images already pushed by digest are harmless: no tag names them)",
            detail=exc.detail,
        ) from exc


def build_by_digest(
    runner: Runner,
    bake_file: Path,
    targets: Sequence[str],
    *,
    cwd: Path,
    metadata_file: Path,
    echo: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Run the one bake; return target → pushed digest (from `--metadata-file`)."""
    metadata_file.unlink(missing_ok=True)
    run_bake(runner, bake_file, targets, cwd=cwd, metadata_file=metadata_file, echo=echo)
    try:
        metadata = json.loads(metadata_file.read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{metadata_file}: buildx wrote no readable metadata ({exc})") from exc
    digests: dict[str, str] = {}
    for target in targets:
        digest = (metadata.get(target) or {}).get("containerimage.digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise BuildError(
                f"{metadata_file}: no containerimage.digest for target {target}; no tag was moved"
            )
        digests[target] = digest
    return digests


# -- 2. collect -----------------------------------------------------------------------------------------
def collect_all(
    runner: Runner,
    sources: Sequence[tuple[TargetSpec, Sequence[str]]],
    platform_of: Mapping[str, str] | None = None,
) -> list[Collected]:
    """Check every source digest exists in every registry its target publishes to, with the planned platforms.

    `platform_of` (pushed digest → the one platform its build pushed, from digest records) names the platform of
    plain image manifests, which do not name it themselves (pushes without attestations).
    """
    refs = [
        f"{spec.repository_in(registry)}@{digest}"
        for spec, digests in sources
        for registry in spec.registries()
        for digest in digests
    ]
    found = label_plain_manifests(inspect_many(runner, refs), platform_of or {})
    return [check_sources(spec, digests, found) for spec, digests in sources]


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


# -- 3. decide ------------------------------------------------------------------------------------------
def decide(collected: Collected, current: Mapping[str, ImageIndex | None]) -> list[Decision]:
    """Per registry: which tags move, from which sources, given what every tag points at now."""
    spec = collected.spec
    decisions = []
    for registry in spec.registries():
        tags = spec.tags_in(registry)
        if not tags:
            continue
        repo = spec.repository_in(registry)
        before = {tag: (idx.digest if (idx := current.get(tag)) else None) for tag in tags}
        same = [
            t
            for t in tags
            if (idx := current.get(t)) is not None and _same_images(idx, collected.images)
        ]
        if same:
            # Keep one index per target and registry: new tags copy an index already holding these images.
            keep = max(
                {before[t] for t in same}, key=lambda d: sum(1 for t in same if before[t] == d)
            )
            sources: tuple[str, ...] = (f"{repo}@{keep}",)
            annotations: tuple[tuple[str, str], ...] = ()
        else:
            keep = None
            sources = tuple(f"{repo}@{d}" for d in collected.digests)
            # One source is copied as is (it carries its annotations); a merge of several gets them again.
            annotations = tuple(sorted(spec.index_annotations.items())) if len(sources) > 1 else ()
        move = tuple(t for t in tags if keep is None or before[t] != keep)
        unchanged = tuple(t for t in tags if t not in move)
        step = MergeStep(spec.name, registry, move, sources, annotations) if move else None
        decisions.append(
            Decision(
                spec.name,
                registry,
                collected.images,
                collected.attestations,
                tags,
                before,
                step,
                unchanged,
            )
        )
    return decisions


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


# -- 4. apply -------------------------------------------------------------------------------------------
def apply(runner: Runner, decisions: Sequence[Decision]) -> None:
    steps = [d.step for d in decisions if d.step is not None]
    results = merge_all(runner, steps)
    failed = [(s, e) for s, e in results.items() if e is not None]
    if not failed:
        return
    restored, created = _roll_back(runner, decisions, {s for s, e in results.items() if e is None})
    step, error = failed[0]
    note = f"{len(restored)} tag(s) moved in this run were put back"
    if created:
        note += f"; new tags that no registry API can remove: {', '.join(created)}"
    raise RegistryError(
        f"merge of target {step.target} in {step.registry} failed: {error}; {note}",
        hint="fix the registry problem and publish again",
    ) from error


def _roll_back(
    runner: Runner, decisions: Sequence[Decision], done: set[MergeStep]
) -> tuple[list[str], list[str]]:
    restored: list[str] = []
    created: list[str] = []
    for decision in decisions:
        if decision.step is None or decision.step not in done:
            continue
        repo = repository_of(decision.step.sources[0])
        for tag in decision.step.tags:
            previous = decision.before.get(tag)
            if previous is None:
                created.append(tag)  # registries offer no way to delete a tag alone
                continue
            runner.imagetools_create([tag], [f"{repo}@{previous}"])
            restored.append(tag)
    return restored, created


# -- 5. verify ------------------------------------------------------------------------------------------
def verify(
    decisions: Sequence[Decision], after: Mapping[str, ImageIndex | None]
) -> list[Published]:
    """Every tag, as read back from its registry, holds exactly the planned images; one index per registry."""
    published = []
    for d in decisions:
        digests: dict[str, str] = {}
        for tag in d.tags:
            found = after.get(tag)
            if found is None:
                raise RegistryError(f"verify: {tag} does not exist after the merge")
            if not _same_images(found, d.expected):
                raise RegistryError(
                    f"verify: {tag} points at {found.digest} with {', '.join(found.platforms)}, "
                    f"not the planned {', '.join(sorted(d.expected))}"
                )
            if len(found.attestations) != d.attestations:
                raise RegistryError(
                    f"verify: {tag} has {len(found.attestations)} attestation manifest(s), expected {d.attestations}"
                )
            digests[tag] = found.digest
        if len(set(digests.values())) != 1:
            raise RegistryError(
                f"verify: tags of {d.target} in {d.registry} point at different indexes: {digests}"
            )
        published.append(
            Published(
                target=d.target,
                registry=d.registry,
                tags=d.tags,
                digest=next(iter(digests.values())),
                platforms=tuple(sorted(d.expected)),
                attestations=d.attestations,
                moved=d.step.tags if d.step else (),
                unchanged=d.unchanged,
            )
        )
    return published


def merge_collected(runner: Runner, collected: Sequence[Collected]) -> list[Published]:
    """Steps 3 to 5 for checked sources: read every tag, decide them all, move them, read them back."""
    tags = [t for c in collected for t in c.spec.tags]
    current = inspect_many(runner, tags)
    decisions = [d for c in collected for d in decide(c, current)]
    apply(runner, decisions)
    moved = [t for d in decisions if d.step is not None for t in d.step.tags]
    after = {**current, **inspect_many(runner, moved)}
    return verify(decisions, after)


def records_for(collected: Collected, fingerprint: str, revision: str | None) -> list[DigestRecord]:
    """One digest record per platform of a target built in one piece."""
    out = []
    for platform, image in sorted(collected.images.items()):
        source = next(
            d
            for d in collected.digests
            if platform in images_of(collected.indexes[d], collected.spec.platforms)
        )
        index = collected.indexes[source]
        out.append(
            DigestRecord(
                target=collected.spec.name,
                platform=platform,
                digest=image,
                source=source,
                media_type=index.media_type,
                size=index.size,
                repositories=collected.spec.repositories,
                fingerprint=fingerprint,
                revision=revision,
            )
        )
    return out


# -- the whole run --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishReport:
    published: tuple[Published, ...]
    records: tuple[Path, ...]
    bake_file: Path
    plan: Mapping[str, Any] | None = (
        None  # dry run: `bakepy plan --json`'s shape, with this run's paths
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "published": [p.to_json() for p in self.published],
            "records": [str(p) for p in self.records],
            "bake_file": str(self.bake_file),
            "plan": self.plan,
        }


def workdir(project_dir: Path) -> Path:
    """`.bakepy/` beside the project file: the rendered bake file, buildx metadata, digest records."""
    path = project_dir / WORKDIR
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by bakepy: nothing here belongs in version control\n*\n")
    return path


def emulated_platforms(runner: Runner, platforms: Sequence[str]) -> set[str]:
    """Which of `platforms` the active builder runs under emulation (for the summary; never fails a run)."""
    from bakepy.doctor import diagnose_platforms

    try:
        return {p.platform for p in diagnose_platforms(runner, platforms) if p.emulated}
    except Exception:  # a summary detail: a builder that cannot say is not an error
        return set()


def specs_from_plan(plan: Any, project: Any) -> list[TargetSpec]:
    """The plan's targets as publish needs them (index annotations: the target's `index:` ones)."""
    specs = []
    for tp in plan.targets:
        annotations = _index_annotations(project, tp.name)
        tags = tuple(t for reg in sorted(tp.tags_by_registry) for t in tp.tags_by_registry[reg])
        specs.append(
            TargetSpec(tp.name, tuple(tp.platforms), tuple(tp.repositories), tags, annotations)
        )
    return specs


def _index_annotations(project: Any, target: str) -> dict[str, str]:
    found = getattr(project, "targets", {}).get(target) if hasattr(project, "targets") else None
    out: dict[str, str] = {}
    for entry in getattr(found, "annotations", None) or ():
        key, _, value = str(entry).partition("=")
        if key.startswith("index:"):
            out[key] = value
    return out


def publish_project(
    project_file: Path,
    project: Any,
    runner: Runner,
    *,
    targets: Sequence[str] = (),
    dry_run: bool = False,
    records_dir: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> PublishReport:
    """Render, build by digest, merge, verify: the whole `bakepy publish` for a loaded project."""
    from bakepy.errors import NothingToDoError
    from bakepy.plan import plan_publish, plan_to_json
    from bakepy.records import source_revision, write_records
    from bakepy.render import dumps, render_bake

    plan = plan_publish(project, targets)
    specs = specs_from_plan(plan, project)
    if not specs:
        raise NothingToDoError(
            "nothing to publish: the selection has no target", hint="name a target or group"
        )
    unpublished = [s.name for s in specs if not s.tags]
    if unpublished:
        raise NothingToDoError(
            f"target {unpublished[0]} has no tags to publish",
            hint="set [project] registries and tags, or full references in the target's tags",
        )
    project_dir = project_file.parent
    work = workdir(project_dir)
    bake_file = work / "docker-bake.json"
    names = [s.name for s in specs]
    bake_file.write_text(dumps(render_bake(project, targets=names, publish=True)))
    if dry_run:
        metadata = str(work / "metadata.json")
        return PublishReport(
            (), (), bake_file, plan_to_json(plan, bake_file=str(bake_file), metadata_file=metadata)
        )

    with ThreadPoolExecutor(
        max_workers=1
    ) as pool:  # which platforms are emulated: asked while building
        emulation = pool.submit(
            emulated_platforms, runner, sorted({p for s in specs for p in s.platforms})
        )
        digests = build_by_digest(
            runner,
            bake_file,
            names,
            cwd=project_dir,
            metadata_file=work / "metadata.json",
            echo=echo,
        )
        emulated = emulation.result()
    collected = collect_all(runner, [(spec, [digests[spec.name]]) for spec in specs])
    revision = source_revision(project_dir)
    records = [r for c in collected for r in records_for(c, plan.fingerprint, revision)]
    written = write_records(records_dir or work / "records", records)
    published = merge_collected(runner, collected)
    published = [
        Published(**{**p.__dict__, "emulated": tuple(x for x in p.platforms if x in emulated)})
        for p in published
    ]
    return PublishReport(tuple(published), tuple(written), bake_file)
