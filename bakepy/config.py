"""Load a project definition (bakepy.toml, `[tool.bakepy]` in pyproject.toml, or a Python bakefile) into the model.

This module owns discovery (which file a command reads), the two project forms, and turning every failure
into one `ConfigError` line that names the file, the path to the bad value in TOML key spelling
(`target.app.platforms[1]`) and the fix. Pure apart from reading the file (and, for the Python form,
running it): no processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib.util
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from bakepy import model
from bakepy.errors import ConfigError
from bakepy.model import Project, explain_error, format_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "BAKEFILE",
    "PROJECT_FILE",
    "PYPROJECT",
    "LoadedProject",
    "discover",
    "load_project",
    "load_toml",
    "project_files",
]

PROJECT_FILE = "bakepy.toml"
PYPROJECT = "pyproject.toml"
BAKEFILE = "bakefile.py"

Kind = Literal["toml", "pyproject", "python"]


@dataclass(frozen=True)
class LoadedProject:
    """A loaded project and where it came from."""

    project: Project
    path: Path
    """The file it was read from (absolute)."""
    kind: Kind
    """toml (bakepy.toml or another .toml), pyproject (`[tool.bakepy]`), python (a bakefile module)."""


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def _has_tool_table(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, tomllib.TOMLDecodeError):
        return True  # let the real load report what is wrong with it
    tool = data.get("tool")
    return isinstance(tool, dict) and "bakepy" in tool


def project_files(folder: Path) -> list[Path]:
    """The project files in `folder`: bakepy.toml, pyproject.toml with [tool.bakepy], bakefile.py (those there)."""
    found = []
    for name in (PROJECT_FILE, PYPROJECT, BAKEFILE):
        path = folder / name
        if name == PYPROJECT:
            if path.is_file() and _has_tool_table(path):
                found.append(path)
        elif os.path.lexists(path):  # a directory, a dangling link or a loop: load says which
            found.append(path)
    return found


def discover(cwd: Path) -> Path:
    """The project file in `cwd`: the one of bakepy.toml, pyproject.toml with [tool.bakepy] and bakefile.py
    there is.

    Two of them (an import written in both forms, a bakefile.py beside an older bakepy.toml) are refused rather
    than one picked by rank: the project a publish pushes must not depend on a rule the user never sees.
    """
    found = project_files(cwd)
    if len(found) > 1:
        names = [f"{p.name} with [tool.bakepy]" if p.name == PYPROJECT else p.name for p in found]
        listed = " and ".join([", ".join(names[:-1]), names[-1]])
        choices = " or ".join(f"-f {p.name}" for p in found)
        raise ConfigError(
            f"{listed} in {cwd} {'both' if len(found) == 2 else 'all'} define the project; "
            "bakepy does not guess which one to use",
            hint=f"pick one with {choices}, or keep only one of them in the folder",
        )
    if found:
        return found[0]
    raise ConfigError(
        f"no {PROJECT_FILE}, {PYPROJECT} with [tool.bakepy] or {BAKEFILE} in {cwd}",
        hint="create one (see docs/model.md) or pass -f FILE",
    )


def load_project(
    file: Path | None = None, cwd: Path | None = None, *, env: Mapping[str, str] | None = None
) -> LoadedProject:
    """Find (or take `file`), read and validate a project. `env` overrides os.environ for `${VAR}` lookups."""
    cwd = (cwd or Path.cwd()).absolute()
    path = discover(cwd) if file is None else (file if file.is_absolute() else cwd / file)
    source = _display(path, cwd)
    _check_regular_file(path, source)
    if path.suffix == ".py":
        project = _named(_load_python(path, source, env), source)
        return LoadedProject(project=project, path=path, kind="python")
    if path.suffix != ".toml":
        raise ConfigError(
            f"{source}: not a project file; bakepy reads .toml files and Python (.py) bakefiles"
        )
    text = read_text(path, source)
    kind: Kind = "pyproject" if path.name == PYPROJECT else "toml"
    project = load_toml(
        text, source=source, table=("tool", "bakepy") if kind == "pyproject" else (), env=env
    )
    return LoadedProject(project=_named(project, source), path=path, kind=kind)


_FILE_HINT = "pass -f with the path of a bakepy.toml, pyproject.toml or bakefile.py"


def _check_regular_file(path: Path, source: str) -> None:
    """ConfigError unless `path` is a regular file (or a link to one), saying what it is instead."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                f"{source}: is a symbolic link loop (it points, through links, back at itself)",
                hint=f"replace the link with the file itself, or point it at a real file; {_FILE_HINT}",
            ) from None
        if path.is_symlink():
            raise ConfigError(
                f"{source}: is a dangling symbolic link to {os.readlink(path)!r}, which does not exist",
                hint=f"point the link at an existing file, or replace it with the file; {_FILE_HINT}",
            ) from None
        if exc.errno == errno.ENOENT:
            raise ConfigError(f"{source}: no such file", hint=_FILE_HINT) from None
        raise ConfigError(f"{source}: cannot read: {exc.strerror}", hint=_FILE_HINT) from None
    if path.is_dir():
        raise ConfigError(
            f"{source}: is a directory, not a project file",
            hint=f"rename or remove the directory and write the project in a file; {_FILE_HINT}",
        )
    if not path.is_file():
        raise ConfigError(
            f"{source}: is not a regular file (a device, socket or pipe)", hint=_FILE_HINT
        )


