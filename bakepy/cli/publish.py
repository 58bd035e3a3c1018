"""`bakepy publish`: build every platform by digest, then create every tag in every registry at once."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bakepy.cli.app import app
from bakepy.cli.options import (
    AllOpt,
    BuilderOpt,
    ChangedOpt,
    ContextOpt,
    ContextSourceOpt,
    FileOpt,
    ForceTagsOpt,
    JsonOpt,
    MetadataBakeOpt,
    NoCacheOpt,
    PullOpt,
    SetOpt,
    StrictOpt,
    TargetsArg,
    VarOpt,
    bake_options,
    chosen_builder,
    load_with_vars,
    print_warnings,
    with_metadata_bake,
)

if TYPE_CHECKING:
    from bakepy.model import Project


@app.command()
def publish(
    targets: TargetsArg = None,
    file: FileOpt = None,
    builder: BuilderOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan and every command that would run; push nothing."
        ),
    ] = False,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            metavar="DIR",
            help="Write the digest records here (default: .bakepy/records beside the project).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    set_: SetOpt = None,
    var: VarOpt = None,
    no_cache: NoCacheOpt = False,
    pull: PullOpt = False,
    progress: Annotated[
        str,
        typer.Option(
            "--progress",
            metavar="auto|plain",
            help="auto: a live view per target × platform on a terminal, state lines elsewhere; "
            "plain: buildx's own output, streamed.",
        ),
    ] = "auto",
    push: Annotated[
        bool | None,
        typer.Option(
            "--push/--no-push",
            help="--no-push builds every platform and pushes and tags nothing (the default for a pull "
            "request when the project has tag rules); --push publishes even then.",
        ),
    ] = None,
    context: ContextOpt = None,
    context_source: ContextSourceOpt = "auto",
    metadata_bake: MetadataBakeOpt = None,
    strict: StrictOpt = False,
    changed: ChangedOpt = False,
    everything: AllOpt = False,
    force_tags: ForceTagsOpt = False,
) -> None:
    """Build TARGETS for all their platforms, push by digest, then move every tag in every registry in one shot.

    No tag moves until every target and platform is in every registry; tags whose images did not change are left
    alone. Registry credentials come from the Docker credential store (`docker login`). With tag rules
    ([project.metadata]), tags, OCI labels and annotations come from the git/CI context (`bakepy tags` shows them).
    """
    from rich.console import Console

    from bakepy.cli.options import check_changed, force_tags_option

    force_tags_option(force_tags)
    from bakepy.engine.runner import Runner
    from bakepy.errors import ConfigError
    from bakepy.inputs import check_build_inputs, check_records_dir
    from bakepy.publish.run import WORKDIR, publish_project

    check_changed(changed, everything)
    if progress not in ("auto", "plain"):
        raise ConfigError(f"--progress {progress!r}: use auto or plain")
    started = time.monotonic()
    loaded = with_metadata_bake(load_with_vars(file, var, Path.cwd()), metadata_bake, var)
    print_warnings(loaded.project, strict)
    loaded, push = _in_context(loaded, targets, context, context_source, push)
    # before anything is built: where the records go, and what buildx will be asked to read
    if not dry_run:
        check_records_dir(records or loaded.path.parent / WORKDIR / "records")
    if push:  # the values first: a bad tag is a bad tag, Dockerfile or not (--no-push uses no tag)
        _plan_or_explain(loaded.project, targets or (), metadata_bake)
    check_build_inputs(loaded.project.resolved, loaded.path.parent, targets or ())
    log: list[str] = []
    chosen = chosen_builder(builder, loaded.project)
    passed = bake_options(set_, no_cache, pull)
    if as_json or dry_run or progress == "plain" or not push:
        runner = Runner(builder=chosen, log=log.append if as_json else None)
        runner.bake_options = passed
        report = publish_project(
            loaded.path,
            loaded.project,
            runner,
            targets=targets or (),
            dry_run=dry_run,
            records_dir=records,
            push=push,
            changed=changed,
            everything=everything,
        )
        durations: dict[tuple[str, str | None], float] = {}
    else:
        report, durations = _publish_with_progress(
            loaded, chosen, targets or (), records, passed, changed=changed, everything=everything
        )
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    elif not report.pushed:
        units = ", ".join(f"{t} {p or '(builder default)'}" for t, p in report.built)
        Console(highlight=False).print(f"built {units}; nothing was pushed or tagged", markup=False)
    elif report.plan is not None:  # --dry-run
        from bakepy.cli.render import print_plan

        print_plan(report.plan)
        Console(stderr=True, highlight=False).print("dry run: nothing was built or pushed")
    else:
        print_summary(report.published, seconds=time.monotonic() - started, durations=durations)


def _plan_or_explain(
    project: Project, targets: Sequence[str], metadata_bake: list[Path] | None
) -> None:
    """The publish plan's checks; a target with nowhere to publish because metadata-action's file had no tags
    is said to be that, with the way to build it anyway."""
    from bakepy.cli.options import untagged_metadata
    from bakepy.errors import ConfigError
    from bakepy.publish.plan import plan_publish

    try:
        plan_publish(project, targets)
    except ConfigError as exc:
        untagged = untagged_metadata(metadata_bake)
        if not untagged or not exc.message.endswith("publishes nowhere"):
            raise
        raise ConfigError(
            f"{exc.message}: {untagged[0]} has no tags (metadata-action made none for this event, e.g. a pull "
            "request with release rules only)",
            hint="build without pushing with --no-push (set push only for the events that tag)",
        ) from None


def _in_context(
    loaded: Any,
    targets: list[str] | None,
    context: list[str] | None,
    source: str,
    push: bool | None,
) -> tuple[Any, bool]:
    """The project as the git/CI context publishes it, and whether to push: not for a pull request (said on
    stderr), unless --push."""
    import dataclasses
    import sys

    from bakepy.cli.options import find_context, in_context, uses_metadata

    if not uses_metadata(loaded.project):
        in_context(loaded, targets, context, source)  # refuses --context without rules
        return loaded, push is not False
    found = find_context(loaded.path.parent, context, source)
    if push is None and found.event == "pr":
        sys.stderr.write(
            f"{found.describe()}: building every platform without pushing (--push to push anyway)\n"
        )
        push = False
    for note in found.notes:
        sys.stderr.write(f"note: {note}\n")
    project, _, _ = in_context(
        loaded, targets, context, source, need_tags=push is not False, context=found
    )
    return dataclasses.replace(loaded, project=project), push is not False


def _publish_with_progress(
    loaded: Any,
    builder: str | None,
    targets: list[str] | tuple[str, ...],
    records: Path | None,
    passed: Any,
    *,
    changed: bool = False,
    everything: bool = False,
) -> tuple[Any, dict[tuple[str, str | None], float]]:
    """publish_project under the live view (terminal) or state lines (CI); buildx's tail on a failed build."""
    from bakepy.cli.app import state
    from bakepy.cli.progress import ProgressView
    from bakepy.engine.runner import Runner
    from bakepy.errors import BuildError
    from bakepy.publish.build import observe
    from bakepy.publish.plan import plan_publish
    from bakepy.publish.run import publish_project, read_builder_in_background

    plan = plan_publish(loaded.project, targets)
    units = [(t.name, p) for t in plan.targets if not t.sources for p in (t.platforms or (None,))]
    view = ProgressView.for_units(units, None, debug=state.debug)
    runner = Runner(builder=builder, log=view.command)
    runner.bake_options = passed
    with view.shown(), observe(view.event):
        # The view's node and QEMU marks come from `buildx inspect`, read beside the work, never waited for.
        # --changed: only when something builds (a release with nothing changed starts no process)
        reading = None if changed else read_builder_in_background(runner)
        if reading is not None:
            reading.add_done_callback(
                lambda read: view.use_builder(read.result()) if not read.exception() else None
            )
        try:
            report = publish_project(
                loaded.path, loaded.project, runner, targets=targets, records_dir=records,
                echo=view.line, builder_read=reading, changed=changed, everything=everything,
            )  # fmt: skip
            return report, view.durations()
        except BuildError:
            tail = view.failure_tail()
            if tail:
                view.console.print("[dim]last lines of the build:[/]")
                for text in tail:
                    view.console.print(text, markup=False, highlight=False, soft_wrap=True)
            raise


