"""`bakepy import`: turn existing bake files (HCL, JSON, compose) into bakepy.toml or a bakefile.py.

Thin: parses the options, asks `bakepy.importer` to resolve and convert (through the logging runner), prints
one warning line per thing that cannot be carried over exactly, and writes the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app
from bakepy.errors import ConfigError

FilesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Bake files, merged in order like `docker buildx bake -f` (HCL, JSON or compose; '-' reads stdin). "
        "Default: bake's own discovery in the current directory (compose.yaml, docker-bake.hcl, "
        "docker-bake.override.hcl, ...).",
        show_default=False,
    ),
]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def _variables(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values or ():
        name, eq, val = value.partition("=")
        if not eq or not name:
            raise ConfigError(f"--var {value!r}: expected NAME=VALUE", hint="e.g. --var TAG=1.2.3")
        out.append((name, val))
    return tuple(out)


@app.command("import")
def import_command(
    files: FilesArg = None,
    python: Annotated[
        bool,
        typer.Option(
            "--python",
            help="Write a Python bakefile.py (the public API) instead of bakepy.toml "
            "(also when -o names a .py file).",
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write; '-' for stdout. Default: bakepy.toml (bakefile.py with --python).",
        ),
    ] = None,
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--targets",
            "-t",
            metavar="TARGET",
            help="Import only these targets or groups (repeat or comma-separate; bake patterns like 'app-*' work). "
            "Default: every target and group.",
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="NAME=VALUE",
            help="Set a bake variable, NAME=VALUE (as `bake --var`; environment variables work too).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the output file if it exists.")
    ] = False,
) -> None:
    """Convert bake definitions into a bakepy project.

    buildx resolves them (`docker buildx bake --print`), so variables, functions, matrix, inherits and override
    files mean exactly what they mean to bake; `bakepy render` of the result prints the same with
    `docker buildx bake --print`. What bakepy cannot express is printed as a warning and kept as a comment.
    """
    from rich.console import Console
    from rich.markup import escape

    from bakepy.bake import importer
    from bakepy.engine.runner import Runner

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    cwd = Path.cwd()
    destination = output or ("bakefile.py" if python else "bakepy.toml")
    out_path = None if destination == "-" else Path(destination)
    if out_path is not None:
        python = python or out_path.suffix == ".py"
        if out_path.is_dir():
            raise ConfigError(
                f"{destination} is a directory", hint="give -o a file name, e.g. -o bakepy.toml"
            )
        if not out_path.parent.is_dir():
            raise ConfigError(
                f"{destination}: no directory {out_path.parent}", hint="create it first"
            )
        if out_path.exists() and not force:
            raise ConfigError(
                f"{destination} already exists",
                hint="pass --force to overwrite it, or -o to write elsewhere",
            )
    names = tuple(files or ())
    for name in names:
        if name != "-" and not (cwd / name).is_file():
            raise ConfigError(
                f"{name}: no such file",
                hint="pass the bake files to import, or none to let bake find them",
            )
    source = importer.BakeSource(
        files=names,
        variables=_variables(var),
        targets=_split(targets),
        stdin=sys.stdin.buffer.read() if "-" in names else None,
        cwd=cwd,
    )
    # bake adds SOURCE_DATE_EPOCH to every target's args when it is set; it belongs to the build, not the project.
    runner = Runner(env={"SOURCE_DATE_EPOCH": ""} if os.environ.get("SOURCE_DATE_EPOCH") else None)
    project = importer.import_bake(source, runner)
    if out_path is not None and out_path.parent.resolve() != cwd.resolve():
        project = importer.with_remark(
            project,
            f"Relative paths (context, contexts, secrets, outputs) are relative to {cwd}, where bake ran; "
            "run bakepy from there.",
        )
    toml = importer.to_toml(project)
    _check_loads(toml, project.sources)
    if (
        python
    ):  # the bake files as the import read them: variables bake computes with stay live as Python
        text, project = importer.python_form(project, texts=importer.source_texts(source))
    else:
        text = toml
    for note in project.notes:
        err.print(f"[yellow]warning:[/] {escape(str(note))}")
    if out_path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        where = "stdout"
    else:
        out_path.write_text(text, encoding="utf-8")
        where = destination
    counts = [
        _count(len(project.targets), "target"),
        _count(len(project.groups), "group"),
        _count(len(project.variables), "variable"),
    ]
    warned = f"; {_count(len(project.notes), 'warning')}" if project.notes else ""
    err.print(f"wrote {escape(where)}: {', '.join(counts)}{warned}")


def _check_loads(toml: str, sources: Sequence[str]) -> None:
    """Refuse, before anything is written, an import (`toml`, of bake files `sources`) bakepy would refuse to
    load: a value bake prints but buildx cannot build with either (a tag made empty by an unset variable, a
    named build network)."""
    from bakepy.config import load_toml

    try:
        load_toml(toml, source=f"{', '.join(sources) or 'the bake files'} (as imported)", env={})
    except ConfigError as exc:
        raise ConfigError(
            exc.message,
            hint=exc.hint
            or "fix the value in the bake file, or set the variable it comes from (NAME=… bakepy import), "
            "and import again",
        ) from None


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
