"""`bakepy builder create|inspect|rm`: the project's `[builder]`, one buildx node per platform."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from bakepy.cli.app import BakepySubGroup, app
from bakepy.cli.options import FileOpt

builder_app = typer.Typer(
    cls=BakepySubGroup,
    help="Make, show or remove the project's [builder]: one buildx node per platform, QEMU only for the rest.",
    no_args_is_help=True,
)
app.add_typer(builder_app, name="builder")

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the buildx commands; run nothing.")
]


def _settings(file: Path | None) -> Any:
    from bakepy.config import load_project
    from bakepy.errors import ConfigError

    loaded = load_project(file, Path.cwd())
    if loaded.project.builder is None:
        raise ConfigError(
            f"{loaded.path.name}: no [builder] table",
            hint='add [builder] nodes = { "linux/amd64" = "unix:///…", "linux/arm64" = "tcp://arm:1234" }',
        )
    return loaded.project.builder


def _run(argvs: list[list[str]], dry_run: bool) -> None:
    from bakepy.engine.runner import Runner
    from bakepy.errors import ConfigError

    if dry_run:
        for argv in argvs:
            typer.echo(shlex.join(["docker", *argv]))
        return
    runner = Runner()
    for argv in argvs:
        runner.run(argv, what=shlex.join(["docker", *argv[:2]]), error=ConfigError)


def _exists(runner: Any, name: str) -> bool:
    """Whether buildx knows a builder of that name: `buildx inspect NAME` asks that one alone (`buildx ls`
    would contact every builder and can hang on a stale one)."""
    from bakepy.errors import ConfigError

    try:
        runner.inspect_builder(name)
    except ConfigError:  # `no builder "NAME" found`
        return False
    return True


@builder_app.command()
def create(file: FileOpt = None, dry_run: DryRunOpt = False) -> None:
    """Create the builder from [builder] (replacing one of the same name), then start every node."""
    from bakepy.builders import create_commands, inspect_command
    from bakepy.engine.runner import Runner

    settings = _settings(file)
    if not dry_run and _exists(Runner(), settings.name):
        from bakepy.builders import remove_command

        _run([remove_command(settings)], False)
    _run([*create_commands(settings), inspect_command(settings)], dry_run)
    if not dry_run:
        inspect(file)


@builder_app.command()
def inspect(file: FileOpt = None) -> None:
    """Each node with its endpoint and platforms, and for each node's platform whether it runs natively."""
    from rich.console import Console
    from rich.table import Table

    from bakepy.builders import node_name
    from bakepy.doctor import diagnose_platforms
    from bakepy.engine.runner import Runner

    settings = _settings(file)
    runner = Runner(builder=settings.name)
    table = Table(title=f"builder {settings.name}")
    for column in ("platform", "node", "endpoint", "runs"):
        table.add_column(column, overflow="fold")
    for info in diagnose_platforms(runner, list(settings.nodes)):
        planned = node_name(info.platform)
        where = info.node or "-"
        runs = (
            "emulated (QEMU)"
            if info.emulated
            else ("native" if info.available else "not supported")
        )
        if where != planned:
            runs += f" — expected node {planned}"
        table.add_row(info.platform, where, settings.nodes[info.platform], runs)
    Console(highlight=False).print(table)


@builder_app.command("rm")
def remove(file: FileOpt = None, dry_run: DryRunOpt = False) -> None:
    """Remove the builder (the BuildKit daemons it points at keep running)."""
    from bakepy.builders import remove_command

    _run([remove_command(_settings(file))], dry_run)
