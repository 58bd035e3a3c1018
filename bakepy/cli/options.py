"""Options shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="The project file (bakepy.toml, pyproject.toml or a Python module). "
        "Default: bakepy.toml, then pyproject.toml [tool.bakepy], then bakefile.py in the current directory.",
        dir_okay=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
BuilderOpt = Annotated[
    str | None,
    typer.Option(
        "--builder",
        help="The buildx builder to use. Default: buildx's own choice (BUILDX_BUILDER, then the current one).",
    ),
]
TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Targets or groups to act on. Default: the `default` group, else every target."
    ),
]


def chosen_builder(builder: str | None, project: object | None) -> str | None:
    """--builder, else BUILDX_BUILDER (buildx reads it itself), else the project's [builder], else buildx's."""
    import os

    if builder or os.environ.get("BUILDX_BUILDER"):
        return builder
    settings = getattr(project, "builder", None)
    return getattr(settings, "name", None)


StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Treat warnings (a build arg named like a credential, an unknown platform variant) as errors. "
        "Also: [project] strict = true.",
    ),
]


def print_warnings(project: Any, strict: bool = False) -> None:
    """One `warning:` line on stderr per thing the project's model finds odd but buildx takes; with `strict`
    (or `[project] strict = true`) the first one is a ConfigError instead (exit 2)."""
    import sys

    from bakepy.errors import ConfigError
    from bakepy.lint import warnings

    lines = warnings(project)
    if lines and (strict or project.settings.strict):
        more = f" (and {len(lines) - 1} more warning(s))" if len(lines) > 1 else ""
        raise ConfigError(
            lines[0] + more,
            hint="strict mode (--strict or [project] strict = true) turns warnings into errors",
        )
    for line in lines:
        sys.stderr.write(f"warning: {line}\n")
