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


def print_warnings(project: object) -> None:
    """One `warning:` line on stderr per thing the project's model finds odd but buildx takes."""
    import sys

    resolved = getattr(project, "resolved", None)
    for line in getattr(resolved, "warnings", ()):
        sys.stderr.write(f"warning: {line}\n")


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a target attribute for the build, as `docker buildx bake --set` takes it "
        "(repeatable), e.g. '*.args.VERSION=1.2'. Outputs and tags stay bakepy's.",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Build without BuildKit's cache.")]
PullOpt = Annotated[
    bool, typer.Option("--pull", help="Always pull the base images' newest versions.")
]


def bake_options(sets: list[str] | None, no_cache: bool, pull: bool) -> Any:
    """The pass-through options for every build bake; `--set` of outputs or tags is refused (publish pushes by
    digest and moves tags itself: an override would undo the promise)."""
    from bakepy.engine.runner import BakeOptions
    from bakepy.errors import ConfigError

    for value in sets or ():
        key = value.split("=", 1)[0].rstrip("+")
        attribute = key.rsplit(".", 1)[-1]
        if "=" not in value or "." not in key:
            raise ConfigError(
                f"--set {value!r}: write TARGET.ATTRIBUTE=VALUE, e.g. '*.args.VERSION=1.2'"
            )
        if attribute in ("output", "tags", "push", "load"):
            raise ConfigError(
                f"--set {value!r}: bakepy sets {attribute} itself (push by digest, then every tag at once)",
                hint="set tags and registries in the project; use `bakepy render` for a file to bake by hand",
            )
    return BakeOptions(tuple(sets or ()), no_cache, pull)
