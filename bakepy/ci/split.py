"""The per-platform flow: each CI runner builds one platform by digest (`bakepy build`), one job merges (`bakepy merge`).

This module owns the two halves and what passes between them: digest records (bakepy.records), one per
(target, platform), and nothing else. A build renders only its platform's slice (`render_bake(platform=P,
publish=True)`: one bake, every selected target, that platform's cache scope so runners never overwrite each
other's cache, bake-action#329), pushes by digest to every registry, checks the push in every registry and writes
the records. A merge checks the records against the plan before anything moves:

* every planned (target, platform) has exactly one record: a missing platform is refused unless
  `allow_partial`, which publishes what was built and names what is missing; duplicates are refused;
* each record belongs to this plan (its fingerprint: the target's own one-target plan, or the whole plan when a
  `bakepy publish` wrote it) and to one source revision, the one being merged when that is known;

then runs the same transaction as `bakepy publish` (bakepy.publish: `collect_all` with one source per platform,
`merge_collected`: tags move all or none, rolled back on failure, verified through the registry). This is the
merge job users otherwise write with `bake --print | jq`, artifacts and a shell loop (buildx#2955: pushing a tag
once per runner leaves it holding whichever platform pushed last).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.engine.registry import write_timeout
from bakepy.engine.runner import Runner
from bakepy.errors import ConfigError, NothingToDoError, RegistryError
from bakepy.inputs import check_build_inputs, check_records_dir
from bakepy.model import Project
from bakepy.publish.merge import Staged
from bakepy.publish.plan import imagetools_create_argv
from bakepy.publish.records import (
    DigestRecord,
    read_record_files,
    records_folder,
    source_revision,
    write_records,
)
from bakepy.publish.run import (
    WORKDIR,
    before_commit_for,
    merge_collected,
    records_for,
    run_directory,
    signer_for,
    specs_from_plan,
    workdir,
)
from bakepy.publish.sources import Collected, TargetSpec, collect_all
from bakepy.publish.verify import Published
from bakepy.safefs import ensure_folder, write_atomic

if TYPE_CHECKING:
    from bakepy.model import ResolvedProject
    from bakepy.publish.plan import PublishPlan

__all__ = [
    "BuildReport",
    "MergeInput",
    "MergeReport",
    "Missing",
    "PlatformSlice",
    "accepted_fingerprints",
    "build_platform",
    "check_records",
    "match_records",
    "merge_commands",
    "merge_project",
    "merge_records",
    "platform_slice",
    "read_and_check",
    "target_fingerprints",
]


# -- build ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildReport:
    """What one `bakepy build --platform P` did."""

    platform: str
    targets: tuple[str, ...]
    skipped: tuple[str, ...]  # selected targets that do not build this platform
    records: tuple[DigestRecord, ...]
    paths: tuple[Path, ...]
    bake_file: Path
    emulated: bool
    pushed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "targets": list(self.targets),
            "skipped": list(self.skipped),
            "records": [r.to_json() for r in self.records],
            "paths": [str(p) for p in self.paths],
            "bake_file": str(self.bake_file),
            "emulated": self.emulated,
            "pushed": self.pushed,
        }


def target_fingerprints(project: Project | ResolvedProject, plan: PublishPlan) -> dict[str, str]:
    """Target → the fingerprint of its own one-target plan (platforms and tags): what a record carries.

    Per target rather than per run, so a merge of any selection can check each record against its target.
    """
    from bakepy.publish.plan import plan_publish

    resolved = project.resolved if isinstance(project, Project) else project
    return {tp.name: plan_publish(resolved, [tp.name]).fingerprint for tp in plan.targets}


@dataclass(frozen=True)
class PlatformSlice:
    """What one runner builds: the selected targets that have its platform, and those left to other runners."""

    platform: str  # normalised (`linux/aarch64` → `linux/arm64`)
    targets: tuple[str, ...]
    skipped: tuple[str, ...]  # selected targets that do not build this platform
    plan: PublishPlan  # the whole selection's plan (every platform)


def platform_slice(
    project: Project | ResolvedProject,
    platform: str,
    targets: Sequence[str] = (),
    *,
    untagged: bool = False,
) -> PlatformSlice:
    """The slice of the selection `bakepy build --platform P` builds; ConfigError / NothingToDoError if none.
    `untagged`: a build that pushes nothing also takes targets whose tag rules yield no tag here (a pull
    request)."""
    from bakepy.model import normalize_platform
    from bakepy.publish.plan import plan_publish

    try:
        platform = normalize_platform(platform)
    except ValueError as exc:
        raise ConfigError(f"--platform: {exc}") from None
    plan = plan_publish(project, targets, untagged=untagged)
    names = tuple(tp.name for tp in plan.targets if platform in tp.platforms)
    skipped = tuple(tp.name for tp in plan.targets if platform not in tp.platforms)
    if not names:
        raise NothingToDoError(
            f"no selected target builds for {platform}",
            hint="check the targets' platforms (bakepy plan) or the --platform value",
        )
    return PlatformSlice(platform, names, skipped, plan)


def build_platform(
    project_file: Path,
    project: Project,
    runner: Runner,
    *,
    platform: str,
    targets: Sequence[str] = (),
    records_dir: Path | None = None,
    push: bool = True,
    echo: Callable[[str], None] | None = None,
    fingerprint: bool = False,
) -> BuildReport:
    """Build one platform's slice of the selection in one bake; with `push`, by digest, and write its records.
    `fingerprint`: write each target's input fingerprint on its manifest (docs/changed.md), for `--changed`."""
    from bakepy.bake.render import dumps, render_bake
    from bakepy.ci.matrix import platform_slug
    from bakepy.publish.build import build_by_digest, run_bake  # here: `merge` needs none of it

    chosen = platform_slice(project, platform, targets, untagged=not push)
    platform, plan, names, skipped = chosen.platform, chosen.plan, chosen.targets, chosen.skipped
    project_dir = project_file.parent
    # before anything is built: what buildx will read, and where the records go
    check_build_inputs(project.resolved, project_dir, names)
    prints = None
    # before any folder of this run is made: the checkout as the plan job saw it
    if fingerprint and push:
        from bakepy.publish.changed import fingerprint_annotations

        prints = fingerprint_annotations(project, names, platform, project_dir)
    if push:
        check_records_dir(records_dir or project_dir / WORKDIR / "records")
        records_folder(
            records_dir or project_dir / WORKDIR / "records", consequence="nothing was built"
        )
    # One folder per platform: two runners sharing a checkout never overwrite each other's files.
    # A real folder, never a link, and the bake file replaced whole, never written through one (safefs).
    work = ensure_folder(
        workdir(project_dir) / f"build-{platform_slug(platform)}",
        below=project_dir,
        what="its run files",
        consequence="nothing was built",
    )
    rendered = render_bake(
        project, targets=names, platform=platform, publish=push, fingerprints=prints
    )
    bake_file = write_atomic(
        work,
        "docker-bake.json",
        dumps(rendered).encode(),
        what="the rendered bake file",
        consequence="nothing was built",
    )
    if not push:
        run_bake(
            runner,
            bake_file,
            names,
            cwd=project_dir,
            echo=echo,
            platform=platform,
            source=project.resolved.source,
        )
        return BuildReport(
            platform, tuple(names), skipped, (), (), bake_file, _emulated(runner, platform), False
        )

    digests = build_by_digest(
        runner,
        bake_file,
        names,
        cwd=project_dir,
        metadata_file=work / "metadata.json",
        echo=echo,
        platform=platform,
        source=project.resolved.source,
    )
    specs = [
        dataclasses.replace(spec, platforms=(platform,))
        for spec in specs_from_plan(plan, project)
        if spec.name in digests
    ]
    collected = collect_all(
        runner,
        [(spec, (digests[spec.name],)) for spec in specs],
        {digest: platform for digest in digests.values()},
    )
    fingerprints = target_fingerprints(project, plan)
    revision = source_revision(project_dir)
    records = [r for c in collected for r in records_for(c, fingerprints[c.spec.name], revision)]
    paths = write_records(records_dir or work.parent / "records", records)
    return BuildReport(
        platform,
        tuple(names),
        skipped,
        tuple(records),
        tuple(paths),
        bake_file,
        _emulated(runner, platform),
        True,
    )


