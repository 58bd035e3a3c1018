"""`bakepy matrix`, `bakepy build`, `bakepy merge` and `bakepy ci github|gitlab`: building on native runners.

Thin commands over `bakepy.matrix` (plan → jobs), `bakepy.split` (one platform's build, the records merge) and
`bakepy.ci` (workflow text). Heavy modules are imported inside each command. In GitHub Actions, `matrix` also
writes `matrix=…` to `$GITHUB_OUTPUT`, and `build`/`merge` append a markdown table to `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from bakepy.cli.app import BakepySubGroup, app
from bakepy.cli.options import (
    AllOpt,
    BuilderOpt,
    ChangedOpt,
    FileOpt,
    ForceTagsOpt,
    JsonOpt,
    LoadOpt,
    NoCacheOpt,
    PullOpt,
    SetOpt,
    StrictOpt,
    TargetsArg,
    VarOpt,
    bake_options,
    chosen_builder,
    print_warnings,
)

if TYPE_CHECKING:
    from bakepy.ci.workflow import WorkflowSpec
    from bakepy.config import LoadedProject
    from bakepy.publish.changed import ChangeSet
    from bakepy.publish.plan import PublishPlan

RunnerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--runner",
        metavar="PLATFORM=LABEL",
        help="Runner label for a platform (or `default`), over [project] runners (repeatable), "
        "e.g. --runner linux/arm64=ubuntu-24.04-arm.",
    ),
]
RecordsOpt = Annotated[
    Path | None,
    typer.Option(
        "--records",
        metavar="DIR",
        help="The digest records folder (default: .bakepy/records beside the project).",
        file_okay=False,
    ),
]


def _runners(
    loaded: LoadedProject, overrides: list[str] | None, ci: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """([project] runners, then [ci.CI] runners, then the --runner overrides; the overrides alone)."""
    from bakepy.ci.matrix import parse_runner_overrides
    from bakepy.errors import ConfigError

    try:
        extra = parse_runner_overrides(overrides or [])
    except ValueError as exc:
        raise ConfigError(f"--runner: {exc}") from None
    system = loaded.project.ci.system(ci)
    per_ci = system.runners if system is not None else {}
    return {**loaded.project.resolved.settings.runners, **per_ci, **extra}, extra


def _append(variable: str, text: str) -> None:
    """Append to a file named by a CI variable (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) when it is set."""
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# -- matrix ---------------------------------------------------------------------------------------------
@app.command()
def matrix(
    targets: TargetsArg = None,
    file: FileOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="github|gitlab|json",
            help="github: {include: [...]} for strategy.matrix; gitlab: a parallel:matrix list; json.",
        ),
    ] = "json",
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="platform|target-platform",
            help="platform: one job per platform (all its targets in one bake); target-platform.",
        ),
    ] = "platform",
    runner: RunnerOpt = None,
    dotenv: Annotated[
        Path | None,
        typer.Option(
            "--dotenv",
            metavar="FILE",
            help="Also write BAKEPY_CONTEXT=… (the git/CI context, computed once) to this file, "
            "for GitLab's artifacts:reports:dotenv.",
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    changed: ChangedOpt = False,
    everything: AllOpt = False,
    reused_records: Annotated[
        Path | None,
        typer.Option(
            "--reused-records",
            metavar="DIR",
            help="With --changed: write the digest records of the targets not built here (their index copied "
            "by digest into every registry where it is missing), for the merge job.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Split the publish plan into CI build jobs: platform, runner label, targets, and whether QEMU is needed.

    A platform needs QEMU unless [project] runners names a runner for it (or the default runner is a hosted
    runner known to run it). In GitHub Actions (GITHUB_OUTPUT set) it also writes `matrix=…` there, and
    `context=…`: the git/CI context the tags come from, which the build and merge jobs read back from
    BAKEPY_CONTEXT so that every job of the run publishes one plan.
    """
    from bakepy.ci.matrix import (
        GITHUB_DEFAULT_RUNNER,
        By,
        matrix_entries,
        matrix_github,
        matrix_gitlab,
        matrix_json,
    )
    from bakepy.cli.options import check_changed
    from bakepy.config import load_project
    from bakepy.errors import ConfigError
    from bakepy.publish.plan import plan_publish

    check_changed(changed, everything)
    if fmt not in ("github", "gitlab", "json"):
        raise ConfigError(f"--format: {fmt!r} is not one of github, gitlab, json")
    if by not in ("platform", "target-platform"):
        raise ConfigError(f"--by: {by!r} is not one of platform, target-platform")
    import dataclasses

    from bakepy.cli.options import in_context, uses_metadata

    loaded = load_project(file, Path.cwd())
    project, found, _ = in_context(loaded, targets, None, need_tags=False)
    loaded = dataclasses.replace(loaded, project=project)
    plan = plan_publish(loaded.project, targets or (), untagged=uses_metadata(loaded.project))
    split = cast(By, by)
    ci = "github" if fmt == "github" else "gitlab" if fmt == "gitlab" else None
    runners, _ = _runners(loaded, runner, ci)
    fallback = GITHUB_DEFAULT_RUNNER if fmt == "github" else None
    context = json.dumps(found.to_json(), separators=(",", ":"), sort_keys=True) if found else ""
    changes = None
    if changed:
        plan, changes = _changed(loaded, plan, everything=everything, records=reused_records)
    if dotenv is not None:
        from bakepy.ci.matrix import changed_dotenv

        dotenv.parent.mkdir(parents=True, exist_ok=True)
        text = f"BAKEPY_CONTEXT={context}\n" if context else ""
        if changes is not None:
            text += changed_dotenv(plan)
        dotenv.write_text(text, encoding="utf-8")
    entries = matrix_entries(plan, runners, by=split, fallback_runner=fallback)
    if as_json or fmt == "json":
        data = matrix_json(plan, entries, split)
        if changes is not None:
            data["changes"] = changes.to_json()
        text = json.dumps(data, indent=2, sort_keys=True)
    elif fmt == "github":
        text = matrix_github(entries)
    else:
        text = matrix_gitlab(entries)
    sys.stdout.write(text + "\n")
    if os.environ.get("GITHUB_OUTPUT"):
        # What `strategy.matrix: ${{ fromJSON(…) }}` reads, whatever --format printed.
        github = matrix_entries(plan, runners, by=split, fallback_runner=GITHUB_DEFAULT_RUNNER)
        build = (
            "true" if github else "false"
        )  # an empty matrix is an error for GitHub: no build job then
        _append(
            "GITHUB_OUTPUT", f"matrix={matrix_github(github)}\ncontext={context}\nbuild={build}\n"
        )


