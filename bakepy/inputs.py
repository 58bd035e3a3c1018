"""What a command needs on disk, checked before anything runs; and buildx's input failures in bakepy's terms.

Owns the checks that look at the filesystem but start no process: an output file's folder (`render -o`), a
records folder (`publish --records`, `ci build --records`), and every local build context and Dockerfile a
publish will hand to buildx (present, of the right kind, and inside the project directory unless bake's
filesystem entitlement is off). Each failure is one `ConfigError` naming the file, the path to the value and
the fix, raised before any build starts. `explain_build_failure` turns the same mistakes, when buildx finds
them first (a file changed after the check, a context bakepy could not see), into the same kind of line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from bakepy.errors import ConfigError
from bakepy.model import ResolvedProject, Target

__all__ = [
    "ENTITLEMENTS_FS",
    "check_build_inputs",
    "check_output_file",
    "check_records_dir",
    "explain_build_failure",
    "fs_entitlement_off",
]

ENTITLEMENTS_FS = "BUILDX_BAKE_ENTITLEMENTS_FS"
_FALSE = (
    "0",
    "f",
    "F",
    "false",
    "FALSE",
    "False",
)  # Go's strconv.ParseBool, as buildx reads the variable
_REMOTE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|target:|docker-image:|oci-layout:)"
)


def _existing_ancestor(path: Path) -> Path:
    for parent in (path, *path.parents):
        if os.path.lexists(parent):
            return parent
    return Path("/")


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (or in the folders it would be made in), or None."""
    ancestor = _existing_ancestor(folder)
    if not ancestor.is_dir():
        what = (
            "a dangling link"
            if ancestor.is_symlink() and not ancestor.exists()
            else "not a directory"
        )
        return f"{ancestor} is {what}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