def _emulated(runner: Runner, platform: str) -> bool:
    from bakepy.publish.build import emulated_platforms

    return platform in emulated_platforms(runner, [platform])


# -- merge: check the records ---------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Missing:
    target: str
    platform: str

    def __str__(self) -> str:
        return f"{self.target} {self.platform}"


@dataclass(frozen=True)
class MergeInput:
    """Records checked against the plan: what to merge, and what is missing (only with allow_partial)."""

    sources: tuple[
        tuple[TargetSpec, tuple[str, ...]], ...
    ]  # spec (platforms present) → source digests
    records: Mapping[str, tuple[DigestRecord, ...]]  # target → its records, platform order
    missing: tuple[Missing, ...] = ()
    skipped: tuple[str, ...] = ()  # targets with no record at all (allow_partial): not published
    ignored: tuple[Path, ...] = ()  # records of targets outside an explicit selection


def check_records(
    specs: Sequence[TargetSpec],
    found: Sequence[tuple[Path, DigestRecord]],
    *,
    fingerprints: Mapping[str, frozenset[str]],
    revision: str | None,
    allow_partial: bool = False,
    explicit: bool = False,
    where: str = "records",
) -> MergeInput:
    """Match records to the plan; ConfigError for anything that must not be merged (nothing has moved yet)."""
    if not found:
        raise NothingToDoError(
            f"{where}: no digest records to merge",
            hint="run `bakepy build --platform P --push-by-digest --records DIR` for each platform first",
        )
    _check_revisions(found, revision)
    by_name = {spec.name: spec for spec in specs}
    seen: dict[tuple[str, str], Path] = {}
    ignored: list[Path] = []
    for path, record in found:
        spec = by_name.get(record.target)
        if spec is None:
            if explicit:
                ignored.append(path)  # another merge's target: not ours to judge
                continue
            raise ConfigError(
                f"{path}: a record for target {record.target}, which this plan does not publish; "
                "no tag was moved",
                hint="merge the same targets the builds built, or remove records of other runs",
            )
        if record.fingerprint not in fingerprints.get(spec.name, frozenset()):
            raise ConfigError(
                f"{path}: {record.target} {record.platform} was built for another plan "
                f"(fingerprint {record.fingerprint}, this plan {_one(fingerprints[spec.name])}): "
                "its platforms or tags changed between build and merge; no tag was moved",
                hint="build again with the configuration and variables the merge uses",
            )
        if record.platform not in spec.platforms:
            raise ConfigError(
                f"{path}: {record.target} is not planned for {record.platform} "
                f"(planned: {', '.join(spec.platforms)}); no tag was moved"
            )
        absent = [r for r in spec.repositories if r not in record.repositories]
        if absent:
            raise ConfigError(
                f"{path}: {record.target} {record.platform} was not pushed to {', '.join(absent)}; "
                "no tag was moved",
                hint="build again with the registries the merge publishes to",
            )
        key = (record.target, record.platform)
        if key in seen:
            raise ConfigError(
                f"two records for {record.target} {record.platform}: {seen[key]} and {path}; "
                "no tag was moved",
                hint="each platform is built by exactly one job; remove the stale record",
            )
        seen[key] = path

    records: dict[str, list[DigestRecord]] = {}
    for _, record in found:
        if record.target in by_name:
            records.setdefault(record.target, []).append(record)
    missing = [Missing(s.name, p) for s in specs for p in s.platforms if (s.name, p) not in seen]
    if missing and not allow_partial:
        platforms = sorted({m.platform for m in missing})
        raise ConfigError(
            f"missing digest records for {_list(missing)}; no tag was moved",
            hint=f"the build job for {', '.join(platforms)} did not finish or its records did not arrive; "
            "run it again, or pass --allow-partial to publish only what was built",
        )
    sources: list[tuple[TargetSpec, tuple[str, ...]]] = []
    skipped: list[str] = []
    ordered: dict[str, tuple[DigestRecord, ...]] = {}
    for spec in specs:
        present = tuple(p for p in spec.platforms if (spec.name, p) in seen)
        if not present:
            skipped.append(spec.name)
            continue
        mine = sorted(records[spec.name], key=lambda r: spec.platforms.index(r.platform))
        ordered[spec.name] = tuple(mine)
        digests = tuple(
            dict.fromkeys(r.source for r in mine)
        )  # one build may hold several platforms
        sources.append((dataclasses.replace(spec, platforms=present), digests))
    if not sources:
        raise NothingToDoError(
            f"{where}: no record matches the selected targets ({', '.join(by_name)})",
            hint="merge the targets the builds built",
        )
    return MergeInput(tuple(sources), ordered, tuple(missing), tuple(skipped), tuple(ignored))