def _changed(
    loaded: LoadedProject, plan: PublishPlan, *, everything: bool, records: Path | None
) -> tuple[PublishPlan, ChangeSet]:
    """`matrix --changed`: the plan without the unchanged targets (said on stderr, one line each); with
    `records`, their index placed in every registry and their digest records written there."""
    from bakepy.ci.split import target_fingerprints
    from bakepy.engine.runner import Runner
    from bakepy.publish.changed import describe, read_changes, reused_records, reused_sources
    from bakepy.publish.records import source_revision, write_records
    from bakepy.publish.run import specs_from_plan

    changes = read_changes(
        Runner(), plan, loaded.project, loaded.path.parent, everything=everything
    )
    for line in describe(changes):
        sys.stderr.write(f"changed: {line}\n")
    plan = changes.applied(plan)
    if records is not None and changes.reused:
        specs = specs_from_plan(plan, loaded.project)
        reused_sources(changes, specs)
        write_records(
            records,
            reused_records(
                changes,
                specs,
                target_fingerprints(loaded.project, plan),
                source_revision(loaded.path.parent),
            ),
        )
    return plan, changes


# -- build ----------------------------------------------------------------------------------------------
@app.command()
def build(
    targets: TargetsArg = None,
    file: FileOpt = None,
    builder: BuilderOpt = None,
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            metavar="PLATFORM",
            help="The one platform this runner builds, e.g. linux/arm64.",
        ),
    ] = "",
    push_by_digest: Annotated[
        bool,
        typer.Option(
            "--push-by-digest",
            help="Push the images by digest to every registry (no tag moves) and write digest records.",
        ),
    ] = False,
    records: RecordsOpt = None,
    set_: SetOpt = None,
    var: VarOpt = None,
    no_cache: NoCacheOpt = False,
    pull: PullOpt = False,
    load: LoadOpt = False,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
    fingerprint: Annotated[
        bool,
        typer.Option(
            "--fingerprint",
            help="With --push-by-digest: write each target's input fingerprint on its manifest, which "
            "`--changed` compares with later (docs/changed.md).",
        ),
    ] = False,
) -> None:
    """Build one platform of TARGETS in one bake (a CI runner's slice); with --push-by-digest, push and record.

    Writes one digest record per target for `bakepy merge`. Each target × platform uses its own cache scope
    ([project] cache), so runners never overwrite each other's cache.
    """
    from bakepy.ci.split import build_platform
    from bakepy.engine.runner import Runner
    from bakepy.errors import BuildError, ConfigError

    if not platform:
        raise ConfigError(
            "--platform is required: bakepy build builds one platform",
            hint="see `bakepy matrix` for the platforms",
        )
    if records is not None and not push_by_digest:
        raise ConfigError("--records needs --push-by-digest: only a push writes digest records")
    if load and push_by_digest:
        raise ConfigError(
            "--load and --push-by-digest: a pushed build is loaded from its registry, not built twice",
            hint="build with --load alone for a local image, or pull by digest after a push",
        )
    from bakepy.cli.options import contextual, load_with_vars

    loaded = contextual(load_with_vars(file, var, Path.cwd()), targets, need_tags=push_by_digest)
    print_warnings(loaded.project, strict)
    log: list[str] = []
    runner_ = Runner(
        builder=chosen_builder(builder, loaded.project), log=log.append if as_json else None
    )
    runner_.bake_options = bake_options(set_, no_cache, pull, load)
    if load and runner_.docker_daemon() is None:
        # buildx builds first and fails only at the export ("failed to copy to tar: ... closed pipe")
        raise BuildError(
            "--load loads the image into the local Docker daemon, and no Docker daemon answers; "
            "nothing was built",
            hint="start Docker (or set DOCKER_HOST), or drop --load; `bakepy render` then "
            "`docker buildx bake --set '*.output=type=docker,dest=image.tar'` writes a tarball instead",
        )
    report = build_platform(
        loaded.path,
        loaded.project,
        runner_,
        platform=platform,
        targets=targets or (),
        records_dir=records,
        push=push_by_digest,
        fingerprint=fingerprint,
    )
    if report.pushed:
        from bakepy.ci.summary import build_summary_markdown

        _append("GITHUB_STEP_SUMMARY", build_summary_markdown(report.platform, report.records))
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    console = _console()
    how = "under emulation (QEMU)" if report.emulated else "natively"
    if not report.pushed:
        console.print(
            f"built {', '.join(report.targets)} for {report.platform} {how}; nothing pushed"
        )
        return
    for record in report.records:
        console.print(
            f"{record.target} {record.platform} {record.digest} → {', '.join(record.repositories)}",
            markup=False,
        )
    console.print(
        f"built {len(report.records)} target(s) for {report.platform} {how}; "
        f"records in {report.paths[0].parent if report.paths else '-'}",
        markup=False,
    )
    if report.skipped:
        console.print(f"not built for {report.platform}: {', '.join(report.skipped)}", markup=False)


