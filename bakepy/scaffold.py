"""`bakepy init`'s scaffolding: a first bakepy.toml from the Dockerfiles under a folder and its git remote.

This module owns finding the Dockerfiles (`find_dockerfiles`), naming a target per Dockerfile, reading a
registry from origin's URL (`registry_from_remote`: GitHub → `ghcr.io/OWNER`, GitLab.com →
`registry.gitlab.com/GROUP/PROJECT`), and the text of the file (`scaffold`), which it loads with bakepy's own
loader before anyone writes it. It reads the folder's tree and nothing else: no process (the remote URL is
given), no file written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bakepy.errors import NothingToDoError

__all__ = [
    "DEFAULT_PLATFORMS",
    "PLACEHOLDER_REGISTRY",
    "Scaffold",
    "ScaffoldTarget",
    "find_dockerfiles",
    "registry_from_remote",
    "scaffold",
]

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
PLACEHOLDER_REGISTRY = "registry.example.com/acme"
# Folders that hold other projects' files, never the project's own images: dependencies, virtual environments,
# caches. Hidden folders (.git, .venv, .bakepy, ...) are skipped too.
_SKIPPED = frozenset({"node_modules", "venv", "__pycache__", "site-packages", "vendor"})
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def _is_dockerfile(name: str) -> bool:
    """`Dockerfile`, `Dockerfile.dev`, `dev.Dockerfile`, `Containerfile` (podman's name, which buildx reads too)."""
    return (
        name in ("Dockerfile", "Containerfile")
        or name.startswith(("Dockerfile.", "Containerfile."))
        or name.endswith((".Dockerfile", ".dockerfile", ".Containerfile"))
    )


def find_dockerfiles(root: Path) -> list[PurePosixPath]:
    """Every Dockerfile under `root` (its path relative to `root`), sorted; hidden and dependency folders and
    folders reached through a symbolic link are left out."""
    found: list[PurePosixPath] = []
    for folder, dirs, files in os.walk(
        root
    ):  # followlinks=False: a link to elsewhere is not the project
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
        relative = PurePosixPath(Path(folder).relative_to(root).as_posix())
        found += [
            relative / name
            for name in files
            if _is_dockerfile(name) and os.path.isfile(os.path.join(folder, name))
        ]
    return sorted(found, key=lambda p: (len(p.parts), p.as_posix()))


def _slug(text: str) -> str:
    """A target and image name: lower-case letters and digits in words joined by '-'."""
    return _NOT_NAME.sub("-", text.lower()).strip("-")


def _variant(name: str) -> str:
    """`Dockerfile.dev` / `dev.Dockerfile` → 'dev'; `Dockerfile` → ''."""
    for base in ("Dockerfile", "Containerfile"):
        if name.startswith(f"{base}."):
            return name[len(base) + 1 :]
        for suffix in (f".{base}", f".{base.lower()}"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
    return ""


@dataclass(frozen=True)
class ScaffoldTarget:
    """A target made of one Dockerfile: its name, its context (the Dockerfile's folder) and the file in it."""

    name: str
    context: str
    dockerfile: str


def _targets(root_name: str, dockerfiles: Sequence[PurePosixPath]) -> list[ScaffoldTarget]:
    """A target per Dockerfile, named after its folder (and its variant: `api-dev` for api/Dockerfile.dev); a
    name two folders would share takes more of the path (`a-api`, `b-api`)."""
    root = _slug(root_name) or "app"

    def name_of(path: PurePosixPath, depth: int) -> str:
        folders = [_slug(p) for p in path.parent.parts[-depth:]] if path.parent.parts else [root]
        return "-".join(w for w in [*folders, _slug(_variant(path.name))] if w) or root

    depth = {path: 1 for path in dockerfiles}
    while True:
        names = {path: name_of(path, depth[path]) for path in dockerfiles}
        clashing = {
            p
            for p in dockerfiles
            if list(names.values()).count(names[p]) > 1 and depth[p] < len(p.parent.parts)
        }
        if not clashing:
            break
        for path in clashing:
            depth[path] += 1
    taken: dict[str, int] = {}
    targets = []
    for path in dockerfiles:
        name = names[path]
        taken[name] = taken.get(name, 0) + 1
        if taken[name] > 1:  # the same path in other spellings (`API/` and `api/`)
            name = f"{name}-{taken[name]}"
        context = path.parent.as_posix()
        targets.append(ScaffoldTarget(name=name, context=context, dockerfile=path.name))
    return targets


_REMOTE = re.compile(
    r"^(?:(?:ssh|git|https?)://)?(?:[^@/]+@)?(?P<host>[^:/]+)(?::\d+)?[:/](?P<path>.+?)(?:\.git)?/*$"
)


def registry_from_remote(url: str | None) -> str | None:
    """The container registry of a GitHub or GitLab.com repository, from its git URL (https, ssh or scp-like):
    `ghcr.io/OWNER` or `registry.gitlab.com/GROUP/PROJECT`, lower-cased as references must be; None for any
    other host (a self-hosted GitLab's registry has a name of its own)."""
    found = _REMOTE.match(url.strip()) if url else None
    if found is None:
        return None
    host = found["host"].lower()
    parts = [p.lower() for p in found["path"].split("/") if p]
    if host in ("github.com", "www.github.com") and len(parts) == 2:
        return f"ghcr.io/{parts[0]}"
    if host in ("gitlab.com", "www.gitlab.com") and len(parts) >= 2:
        return "registry.gitlab.com/" + "/".join(parts)
    return None


def _origin(url: str) -> str:
    """The remote as it may be shown: host and path, without any credentials in it."""
    found = _REMOTE.match(url.strip())
    return f"{found['host']}/{found['path']}" if found else "origin"


@dataclass(frozen=True)
class Scaffold:
    """What `bakepy init` writes, and what it says about it."""

    text: str
    targets: tuple[ScaffoldTarget, ...]
    registries: tuple[str, ...]
    registry_source: str
    """Where the registries came from: 'given', 'git remote origin HOST/PATH' or 'placeholder'."""


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def scaffold(
    root: Path,
    *,
    remote_url: str | None = None,
    registries: Sequence[str] = (),
    source: str = "bakepy.toml",
) -> Scaffold:
    """The bakepy.toml for the Dockerfiles under `root`: a target per Dockerfile, the two common platforms, the
    `registries` given, else the one of origin's URL, else a placeholder to replace. Loaded with bakepy's own
    loader before it is returned (a ConfigError names the bad value if it would not load)."""
    from bakepy.config import load_toml

    dockerfiles = find_dockerfiles(root)
    if not dockerfiles:
        raise NothingToDoError(
            f"no Dockerfile under {root}: bakepy init makes a target of each one it finds",
            hint="run it in the folder that holds your Dockerfiles, or write bakepy.toml by hand "
            "(docs/model.md)",
        )
    targets = _targets(root.name, dockerfiles)
    detected = registry_from_remote(remote_url)
    if registries:
        chosen, origin, comment = tuple(registries), "given", ""
    elif detected is not None and remote_url is not None:
        origin = f"git remote origin {_origin(remote_url)}"
        chosen, comment = (detected,), f"  # from {origin}"
    else:
        chosen, origin = (PLACEHOLDER_REGISTRY,), "placeholder"
        comment = (
            "  # a placeholder: your registry and namespace (ghcr.io/OWNER, docker.io/USER, …)"
        )
    lines = [
        "# Written by `bakepy init` from the Dockerfiles under this folder: check it, then run",
        "#   bakepy plan                 # what a publish builds, tags and pushes",
        "#   bakepy publish --dry-run    # and every command it runs",
        "# Every key: docs/model.md; tags from git (versions, branches, commits): docs/tags.md.",
        "",
        "[project]",
        f"registries = {_toml_list(chosen)}{comment}",
        f"platforms = {_toml_list(DEFAULT_PLATFORMS)}",
        'tags = ["latest"]',
    ]
    for target in targets:
        lines += [
            "",
            f"[target.{target.name}]",
            f"context = {_toml_string(target.context)}",
            f"dockerfile = {_toml_string(target.dockerfile)}",
        ]
    text = "\n".join(lines) + "\n"
    load_toml(text, source=source, env={})
    return Scaffold(text=text, targets=tuple(targets), registries=chosen, registry_source=origin)