def _check_revisions(found: Sequence[tuple[Path, DigestRecord]], revision: str | None) -> None:
    revisions: dict[str | None, Path] = {}
    for path, record in found:
        revisions.setdefault(record.revision, path)
    if len(revisions) > 1:
        shown = ", ".join(f"{r or 'unknown'} ({p})" for r, p in revisions.items())
        raise ConfigError(
            f"records come from different source revisions: {shown}; no tag was moved",
            hint="merge the records of one commit; clear the records folder between runs",
        )
    (built,) = revisions
    if revision is not None and built is None:
        raise ConfigError(
            f"{next(iter(revisions.values()))}: revision: null, but this checkout is {revision}: the records "
            "cannot be shown to come from this commit; no tag was moved",
            hint="build where the revision is known (a git checkout, or BAKEPY_REVISION / GITHUB_SHA / "
            "CI_COMMIT_SHA set), then merge",
        )
    if revision is not None and built is not None and built != revision:
        raise ConfigError(
            f"records were built from revision {built}, but this checkout is {revision}; no tag was moved",
            hint="merge in the same commit the builds ran on (or set BAKEPY_REVISION to it)",
        )


def _one(values: frozenset[str]) -> str:
    return sorted(values)[0] if values else "none"


def _list(missing: Sequence[Missing]) -> str:
    return ", ".join(str(m) for m in missing)