# -- merge ----------------------------------------------------------------------------------------------
def _summary_imports() -> None:
    """What `print_summary` imports (its table), done ahead while nothing else runs."""
    import rich.console
    import rich.table  # noqa: F401


@app.command()
def merge(
    targets: TargetsArg = None,
    file: FileOpt = None,
    builder: BuilderOpt = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            metavar="DIR",
            help="The folder holding every build's digest records, searched recursively "
            "(default: .bakepy/records beside the project).",
            file_okay=False,
        ),
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Publish what was built when a platform's record is missing (and say what is missing).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check the records and print the merge commands; move nothing."
        ),
    ] = False,
    as_json: JsonOpt = False,
    force_tags: ForceTagsOpt = False,
) -> None:
    """Merge the digest records of per-platform builds: one index per target, every tag in every registry.

    Refuses missing platforms (unless --allow-partial), duplicates, and records of another plan or revision;
    then moves every tag at once, or none (rolled back on failure), and verifies them through the registry.
    """
    if not dry_run:  # the sources' round trips overlap loading the project (`prefetch_sources`)
        from bakepy.publish.records import prefetch_sources

        prefetch_sources(records or (file.parent if file else Path.cwd()) / ".bakepy" / "records")
    from bakepy.ci.split import merge_project
    from bakepy.cli.options import contextual, force_tags_option

    force_tags_option(force_tags)
    from bakepy.cli.publish import print_summary
    from bakepy.config import load_project
    from bakepy.engine.runner import Runner
    from bakepy.publish.run import WORKDIR

    loaded = contextual(load_project(file, Path.cwd()), targets)
    log: list[str] = []
    runner_ = Runner(
        builder=chosen_builder(builder, loaded.project), log=log.append if as_json else None
    )
    if not as_json:  # the summary's imports, done while the merge waits to read its tags back
        runner_.idle.append(_summary_imports)
    report = merge_project(
        loaded.path,
        loaded.project,
        runner_,
        records_dir=records or loaded.path.parent / WORKDIR / "records",
        targets=targets or (),
        allow_partial=allow_partial,
        dry_run=dry_run,
    )
    if report.missing:
        from rich.markup import escape

        # Loud on purpose: these tags now hold fewer platforms than planned.
        verb = "would publish" if dry_run else "published"
        message = f"--allow-partial: {verb} without " + ", ".join(str(m) for m in report.missing)
        if report.skipped:
            message += f"; not published at all: {', '.join(report.skipped)}"
        _console(stderr=True).print(f"[bold yellow]warning:[/] {escape(message)}")
    if not dry_run:
        from bakepy.ci.summary import summary_markdown

        _append("GITHUB_STEP_SUMMARY", summary_markdown(report.published, report.missing))
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    elif dry_run:
        import shlex

        console = _console()
        console.print(
            f"[bold]dry run[/]: {report.records} record(s) match the plan; "
            "these commands would run (tags already holding these images are left alone):"
        )
        for argv in report.commands:
            console.print(shlex.join(argv), markup=False)
    else:
        print_summary(report.published)


