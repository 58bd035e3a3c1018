"""`bakepy render`, `bakepy plan` and `bakepy schema`: the model, printed.

Thin commands over `bakepy.config`, `bakepy.render`, `bakepy.plan` and `bakepy.schema`, which are
imported inside each command so `bakepy --help` and `--version` never load pydantic.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app
from bakepy.cli.options import (
    AllOpt,
    BuilderOpt,
    ChangedOpt,
    ContextOpt,
    ContextSourceOpt,
    FileOpt,
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
    contextual,
    load_with_vars,
    print_warnings,
    with_metadata_bake,
)

PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        metavar="PLATFORM",
        help="Keep only this platform of each target (one runner's slice), e.g. linux/arm64.",
    ),
]


@app.command()
def render(
    targets: TargetsArg = None,
    file: FileOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the bake file here instead of stdout.",
            dir_okay=False,
        ),
    ] = None,
    platform: PlatformOpt = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Render what a publish builds: tags dropped, one push-by-digest output.",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="TARGET.ATTRIBUTE=VALUE",
            help="Write a `docker buildx bake --set` override into the file (repeatable), e.g. "
            "'*.args.VERSION=1.2', 'app.platform=linux/arm64', 'app.tags+=example.com/app:dev'.",
        ),
    ] = None,
    var: VarOpt = None,
    metadata_bake: MetadataBakeOpt = None,
    strict: StrictOpt = False,
) -> None:
    """Render the project as a docker-bake.json that `docker buildx bake -f FILE` builds as is."""
    from bakepy.bake.overrides import apply_sets
    from bakepy.bake.render import dumps, render_bake
    from bakepy.errors import ConfigError
    from bakepy.inputs import check_output_file

    to_file = output is not None and str(output) != "-"
    if output is not None and to_file:
        check_output_file(
            output, "--output"
        )  # before anything: a typo'd folder is not a render failure
    import os

    from bakepy.ci.running import on_ci

    loaded = with_metadata_bake(load_with_vars(file, var), metadata_bake, var)
    print_warnings(loaded.project, strict)
    # on GitHub Actions / GitLab CI, [ci.github] / [ci.gitlab] cache, as `bakepy build` uses it there
    project = on_ci(loaded.project, os.environ)
    bake = render_bake(project, targets=targets or None, platform=platform, publish=publish)
    text = dumps(apply_sets(bake, set_ or ()))
    if output is None or not to_file:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
    shadowing = shadowing_warning(output)
    if shadowing:
        sys.stderr.write(f"warning: {shadowing}\n")


def shadowing_warning(output: Path) -> str | None:
    """The warning for a rendered file that plain `docker buildx bake` reads together with other bake files
    beside it (an imported docker-bake.hcl next to the rendered docker-bake.json), or None.

    Without -f, bake reads every one of its default files that exists, in its order, a later one overriding an
    earlier one: the original a file was imported from would still be built, and would win over the render.
    """
    from bakepy.bake.render import DEFAULT_BAKE_FILES

    if output.name not in DEFAULT_BAKE_FILES:
        return None  # plain `docker buildx bake` does not read it: only `-f FILE` does
    position = DEFAULT_BAKE_FILES.index(output.name)
    others = [
        name
        for name in DEFAULT_BAKE_FILES
        if name != output.name and (output.parent / name).is_file()
    ]
    if not others:
        return None
    named = ", ".join(str(output.parent / name) for name in others)
    # bake merges its files in its order, a later file's values winning over an earlier one's
    later = [str(output.parent / n) for n in others if DEFAULT_BAKE_FILES.index(n) > position]
    wins = f"the values of {', '.join(later)} win" if later else "the render's values win"
    return (
        f"{output}: plain `docker buildx bake` here also reads {named} and merges them ({wins}); move "
        f"{named} away or build with `docker buildx bake -f {output}`"
    )


@app.command()
def plan(
    targets: TargetsArg = None,
    file: FileOpt = None,
    json_output: JsonOpt = False,
    platforms: Annotated[
        list[str] | None,
        typer.Option(
            "--platform", metavar="PLATFORM", help="Plan only these platforms (repeatable)."
        ),
    ] = None,
    context: ContextOpt = None,
    context_source: ContextSourceOpt = "auto",
    var: VarOpt = None,
    builder: BuilderOpt = None,
    set_: SetOpt = None,
    no_cache: NoCacheOpt = False,
    pull: PullOpt = False,
    metadata_bake: MetadataBakeOpt = None,
    strict: StrictOpt = False,
    changed: ChangedOpt = False,
    everything: AllOpt = False,
) -> None:
    """Show what a publish would do: targets x platforms x tags x registries, and every command it runs.

    With tag rules ([project.metadata]) the tags are those of the git/CI context (`--context` previews another).
    Give it the options you give `bakepy publish` (--builder, --set, --no-cache, --pull, --metadata-bake) and
    its commands are the ones that publish runs. With --changed it reads the registries and says, per target,
    why it builds (which input changed) or which tag's platform manifests it keeps.
    """
    from bakepy.cli.options import check_changed
    from bakepy.publish.plan import plan_publish, plan_to_json

    check_changed(changed, everything)
    loaded = with_metadata_bake(load_with_vars(file, var), metadata_bake, var)
    print_warnings(loaded.project, strict)
    loaded = contextual(loaded, targets, context, context_source)
    passed = bake_options(set_, no_cache, pull)
    publish_plan = plan_publish(loaded.project, targets or (), platforms or None)
    changes = None
    if changed:
        from bakepy.engine.runner import Runner
        from bakepy.publish.changed import read_changes

        runner = Runner(builder=chosen_builder(builder, loaded.project))
        changes = read_changes(
            runner, publish_plan, loaded.project, loaded.path.parent, everything=everything
        )
        publish_plan = changes.applied(publish_plan)
    data = plan_to_json(
        publish_plan, builder=chosen_builder(builder, loaded.project), passed=passed.args()
    )
    if changes is not None:
        data["changes"] = changes.to_json()
    if json_output:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    print_plan(data)
    if changes is not None:
        from rich.console import Console

        from bakepy.publish.changed import describe

        console = Console(highlight=False, soft_wrap=True)
        for line in describe(changes):
            console.print(line, markup=False)


def print_plan(data: Mapping[str, object]) -> None:
    from rich.console import Console

    from bakepy.cli.tables import print_reference_table

    console = Console(highlight=False, soft_wrap=True)
    rows: list[list[str]] = []
    targets = data["targets"]
    assert isinstance(targets, list)
    for target in targets:
        platforms = ", ".join(target["platforms"]) or "(builder default)"
        for i, (registry, tags) in enumerate(target["tags"].items()):
            rows.append(
                [
                    target["name"] if i == 0 else "",
                    platforms if i == 0 else "",
                    registry,
                    "\n".join(tags),
                ]
            )
    # the tags whole, each on its own line where the table cannot hold them (they are what people copy)
    print_reference_table(
        console,
        ("target", "platforms", "registry", "tags"),
        rows,
        reference=3,
        title=f"Publish plan {data['fingerprint']}",
        title_justify="left",
        references_first=False,
    )
    commands = data["commands"]
    assert isinstance(commands, list)
    console.print("Commands:", style="bold")
    for command in commands:
        console.print("  " + _command_line(command), markup=False)


def _command_line(command: Mapping[str, object]) -> str:
    """One step of the plan as a line: the command it runs, or (a step bakepy does itself, with no command, such
    as assembling a target from its `sources` through the registry API) a shell comment saying what it does."""
    argv = command.get("argv")
    if isinstance(argv, list):
        import shlex

        return shlex.join(str(a) for a in argv)
    if command.get("step") == "assemble":
        sources = command.get("sources")
        listed = " ".join(str(s) for s in sources) if isinstance(sources, list) else ""
        return (
            f"# assemble {command.get('target')}: read and check {listed}, "
            "copy them by digest and stage their index (registry API, no command)"
        )
    if command.get("step") == "reuse":
        return (
            f"# reuse {command.get('target')}: unchanged, not built; its new tags hold the platform manifests of "
            f"{command.get('source')} (copied by digest where missing, registry API, no command)"
        )
    return "# " + " ".join(f"{key}={value}" for key, value in sorted(command.items()))


@app.command()
def schema() -> None:
    """Print the JSON schema of bakepy.toml (also shipped as bakepy/bakepy.schema.json)."""
    from bakepy.schema import dumps_schema

    sys.stdout.write(dumps_schema())