def accepted_fingerprints(project: Project, plan: PublishPlan) -> dict[str, frozenset[str]]:
    """Target → the fingerprints a merge of `plan` accepts in its records: the target's own one-target plan's
    (what `bakepy build` stamps), and the whole plan's (what `bakepy publish --records` stamps)."""
    own = target_fingerprints(project, plan)
    return {name: frozenset({fp, plan.fingerprint}) for name, fp in own.items()}


# -- merge: move the tags -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MergeReport:
    published: tuple[Published, ...]
    missing: tuple[Missing, ...]
    skipped: tuple[str, ...]
    ignored: tuple[Path, ...]
    records: int
    commands: tuple[tuple[str, ...], ...] = ()  # what would run (dry run)

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def to_json(self) -> dict[str, Any]:
        return {
            "published": [p.to_json() for p in self.published],
            "missing": [{"target": m.target, "platform": m.platform} for m in self.missing],
            "skipped": list(self.skipped),
            "ignored": [str(p) for p in self.ignored],
            "records": self.records,
            "partial": self.partial,
            "commands": [list(c) for c in self.commands],
        }


def merge_commands(checked: MergeInput) -> list[tuple[str, ...]]:
    """What a merge runs per target when every tag moves (dry run): from one source, the tags of every registry
    in one call; from several, the index is first staged by digest in every registry (shown as `@INDEX`)."""
    out: list[tuple[str, ...]] = []
    for spec, digests in checked.sources:
        registries = [r for r in spec.registries() if spec.tags_in(r)]
        if not registries:
            continue
        first = spec.repository_in(registries[0])
        sources = tuple(f"{first}@{d}" for d in digests)
        tags = [t for r in registries for t in spec.tags_in(r)]
        if len(sources) == 1:
            out.append(imagetools_create_argv(tags, sources))
            continue
        annotations = tuple(sorted(spec.index_annotations.items()))
        staged = [f"{spec.repository_in(r)}@INDEX" for r in registries]
        out.append(imagetools_create_argv(staged, sources, annotations))
        out.append(imagetools_create_argv(tags, [f"{first}@INDEX"]))
    return out