# -- ci github / ci gitlab ------------------------------------------------------------------------------
ci_app = typer.Typer(
    cls=BakepySubGroup,
    name="ci",
    help="Generate a CI workflow that builds each platform on its own runner and merges once.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(ci_app, name="ci")

OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the workflow here instead of stdout.",
        dir_okay=False,
    ),
]
CheckOpt = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Write nothing; fail (exit 7) if the -o file differs from what would be generated.",
    ),
]
InstallOpt = Annotated[
    str | None,
    typer.Option(
        "--install",
        metavar="REQUIREMENT",
        help="The pip requirement the workflow installs bakepy with (default: this version, pinned).",
    ),
]


def _workflow_spec(
    ci: str,
    targets: list[str] | None,
    file: Path | None,
    runner: list[str] | None,
    install: str | None,
    output: Path | None,
    changed: bool = False,
) -> tuple[WorkflowSpec, Any, dict[str, str]]:
    from bakepy.ci.workflow import workflow_spec
    from bakepy.cli.options import contextual, uses_metadata
    from bakepy.config import load_project
    from bakepy.publish.plan import plan_publish

    loaded = contextual(load_project(file, Path.cwd()), targets, need_tags=False)
    plan = plan_publish(loaded.project, targets or (), untagged=uses_metadata(loaded.project))
    runners, given = _runners(loaded, runner, ci)
    spec = workflow_spec(
        loaded.project,
        plan,
        ci=ci,
        file=str(file) if file is not None else None,
        targets=targets or (),
        runners=given,
        install=install,
        output=str(output) if output is not None else None,
        changed=changed,
    )
    return spec, plan, runners