def read_text(path: Path, source: str) -> str:
    """A project file's text; ConfigError naming the line for what TOML cannot hold (not UTF-8, a BOM, NUL)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return decode_text(data, source)


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(
        data[line_start:offset].decode("utf-8", "replace")
    ) + 1


def decode_text(data: bytes, source: str) -> str:
    """`data` as UTF-8 text, or a ConfigError at the line and column of the first byte that is not."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            f"{source}:1:1: the file starts with a UTF-8 byte-order mark (BOM), which TOML does not allow",
            hint="save the file as UTF-8 without BOM (most editors: 'UTF-8' rather than 'UTF-8 with BOM')",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise ConfigError(
            f"{source}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "bakepy reads project files as UTF-8",
            hint="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    nul = data.find(b"\0")
    if nul >= 0:
        line, col = _line_col(data, nul)
        raise ConfigError(
            f"{source}:{line}:{col}: the file holds a NUL byte: it is binary or corrupt, not TOML text",
            hint="remove the NUL byte (e.g. `tr -d '\\000'`), or restore the file from version control",
        )
    return text


def _named(project: Project, source: str) -> Project:
    """Let errors found after loading (plan, publish) name the file the project came from; refuse settings
    that contradict each other (`bakepy.lint`)."""
    from bakepy.lint import check_conflicts

    project._resolved = dataclasses.replace(project.resolved, source=source)
    check_conflicts(project._resolved)
    return project


_TOML_POS = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$", re.S
)


def load_toml(
    text: str,
    *,
    source: str = PROJECT_FILE,
    table: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Project:
    """Validate TOML text (the project sits under `table`, e.g. ('tool', 'bakepy')) into a Project."""
    if "\0" in text:  # text from anywhere but read_text (which names the line already)
        raise ConfigError(f"{source}: the text holds a NUL byte: it is binary or corrupt, not TOML")
    try:
        data: Any = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(
            f"{source}: invalid TOML: arrays or inline tables nested too deeply for a project file",
            hint="a bake value is at most a list of tables; remove the extra brackets",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11-3.13) puts "(at line L, column C)" in the message; tomli >= 2.1 and tomllib 3.14
        # keep the message bare and give `msg`, `lineno` and `colno` instead.
        m = _TOML_POS.match(str(exc))
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        message = getattr(exc, "msg", None) or (m.group("msg") if m else str(exc))
        if m and m.group("line"):
            line, col, message = int(m.group("line")), int(m.group("col")), m.group("msg")
        if line is not None and col is not None:
            raise ConfigError(f"{source}:{line}:{col}: invalid TOML: {message}") from None
        raise ConfigError(f"{source}: invalid TOML: {message}") from None
    for i, key in enumerate(table):
        data = data.get(key) if isinstance(data, dict) else None
        if data is None:
            raise ConfigError(
                f"{source}: has no [{'.'.join(table[: i + 1])}] table",
                hint=f"add a [{'.'.join(table)}] table, or put the project in {PROJECT_FILE}",
            )
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {'.'.join(table)}: expected a table")
    return project_from_mapping(data, source=source, prefix=table, env=env)


def project_from_mapping(
    data: Mapping[str, Any],
    *,
    source: str,
    prefix: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Project:
    """Validate a parsed TOML mapping (keys spelled as in TOML, kebab-case) into a Project."""
    try:
        with _environment(env):
            return Project.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ConfigError(_message(exc, source, prefix, Project)) from None
    except RecursionError:
        raise ConfigError(
            f"{source}: values nested too deeply for a project file",
            hint="a bake value is at most a list of tables; remove the extra nesting",
        ) from None


def _message(
    exc: ValidationError, where: str, prefix: tuple[str, ...], root: type[BaseModel]
) -> str:
    errors = exc.errors(include_url=False)
    loc, text = explain_error(errors[0], root)
    path = format_path((*prefix, *loc))
    more = (
        f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    return f"{where}: {path}: {text}{more}" if path else f"{where}: {text}{more}"


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    token = model.ENVIRONMENT.set(env)
    try:
        yield
    finally:
        model.ENVIRONMENT.reset(token)


def _line_in(tb: TracebackType | None, path: Path) -> int | None:
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).absolute() == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@contextlib.contextmanager
def _prints_to_stderr() -> Iterator[None]:
    """A bakefile's prints (and its child processes' output) go to stderr: stdout is for `--json` and render."""
    sys.stdout.flush()
    saved: int | None = None
    with contextlib.suppress(OSError, ValueError):
        if sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2:
            saved = os.dup(1)
            os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _load_python(path: Path, source: str, env: Mapping[str, str] | None) -> Project:
    spec = importlib.util.spec_from_file_location(f"_bakepy_bakefile_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for exotic suffixes
        raise ConfigError(f"{source}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        with _environment(env), _prints_to_stderr():
            spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except ValidationError as exc:
        line = _line_in(exc.__traceback__, path)
        where = f"{source}:{line}" if line else source
        root = getattr(model, exc.title, None)
        root = root if isinstance(root, type) and issubclass(root, BaseModel) else Project
        prefix = () if root is Project else (exc.title,)
        raise ConfigError(_message(exc, where, prefix, root)) from exc
    except SyntaxError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: invalid Python: {exc.msg}") from exc
    except (
        BaseException
    ) as exc:  # SystemExit and a BaseException of its own too: the bakefile's fault
        line = _line_in(exc.__traceback__, path)
        where = f"{source}:{line}" if line else source
        said = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ConfigError(
            f"{where}: raised {type(exc).__name__}" + (f": {said}" if said else ""),
            hint="run with --debug to see the traceback",
        ) from exc
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))
    project = getattr(module, "project", None)
    if project is None:
        raise ConfigError(
            f"{source}: defines no module-level `project`",
            hint="end the module with `project = Project(...)` (from bakepy import Project)",
        )
    if not isinstance(project, Project):
        raise ConfigError(f"{source}: `project` is {type(project).__name__}, not a bakepy.Project")
    return project