def merge_records(
    runner: Runner,
    checked: MergeInput,
    before_commit: Callable[[Sequence[Staged]], None] | None = None,
    *,
    run: Path | None = None,
) -> list[Published]:
    """Check every source in every registry, compare with the records, then the publish transaction
    (`before_commit`: signing and the pushed-digest history, as in publish)."""
    platform_of = {r.source: r.platform for rs in checked.records.values() for r in rs}
    collected = collect_all(runner, checked.sources, platform_of)
    for c in collected:
        match_records(c, checked.records[c.spec.name])
    return merge_collected(runner, collected, before_commit=before_commit, run=run)


def match_records(collected: Collected, records: Sequence[DigestRecord]) -> None:
    """RegistryError unless each record's platform image is the one its source holds in the registry."""
    for record in records:
        found = collected.images.get(record.platform)
        if found != record.digest:
            raise RegistryError(
                f"target {record.target}: the record says {record.platform} is {record.digest}, but "
                f"{record.source} holds {found or 'no such platform'}; no tag was moved",
                hint="the record does not describe what was pushed; build that platform again",
            )


def read_and_check(
    project_file: Path,
    project: Project,
    *,
    records_dir: Path,
    targets: Sequence[str] = (),
    allow_partial: bool = False,
) -> MergeInput:
    """The first half of `bakepy merge`, before any registry is asked: plan, read the records, check them."""
    from bakepy.publish.plan import plan_publish

    plan = plan_publish(project, targets)
    specs = specs_from_plan(plan, project)
    unpublished = [s.name for s in specs if not s.tags]
    if unpublished:
        raise NothingToDoError(
            f"target {unpublished[0]} has no tags to publish",
            hint="set [project] registries and tags, or full references in the target's tags",
        )
    fingerprints = accepted_fingerprints(project, plan)
    found = read_record_files(records_dir)
    return check_records(
        specs,
        found,
        fingerprints=fingerprints,
        revision=source_revision(project_file.parent),
        allow_partial=allow_partial,
        explicit=bool(targets),
        where=str(records_dir),
    )


def merge_project(
    project_file: Path,
    project: Project,
    runner: Runner,
    *,
    records_dir: Path,
    targets: Sequence[str] = (),
    allow_partial: bool = False,
    dry_run: bool = False,
) -> MergeReport:
    """The whole `bakepy merge`: plan, read and check the records, then merge and verify (or print, dry run)."""
    checked = read_and_check(
        project_file,
        project,
        records_dir=records_dir,
        targets=targets,
        allow_partial=allow_partial,
    )
    count = sum(len(r) for r in checked.records.values())
    if dry_run:
        commands = tuple(merge_commands(checked))
        return MergeReport((), checked.missing, checked.skipped, checked.ignored, count, commands)
    write_timeout()  # a bad BAKEPY_REGISTRY_TIMEOUT fails before any registry is asked
    signer = signer_for(project, project_file.parent, runner)
    work = workdir(project_file.parent)
    # the journal follows the project (with -f too), not the current directory; a run killed mid-commit is
    # finished (`merge_collected`) before any tag is read or moved
    run = run_directory(work)
    published = merge_records(runner, checked, before_commit_for(work, runner, signer), run=run)
    return MergeReport(tuple(published), checked.missing, checked.skipped, checked.ignored, count)