def _write(
    ci: str, text: str, output: Path | None, check: bool, spec: WorkflowSpec, as_json: bool
) -> None:
    from bakepy.errors import CheckFailedError

    changed: bool | None = None
    if check:
        assert output is not None  # set by the command
        path = output
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            command = " ".join(["bakepy", *spec.regenerate_args(ci), "-o", str(path)])
            raise CheckFailedError(
                f"{path} is {'missing' if current is None else 'out of date'}: the project changed "
                "since it was generated",
                hint=f"regenerate it: {command}" + (f" -f {spec.file}" if spec.file else ""),
            )
        changed = False
    elif output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        before = output.read_text(encoding="utf-8") if output.is_file() else None
        changed = before != text
        if changed:
            output.write_text(text, encoding="utf-8")
    if as_json:
        data = {
            "ci": ci,
            "path": str(output) if output else None,
            "changed": changed,
            "workflow": text,
        }
        print(json.dumps(data, indent=2, sort_keys=True))
    elif output is None and not check:
        sys.stdout.write(text)
    elif not check:
        _console(stderr=True).print(
            f"{'wrote' if changed else 'up to date:'} {output}", markup=False
        )
    if spec.cache is None and not check:
        from bakepy.ci.workflow import cache_hint

        _console(stderr=True).print(f"hint: {cache_hint(ci)}", markup=False)


CiChangedOpt = Annotated[
    bool,
    typer.Option(
        "--changed",
        help="Build only what changed (docs/changed.md): the plan job finds the changed targets once, "
        "the build jobs build only those, the merge job moves every tag, the unchanged ones included.",
    ),
]


@ci_app.command("github")
def ci_github(
    targets: TargetsArg = None,
    file: FileOpt = None,
    output: OutputOpt = None,
    runner: RunnerOpt = None,
    install: InstallOpt = None,
    check: CheckOpt = False,
    as_json: JsonOpt = False,
    changed: CiChangedOpt = False,
) -> None:
    """A GitHub Actions workflow: plan (bakepy matrix) → build per platform on its runner → merge.

    The matrix is computed when the workflow runs, so it stays valid when targets or platforms change.
    Registry logins use secrets by name (GHCR: the job's GITHUB_TOKEN); nothing secret is written.
    """
    from bakepy.ci.github import github_workflow
    from bakepy.ci.workflow import GITHUB_DEFAULT_OUTPUT

    if check and output is None:
        output = Path(GITHUB_DEFAULT_OUTPUT)  # what it was written to, as its header says
    spec, _, _ = _workflow_spec("github", targets, file, runner, install, output, changed=changed)
    _write("github", github_workflow(spec), output, check, spec, as_json)


@ci_app.command("gitlab")
def ci_gitlab(
    targets: TargetsArg = None,
    file: FileOpt = None,
    output: OutputOpt = None,
    runner: RunnerOpt = None,
    install: InstallOpt = None,
    check: CheckOpt = False,
    as_json: JsonOpt = False,
    changed: CiChangedOpt = False,
) -> None:
    """A GitLab CI pipeline: plan → one build job per platform (tagged with its runner) → merge.

    Build jobs are written out per platform; the pipeline's plan job fails when they no longer match.
    """
    from bakepy.ci.gitlab import gitlab_pipeline, gitlab_warnings
    from bakepy.ci.matrix import matrix_entries
    from bakepy.ci.workflow import GITLAB_DEFAULT_OUTPUT

    if check and output is None:
        output = Path(GITLAB_DEFAULT_OUTPUT)  # what it was written to, as its header says
    spec, plan, runners = _workflow_spec(
        "gitlab", targets, file, runner, install, output, changed=changed
    )
    entries = matrix_entries(plan, runners, by="platform")
    if not check:
        for warning in gitlab_warnings(spec, entries):
            _console(stderr=True).print(f"[bold yellow]warning:[/] {warning}", markup=True)
    _write("gitlab", gitlab_pipeline(spec, entries), output, check, spec, as_json)
