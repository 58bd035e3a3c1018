"""`bakepy init`: a first bakepy.toml from the Dockerfiles under a folder (bakepy.scaffold does the work)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app


@app.command()
def init(
    folder: Annotated[
        Path,
        typer.Argument(
            help="The project's folder: bakepy.toml is written there, with a target per Dockerfile under it.",
            file_okay=False,
        ),
    ] = Path("."),
    registry: Annotated[
        list[str] | None,
        typer.Option(
            "--registry",
            metavar="REGISTRY",
            help="A registry and namespace to publish to, e.g. ghcr.io/acme (repeatable). Default: the one of "
            "git's origin (GitHub: ghcr.io/OWNER; GitLab.com: registry.gitlab.com/GROUP/PROJECT), else a "
            "placeholder to replace.",
        ),
    ] = None,
) -> None:
    """Write a first bakepy.toml: a target per Dockerfile found (its folder's name, context and dockerfile),
    linux/amd64 and linux/arm64, and the registry of git's origin. Never overwrites a project file."""
    from bakepy.config import PROJECT_FILE, project_files
    from bakepy.engine.git import origin_url
    from bakepy.errors import ConfigError
    from bakepy.scaffold import DEFAULT_PLATFORMS, scaffold

    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: no such folder", hint="bakepy init FOLDER takes an existing folder"
        )
    path = folder / PROJECT_FILE
    existing = project_files(folder)
    if path in existing:
        raise ConfigError(
            f"{path} already exists: bakepy init never overwrites it (edit it, or move it away first)"
        )
    if existing:
        raise ConfigError(
            f"{existing[0]} already defines the project: a {PROJECT_FILE} beside it would make two "
            "(keep that one, or move it away first)"
        )
    root = folder.absolute()
    made = scaffold(
        root,
        remote_url=origin_url(root),
        registries=registry or (),
        source=f"{path} (not written)",
    )
    try:
        # "x": never over a file that appeared meanwhile
        with path.open("x", encoding="utf-8") as out:
            out.write(made.text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    names = ", ".join(t.name for t in made.targets)
    count = len(made.targets)
    registries = ", ".join(made.registries)
    if made.registry_source == "placeholder":
        where = f"registry {registries}: a placeholder, replace it with yours in {path}"
    elif made.registry_source == "given":
        where = f"registry {registries}"
    else:
        where = f"registry {registries} (from {made.registry_source})"
    plural = "s" if count != 1 else ""
    print(
        f"wrote {path}: {count} target{plural} ({names}) for {' and '.join(DEFAULT_PLATFORMS)}; {where}"
    )
    cd = "" if root == Path.cwd().absolute() else f"cd {shlex.quote(str(folder))} && "
    print("next:")
    print(f"  {cd}bakepy plan                 # what a publish builds, tags and pushes")
    print(f"  {cd}bakepy publish --dry-run    # and every command it runs")
