"""The whole `bakepy publish`: render, build by digest, collect, merge, verify.

The race this exists for (buildx#2955, #2959): pushing a tag once per platform lets the last push win. Here a build
pushes by digest only (no tag can move), and tags move only after every target and platform of the run is in every
registry. Steps, each in its own module:

1. `build`: one `docker buildx bake` for all targets (one BuildKit session, shared cache); one per platform on a
   builder with several nodes, whose own index assembly would push a tag.
2. `sources`: each pushed digest must exist in every registry, with exactly the planned platforms.
3. `merge.decide`: per target, the one index every tag will hold, and the tags to move.
4. `merge.transact`: the index staged by digest in every registry, then every tag of every registry moved to it
   (a manifest PUT per tag, or one `imagetools create` per target where credentials are needed); any failure puts
   back what moved (read back, never trusting exit codes).
5. `verify`: every tag read back from its registry (inside the transaction: a failure here puts tags back).

Merging digest records from separate builds (`bakepy merge`) enters at step 2 with several sources per target."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.engine.access import require_push_access
from bakepy.engine.registry import write_timeout
from bakepy.engine.runner import Runner
from bakepy.engine.transport import session
from bakepy.publish.index import ImageIndex, split_reference
from bakepy.publish.merge import Staged, decide, transact
from bakepy.publish.records import DigestRecord
from bakepy.publish.sources import Collected, TargetSpec, collect_all, images_of
from bakepy.publish.verify import Published, verify
from bakepy.safefs import check_free, create_exclusive, ensure_folder, file_error

if TYPE_CHECKING:
    from bakepy.doctor import BuilderInfo
    from bakepy.engine.cosign import Cosign
    from bakepy.model import Project
    from bakepy.publish.assemble import Assembly
    from bakepy.publish.plan import PublishPlan

WORKDIR = ".bakepy"


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
    pushed: bool = True
    """False for a build without pushing (`--no-push`, a pull request): nothing left the builder."""
    built: tuple[tuple[str, str | None], ...] = ()
    """Target x platform built without pushing."""

    def to_json(self) -> dict[str, Any]:
        return {
            "published": [p.to_json() for p in self.published],
            "records": [str(p) for p in self.records],
            "bake_file": str(self.bake_file),
            "plan": self.plan,
            "pushed": self.pushed,
            "built": [{"target": t, "platform": p} for t, p in self.built],
        }


_BEFORE_BUILD = "nothing was built and no tag was moved"


def workdir(project_dir: Path) -> Path:
    """`.bakepy/` beside the project file: the rendered bake file, buildx metadata, digest records.

    bakepy's own folder: a link there (or a file) is refused, never followed (`safefs.ensure_folder`), and a
    full or read-only file system is said here, before anything is built (`safefs.check_free`), not by the
    first write after a build."""
    path = ensure_folder(
        project_dir / WORKDIR, below=project_dir, what="its run files", consequence=_BEFORE_BUILD
    )
    check_free(path, what="its run files", consequence=_BEFORE_BUILD)
    create_exclusive(
        path,
        ".gitignore",
        b"# written by bakepy: nothing here belongs in version control\n*\n",
        what="the folder's .gitignore",
        exist_ok=True,
        consequence=_BEFORE_BUILD,
    )
    return path


def run_directory(
    work: Path,
    *,
    keep_seconds: float = 86400.0,
    keep: Callable[[Path], bool] | None = None,
) -> Path:
    """A fresh `.bakepy/runs/<time>-<pid>-<random>/` for this run's files (made exclusively, mode 0700: nothing
    can be planted in it beforehand). Run folders older than `keep_seconds` are pruned, except those `keep`
    says to keep (by default, one holding a journal: an unfinished run's roll back needs it). Anything in
    `runs/` that is not a real folder (a link) is left alone, never followed."""
    runs = ensure_folder(
        work / "runs", below=work, what="its run folders", consequence=_BEFORE_BUILD
    )
    keeper = keep or _holds_journal
    now = time.time()
    with contextlib.suppress(OSError):
        for old in runs.iterdir():
            with contextlib.suppress(OSError):
                info = old.lstat()
                old_enough = now - info.st_mtime > keep_seconds
                if stat.S_ISDIR(info.st_mode) and old_enough and not keeper(old):
                    shutil.rmtree(old, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    try:
        return Path(tempfile.mkdtemp(prefix=f"{stamp}-{os.getpid()}-", dir=runs))
    except OSError as exc:
        raise file_error(
            exc,
            runs / f"{stamp}-{os.getpid()}-…",
            "this run's folder",
            verb="make",
            consequence=_BEFORE_BUILD,
        ) from None


def _holds_journal(run: Path) -> bool:
    """Whether a run folder holds a journal (`journal*`): kept however old, for `bakepy recover`."""
    try:
        return any(p.name.startswith("journal") for p in run.iterdir())
    except OSError:
        return True  # unreadable: not ours to remove


def build_per_platform(
    runner: Runner,
    project: Project,
    specs: Sequence[TargetSpec],
    run: Path,
    *,
    cwd: Path,
    echo: Callable[[str], None] | None = None,
    fingerprints: Mapping[str, Mapping[str | None, str]] | None = None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """One bake per platform, side by side, for builders with several nodes.

    With several nodes buildx builds each platform on its node and then assembles the index itself, pushing it
    under the output name (`:latest` for a repository-only name) even with push-by-digest (buildx up to v0.36,
    see buildx PR #4058): a tag bakepy did not plan, moved mid-build. A bake of one platform runs on one node,
    which pushes by digest only; bakepy's merge then makes the index. Returns target → pushed digests (one per
    platform) and digest → platform.
    """
    from bakepy.bake.render import dumps, render_bake
    from bakepy.ci.matrix import platform_slug
    from bakepy.publish.build import build_by_digest  # here: `merge` needs none of it

    platforms = list(dict.fromkeys(p for s in specs for p in s.platforms))
    jobs: list[tuple[str | None, list[str], Path]] = []
    for platform in platforms:
        names = [s.name for s in specs if platform in s.platforms]
        file = run / f"docker-bake-{platform_slug(platform)}.json"
        file.write_text(
            dumps(
                render_bake(
                    project,
                    targets=names,
                    platform=platform,
                    publish=True,
                    fingerprints=fingerprints,
                )
            )
        )
        jobs.append((platform, names, file))
    default = [s.name for s in specs if not s.platforms]
    if default:  # the builder's default platform: one node
        file = run / "docker-bake-default.json"
        file.write_text(
            dumps(render_bake(project, targets=default, publish=True, fingerprints=fingerprints))
        )
        jobs.append((None, default, file))

    def bake(job: tuple[str | None, list[str], Path]) -> dict[str, str]:
        platform, names, file = job
        slug = platform_slug(platform) if platform else "default"
        return build_by_digest(
            runner,
            file,
            names,
            cwd=cwd,
            metadata_file=run / f"metadata-{slug}.json",
            echo=echo,
            platform=platform,
            source=project.resolved.source,
        )

    sources: dict[str, list[str]] = {}
    platform_of: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(bake, job) for job in jobs]
        failures = [e for f in futures if (e := f.exception()) is not None]
        if failures:
            raise failures[0]
        for job, future in zip(jobs, futures, strict=True):
            for name, digest in future.result().items():
                sources.setdefault(name, []).append(digest)
                if job[0] is not None:
                    platform_of[digest] = job[0]
    return sources, platform_of


def _assemblies(runner: Runner, plan: PublishPlan, specs: Sequence[TargetSpec]) -> list[Assembly]:
    """Targets made of images already pushed (`sources`): read, checked and copied by digest, side by side."""
    from bakepy.publish.assemble import SourceSpec, prepare

    wanted = [
        (spec, [SourceSpec.from_plan(s) for s in plan.target(spec.name).sources])
        for spec in specs
        if plan.target(spec.name).sources
    ]
    if not wanted:
        return []
    with ThreadPoolExecutor(max_workers=min(4, len(wanted))) as pool:
        return list(pool.map(lambda w: prepare(runner, *w), wanted))


def specs_from_plan(plan: PublishPlan, project: Project) -> list[TargetSpec]:
    """The plan's targets as publish needs them (index annotations: the resolved target's `index:` ones, so
    matrix targets and annotations from the git context are included)."""
    specs = []
    for tp in plan.targets:
        annotations = _index_annotations(project, tp.name)
        tags = tuple(t for reg in sorted(tp.tags_by_registry) for t in tp.tags_by_registry[reg])
        specs.append(
            TargetSpec(tp.name, tuple(tp.platforms), tuple(tp.repositories), tags, annotations)
        )
    return specs


def _index_annotations(project: Project, target: str) -> dict[str, str]:
    found = project.resolved.targets.get(target)
    out: dict[str, str] = {}
    for entry in getattr(found, "annotations", None) or ():
        key, _, value = str(entry).partition("=")
        if key.startswith("index:"):
            out[key] = value
    return out


def read_builder_in_background(runner: Runner) -> Future[BuilderInfo | None]:
    """`docker buildx inspect` of the runner's builder (`doctor.active_builder`) in a thread of its own.

    The read costs ~0.2 s of process start. Nothing waits for it unless it needs it: the build starts at once
    where buildx's own store gives the node count (`Runner.stored_builder`), the live view adds its node and QEMU
    marks when the read is done, and the report's emulated platforms are taken after the build. Its error, if
    any, is raised where its result is first needed."""
    from bakepy.doctor import active_builder  # imported here, on the calling thread

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bakepy-builder")
    reading = pool.submit(active_builder, runner)
    pool.shutdown(wait=False)  # that one read still runs to its end
    return reading


def publish_project(
    project_file: Path,
    project: Project,
    runner: Runner,
    *,
    targets: Sequence[str] = (),
    dry_run: bool = False,
    records_dir: Path | None = None,
    echo: Callable[[str], None] | None = None,
    push: bool = True,
    builder_read: Future[BuilderInfo | None] | None = None,
    changed: bool = False,
    everything: bool = False,
) -> PublishReport:
    """Render, build by digest, merge, verify: the whole `bakepy publish` for a loaded project. Without
    `push`, build every platform of every selected target and move nothing (`build_without_push`). `builder_read`:
    the caller's read of the builder, under way (`read_builder_in_background`), else one is started here.
    `changed` (`--changed`, docs/changed.md): build only the targets whose inputs' fingerprint changed (all of
    them with `everything`), write the fingerprints as annotations, and merge the others from the index their
    tags hold now, in the same transaction."""
    from bakepy.bake.render import dumps, render_bake
    from bakepy.errors import NothingToDoError
    from bakepy.publish.build import BuildEvent, build_by_digest, notify
    from bakepy.publish.plan import plan_publish, plan_to_json
    from bakepy.publish.records import source_revision, write_records

    if not push:
        return build_without_push(project_file, project, runner, targets=targets, echo=echo)
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
    prints: dict[str, dict[str | None, str]] | None = None
    changes = None
    if changed:
        import sys

        from bakepy.publish.changed import describe, read_changes, with_fingerprints

        changes = read_changes(
            runner,
            plan,
            project,
            project_dir,
            everything=everything,
            records_dir=records_dir or work / "records",
        )
        plan = changes.applied(plan)
        specs = with_fingerprints(specs, changes)
        prints = changes.annotations()
        for line in describe(changes):
            sys.stderr.write(f"changed: {line}\n")
        for change in changes.reused:  # the live view's rows: not built
            for f in change.fingerprints:
                notify(BuildEvent(change.name, f.platform, "reused"))
    names = [s.name for s in specs if s.name in plan.built or not changed]
    if dry_run:
        bake_file = work / "docker-bake.json"
        bake_file.write_text(
            dumps(render_bake(project, targets=names, publish=True, fingerprints=prints))
        )
        metadata = str(work / "metadata.json")
        return PublishReport(
            (),
            (),
            bake_file,
            plan_to_json(
                plan,
                bake_file=str(bake_file),
                metadata_file=metadata,
                builder=runner.builder,
                passed=runner.bake_options.args(),
            ),
        )
    runner.docker_path()  # no docker CLI: say how to get it before anything else
    write_timeout()  # a bad BAKEPY_REGISTRY_TIMEOUT fails here, before anything is built
    reading = builder_read
    if (
        reading is None and plan.built
    ):  # read while the registries answer (`--changed`: only to build)
        reading = read_builder_in_background(runner)
    # a registry that does not answer, or wants a login nobody did, fails in seconds, not after the build
    require_push_access(
        ["/".join(split_reference(r)[:2]) for s in specs for r in s.repositories]
    )  # and, where the registry can say without a write, a login that may not push
    signer = signer_for(
        project, project_dir, runner
    )  # cosign and its keys, checked before the build
    from bakepy.publish.journal import finish_earlier

    finish_earlier(
        runner, work / "runs"
    )  # a run killed mid-commit is finished before anything is built
    run = run_directory(work)  # per run: two publishes at once never share a bake or metadata file
    assemblies = _assemblies(runner, plan, specs)  # sources read and checked before anything builds
    built = [s for s in specs if s.name in plan.built]
    bake_file = run / "docker-bake.json"
    if built:
        bake_file.write_text(
            dumps(
                render_bake(
                    project, targets=[s.name for s in built], publish=True, fingerprints=prints
                )
            )
        )
    platforms = sorted({p for s in built for p in s.platforms})
    sources: dict[str, list[str]] = {}
    platform_of: dict[str, str] = {}
    emulated: set[str] = set()
    if built:
        # How many nodes decides how to build: buildx's store says in microseconds; only where it cannot does the
        # build wait for `buildx inspect`, which otherwise runs beside it (for the report's emulated platforms).
        stored = runner.stored_builder()
        assert reading is not None  # started above whenever something builds
        builder = reading.result() if stored is None else None
        nodes = len(builder.nodes) if builder is not None else len(stored.nodes) if stored else 1
        if len(platforms) > 1 and nodes > 1:
            sources, platform_of = build_per_platform(
                runner, project, built, run, cwd=project_dir, echo=echo, fingerprints=prints
            )
        else:
            digests = build_by_digest(
                runner,
                bake_file,
                [s.name for s in built],
                cwd=project_dir,
                metadata_file=run / "metadata.json",
                echo=echo,
                source=project.resolved.source,
            )
            sources = {n: [d] for n, d in digests.items()}
        builder = reading.result()
        emulated = builder.emulated(platforms) if builder is not None else set()
    # a one-platform push without attestations is a plain manifest that names no platform: the plan does
    platform_of.update(
        {d: s.platforms[0] for s in built if len(s.platforms) == 1 for d in sources[s.name]}
    )
    pairs = [(s, sources[s.name]) for s in built]
    pairs += [(a.spec, list(a.digests)) for a in assemblies]
    if changes is not None:
        # unchanged: the index their tags hold, in every registry, merged with the rest in one transaction
        from bakepy.publish.changed import reused_sources

        pairs += reused_sources(changes, specs)
    for a in assemblies:
        platform_of.update(a.platform_of)
    annotated = {d for a in assemblies for d in a.annotated}
    notify(BuildEvent("", None, "built"))
    collected = collect_all(runner, pairs, platform_of, annotated)
    revision = source_revision(project_dir)
    records = [r for c in collected for r in records_for(c, plan.fingerprint, revision)]
    written = write_records(records_dir or work / "records", records)
    notify(BuildEvent("", None, "merging"))
    published = merge_collected(
        runner, collected, run=run, before_commit=before_commit_for(work, runner, signer)
    )
    published = [
        Published(**{**p.__dict__, "emulated": tuple(x for x in p.platforms if x in emulated)})
        for p in published
    ]
    return PublishReport(tuple(published), tuple(written), bake_file)


def build_without_push(
    project_file: Path,
    project: Project,
    runner: Runner,
    *,
    targets: Sequence[str] = (),
    echo: Callable[[str], None] | None = None,
) -> PublishReport:
    """One bake of every platform of the selected published targets with a cache-only output: everything is
    built (a pull request's check), nothing is pushed, loaded or tagged. Like `bakepy build --platform` without
    `--push-by-digest` (ci/split.py), but every platform at once; tags are not needed, so a context whose rules
    yield none (a pull request with only release rules) still builds."""
    from bakepy.bake.render import dumps, render_bake
    from bakepy.errors import NothingToDoError
    from bakepy.model import normalize_platform
    from bakepy.publish.build import run_bake

    resolved = project.resolved
    names = [
        n
        for n in resolved.select(targets)
        if resolved.targets[n].publishes and not resolved.targets[n].assembled
    ]
    if not names:
        raise NothingToDoError("nothing to build: the selection has no published target built here")
    resolved.check(names)
    bake = render_bake(project, targets=names, publish=False)
    for name in names:
        body = bake["target"][name]
        body.pop("tags", None)
        body["output"] = [
            "type=cacheonly"
        ]  # nothing leaves the builder, whatever the target's outputs
    run = run_directory(workdir(project_file.parent))
    bake_file = run / "docker-bake.json"
    bake_file.write_text(dumps(bake))
    run_bake(runner, bake_file, names, cwd=project_file.parent, echo=echo)
    built = tuple(
        (n, normalize_platform(p) if p else None)
        for n in names
        for p in (resolved.targets[n].platforms or (None,))
    )
    return PublishReport((), (), bake_file, pushed=False, built=built)


def signer_for(project: Project, project_dir: Path, runner: Runner) -> Cosign | None:
    """The project's cosign (`[project.sign]`), checked (cosign installed, key files there), or None."""
    settings = project.settings.sign
    if settings is None:
        return None
    from bakepy.engine.cosign import Cosign

    signer = Cosign(settings, project_dir, log=runner.log)
    signer.check()
    return signer


def before_commit_for(
    work: Path, runner: Runner, signer: Cosign | None
) -> Callable[[Sequence[Staged]], None]:
    """What runs between staging and the first tag move: the staged and source digests appended to the
    project's history (`bakepy gc` reads it; recorded before any tag names them, so gc's grace covers a
    publish under way), then, with `[project.sign]`, every staged index signed and verified."""

    def hook(staged: Sequence[Staged]) -> None:
        from bakepy.publish.gc import record_pushed

        record_pushed(
            work,
            [
                (d.repository, digest)
                for s in staged
                for d in s.merge.decisions
                for digest in (s.digest, *s.merge.collected.digests)
            ],
        )
        if signer is not None:
            from bakepy.publish.sign import sign_staged

            runner.log(sign_staged(signer, staged).describe())

    return hook


def merge_collected(
    runner: Runner,
    collected: Sequence[Collected],
    *,
    run: Path | None = None,
    force: bool | None = None,
    before_commit: Callable[[Sequence[Staged]], None] | None = None,
) -> list[Published]:
    """Stages 3 to 5 for checked sources: read every tag, decide, stage every index by digest, move every tag
    in one call per target, read them back; any failure after a tag may have moved puts back what moved.

    `run`: this run's folder, where the commit's journal goes (default: a new run folder under `.bakepy/` of
    the current directory, where `bakepy merge` and `assemble` run). First of all, an earlier run's journal
    left unfinished there (killed mid-commit) is finished: its roll back, or its commit if every move landed;
    one that still cannot be finished stops this run before it reads or moves anything. A tag read as absent
    counts as absent only once confirmed (`read_current`). `force` (default: `BAKEPY_FORCE_TAGS`, what
    `--force-tags` sets): overwrite a tag another run moved during this one, and say so.

    No docker process runs here where the registries take anonymous writes (the tag moves are PUTs), so
    python-on-whales is imported only when one is needed (~0.25 s of CPU otherwise spent for nothing)."""
    import sys

    from bakepy.publish.journal import finish_earlier
    from bakepy.publish.merge import Ledger, race_check, read_current, read_settled

    if run is None:
        run = run_directory(workdir(Path.cwd()))
    finish_earlier(runner, run.parent, skip=[run])  # a run killed mid-commit: finished first
    known: dict[str, ImageIndex] = {d: i for c in collected for d, i in c.indexes.items()}
    tags = [t for c in collected for t in c.spec.tags]
    current = read_current(runner, tags, known)
    known.update({i.digest: i for i in current.values() if i is not None})
    merges = [decide(c, current) for c in collected]
    ledger = Ledger()

    def read_back(staged: Sequence[Staged]) -> list[Published]:
        every = {s.digest: s.index for s in staged}
        # each tag read once a PUT of another run still on its way has landed (`settle_pause` after its move)
        after = read_settled(
            runner, ledger, [t for s in staged for t in s.merge.collected.spec.tags], every
        )
        # a tag holding another index now: another run moved it after this run's move
        race_check(
            runner,
            staged,
            {t: (i.digest if i else None) for t, i in after.items()},
            when="after this run's own move (read back after the commit)",
        )
        return verify(staged, after)

    published: list[Published] = transact(
        runner, merges, known, verify=read_back, journal_dir=run, force=force, ledger=ledger,
        before_commit=before_commit,
    )  # fmt: skip
    for tag, before, now in ledger.forced:
        sys.stderr.write(
            f"warning: {tag} was moved to {now or 'nothing'} by someone else during this run (it held "
            f"{before or 'nothing'} when this run read it); overwritten, as --force-tags says\n"
        )
    runner.log(session().stats.describe())
    return published