def print_summary(
    published: Any,
    *,
    seconds: float | None = None,
    durations: dict[tuple[str, str | None], float] | None = None,
) -> None:
    """What was published (shared with `merge` and `assemble`): per target and registry the index and its
    platforms, then every reference on a line of its own — whole, never wrapped mid-word, so it can be copied
    and pulled — with what the run did to it."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="published", show_lines=False)
    for col in ("target", "registry", "index digest", "platforms"):
        table.add_column(col, overflow="fold")
    for p in published:
        target, registry, _, digest, platforms = p.summary_cells()
        if durations:  # build time per target × platform, from the live view
            platforms = [
                f"{shown} {durations[(p.target, plain)]:.1f}s"
                if (p.target, plain) in durations
                else shown
                for shown, plain in zip(
                    platforms, [*p.platforms, *[None] * len(platforms)], strict=False
                )
            ]
        table.add_row(target, registry, digest, ", ".join(platforms))
    console.print(table)
    width = max((len(t) for p in published for t in p.tags), default=0)
    for p in published:
        for tag in p.tags:
            console.print(f"{tag.ljust(width)}  {p.state(tag)}", markup=False, soft_wrap=True)
    if seconds is not None:
        moved = sum(len(p.moved) for p in published)
        console.print(f"{moved} tag(s) moved in {seconds:.1f} s", markup=False)
