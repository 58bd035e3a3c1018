"""Load a project definition (bakepy.toml, `[tool.bakepy]` in pyproject.toml, or a Python bakefile) into the model.

This module owns discovery (which file a command reads), the two project forms, and turning every failure
into one `ConfigError` line that names the file, the path to the bad value in TOML key spelling
(`target.app.platforms[1]`) and the fix. Pure apart from reading the file (and, for the Python form,
running it): no processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
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
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # let the real load report what is wrong with it
    tool = data.get("tool")
    return isinstance(tool, dict) and "bakepy" in tool


def discover(cwd: Path) -> Path:
    """The project file in `cwd`: bakepy.toml, then pyproject.toml with [tool.bakepy], then bakefile.py."""
    for name in (PROJECT_FILE, PYPROJECT, BAKEFILE):
        path = cwd / name
        if path.is_file() and (name != PYPROJECT or _has_tool_table(path)):
            return path
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
    if not path.is_file():
        raise ConfigError(
            f"{source}: no such file",
            hint="pass -f with the path of a bakepy.toml, pyproject.toml or bakefile.py",
        )
    if path.suffix == ".py":
        project = _named(_load_python(path, source, env), source)
        return LoadedProject(project=project, path=path, kind="python")
    if path.suffix != ".toml":
        raise ConfigError(
            f"{source}: not a project file; bakepy reads .toml files and Python (.py) bakefiles"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from exc
    kind: Kind = "pyproject" if path.name == PYPROJECT else "toml"
    project = load_toml(
        text, source=source, table=("tool", "bakepy") if kind == "pyproject" else (), env=env
    )
    return LoadedProject(project=_named(project, source), path=path, kind=kind)


def _named(project: Project, source: str) -> Project:
    """Let errors found after loading (plan, publish) name the file the project came from."""
    project._resolved = dataclasses.replace(project.resolved, source=source)
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
    try:
        data: Any = tomllib.loads(text)
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


def _load_python(path: Path, source: str, env: Mapping[str, str] | None) -> Project:
    spec = importlib.util.spec_from_file_location(f"_bakepy_bakefile_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for exotic suffixes
        raise ConfigError(f"{source}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        with _environment(env):
            spec.loader.exec_module(module)
    except ValidationError as exc:
        line = _line_in(exc.__traceback__, path)
        where = f"{source}:{line}" if line else source
        root = getattr(model, exc.title, None)
        root = root if isinstance(root, type) and issubclass(root, BaseModel) else Project
        prefix = () if root is Project else (exc.title,)
        raise ConfigError(_message(exc, where, prefix, root)) from exc
    except SyntaxError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: invalid Python: {exc.msg}") from exc
    except (Exception, SystemExit) as exc:
        line = _line_in(exc.__traceback__, path)
        where = f"{source}:{line}" if line else source
        raise ConfigError(
            f"{where}: raised {type(exc).__name__}: {exc}",
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