def check_output_file(path: Path, option: str = "--output") -> None:
    """ConfigError unless a file can be written at `path` in an existing folder (checked before rendering)."""
    if path.is_dir():
        raise ConfigError(
            f"{option} {path}: is a directory",
            hint=f"name a file, e.g. {option} {path / 'out.json'}",
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{option} {path}: the folder {folder} does not exist"
            + ("" if not os.path.lexists(folder) else " (it is not a directory)"),
            hint=f"create it first (mkdir -p {folder}) or write the file elsewhere",
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(
            f"{option} {path}: cannot write there (permission denied)",
            hint="write the file somewhere you can write",
        )


def check_records_dir(path: Path, option: str = "--records") -> None:
    """ConfigError unless digest records can be written in `path` (made if missing): before any build."""
    if os.path.lexists(path) and not path.is_dir():
        raise ConfigError(
            f"{option} {path}: is a file, not a directory; digest records are written into a folder",
            hint=f"name a folder (it is created if missing), e.g. {option} {path.parent / 'records'}",
        )
    problem = _folder_problem(path)
    if problem:
        raise ConfigError(
            f"{option} {path}: cannot make the records folder there: {problem}; nothing was built",
            hint="name a folder that exists or can be created, e.g. --records .bakepy/records",
        )


def fs_entitlement_off(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether bake's filesystem entitlement check is off (`BUILDX_BAKE_ENTITLEMENTS_FS=0`)."""
    env = os.environ if environ is None else environ
    return env.get(ENTITLEMENTS_FS) in _FALSE


def _is_local(value: str) -> bool:
    return bool(value) and value != "-" and "${" not in value and not _REMOTE.match(value)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _outside_hint(source: str) -> str:
    return (
        f"bake reads files outside its working directory only with the fs.read entitlement, which bakepy does "
        f"not grant for you: run with {ENTITLEMENTS_FS}=0 in the environment (bakepy passes it to buildx), or "
        f"move {Path(source).name} up to a directory that holds the context"
    )


def _check_target(
    resolved: ResolvedProject, name: str, target: Target, project_dir: Path, fs_checked: bool
) -> None:
    source = resolved.source
    at = f"{source}: target.{resolved.origins.get(name, name)}"
    context = target.context or "."
    context_dir: Path | None = None
    if _is_local(context):
        context_dir = project_dir / context
        if fs_checked and not _inside(context_dir, project_dir):
            raise ConfigError(
                f"{at}.context: {context!r} is outside the project directory {project_dir}; buildx refuses it "
                "('additional privileges requested')",
                hint=_outside_hint(source),
            )
        if not os.path.lexists(context_dir):
            raise ConfigError(
                f"{at}.context: {context!r} does not exist (relative to {project_dir}); nothing was built",
                hint="contexts are relative to the project file's folder; fix the path or create the folder",
            )
        if not context_dir.is_dir():
            raise ConfigError(
                f"{at}.context: {context!r} is a file, not a directory; a build context is a folder",
                hint="set context to the folder holding the files the Dockerfile copies, and dockerfile = "
                "the Dockerfile's path inside it",
            )
    for key, value in target.contexts.items():
        if not _is_local(value):
            continue
        where = project_dir / value
        if fs_checked and not _inside(where, project_dir):
            raise ConfigError(
                f"{at}.contexts.{key}: {value!r} is outside the project directory {project_dir}; buildx "
                "refuses it ('additional privileges requested')",
                hint=_outside_hint(source),
            )
        if not os.path.lexists(where):
            raise ConfigError(
                f"{at}.contexts.{key}: {value!r} does not exist (relative to {project_dir}); nothing was built",
                hint="named contexts are folders relative to the project file's folder, or target:NAME, "
                "docker-image://REF, a URL",
            )
    if target.dockerfile_inline is not None or context_dir is None:
        return
    dockerfile = target.dockerfile or "Dockerfile"
    if not _is_local(dockerfile):
        return
    path = Path(dockerfile) if Path(dockerfile).is_absolute() else context_dir / dockerfile
    if fs_checked and not _inside(path, project_dir):
        raise ConfigError(
            f"{at}.dockerfile: {dockerfile!r} is outside the project directory {project_dir}; buildx refuses "
            "it ('additional privileges requested')",
            hint=_outside_hint(source),
        )
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"{at}.dockerfile: {dockerfile!r} {what} in the context {context!r} ({path}); nothing was built",
            hint="the dockerfile path is relative to the context; fix it, create the Dockerfile, or set "
            "dockerfile-inline",
        )


def check_build_inputs(
    resolved: ResolvedProject, project_dir: Path, names: Sequence[str] = ()
) -> None:
    """ConfigError for the first target of `names` (default: the default selection), or a target they link,
    whose local context or Dockerfile buildx would not find or not be allowed to read."""
    selected = resolved.select(names)
    wanted = dict.fromkeys(n for name in selected for n in (name, *resolved.linked(name)))
    fs_checked = not fs_entitlement_off()
    for name in wanted:
        target = resolved.targets.get(name)
        if target is None or target.assembled:
            continue
        _check_target(resolved, name, target, project_dir, fs_checked)


# -- buildx's own words ---------------------------------------------------------------------------------
_FAILURES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"additional privileges requested", re.I),
        "reads files outside the project directory, which bake allows only with the fs.read entitlement",
        f"run with {ENTITLEMENTS_FS}=0 in the environment (bakepy passes it to buildx), or move the "
        "project file up to a directory that holds every context",
    ),
    (
        re.compile(r"failed to read dockerfile|open (\S*)Dockerfile\S*: no such file", re.I),
        "has no Dockerfile where the target says (the dockerfile path is relative to the context)",
        "fix `dockerfile` or `context` in the project file, or create the Dockerfile",
    ),
    (
        re.compile(r'unable to prepare context: path "[^"]*" not found', re.I),
        "names a build context that does not exist (contexts are relative to the project file's folder)",
        "fix `context` in the project file, or create the folder",
    ),
    (
        re.compile(r'failed to evaluate path "[^"]*": not a directory', re.I),
        "names a build context that is a file, not a folder",
        "set `context` to a folder and `dockerfile` to the Dockerfile's path inside it",
    ),
)


def explain_build_failure(message: str, target: str, source: str | None) -> ConfigError | None:
    """A ConfigError in bakepy's terms when buildx failed for an input reason (missing Dockerfile or context,
    a context outside the project), naming the target and the project file; None for anything else."""
    for pattern, what, fix in _FAILURES:
        if pattern.search(message):
            subject = f"target {target}" if target and target != "?" else "a target"
            said = re.sub(r"^.*? failed \(exit \d+\): ", "", message.strip()).removeprefix(
                "ERROR: "
            )
            return ConfigError(
                f"{source or 'the project'}: {subject} {what} (buildx: {said}); no tag was created or moved",
                hint=fix,
            )
    return None
