"""`bakepy import` round trip against the real buildx: for every bake file of the corpus in tests/fixtures/bake,
`docker buildx bake --print NAME` of the original equals `--print NAME` of `bakepy render` of the import, for
every target and group NAME, in both project forms (bakepy.toml and bakefile.py); and the bakepy.toml is at
most 1.5 times the lines of the bake files it was imported from (issue 24).

Only the buildx binary is needed (`--print` runs no build and needs no builder), so these tests do not use the
`stack` fixture; they skip when `docker buildx` is missing, except in CI (CI=true) where they fail.

Each case is a directory: its bake files, any file they need to exist (secrets), and an optional `case.toml`:
`files` (the -f files in order; default: bake's discovery), `env` (environment while importing and comparing),
`vars` (--var NAME=VALUE), `targets` (--targets), `ssh_sockets` (unix sockets to create: bake --print checks
that ssh sources exist), `check_env` (more environments to compare under after importing once: a variable kept
as ${NAME} must follow an override as bake does), `refused_env` (environments bakepy must refuse to render
with: a variable the import froze, because bake computes with it, set to another value; where the Python form
keeps every variable of one live, its render is compared with bake's print under it instead).

Paths: both sides are printed from the same directory, with BUILDX_BAKE_FILE_RELATIVE_PATHS unset, so buildx
prints context paths as written and they compare equal as they are. `_normalised` still canonicalises local
context paths (`./src` and `src` name the same directory) so that a change in how either side spells a path
does not count as a difference in what is built.

With BAKEPY_UPDATE_FIXTURES=1 the test also rewrites each case's captured buildx answers (`captured.json`)
and the expected outputs (`expected.toml`, `expected_bakefile.py`) that the unit tests compare against.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bake"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
IN_CI = os.environ.get("CI", "").lower() == "true"
UPDATE = os.environ.get("BAKEPY_UPDATE_FIXTURES") == "1"
# Files a case directory holds besides the bake definition.
_NOT_BAKE = {"case.toml", "captured.json", "expected.toml", "expected_bakefile.py"}


@pytest.fixture(scope="module")
def buildx() -> str:
    """`docker buildx version`, or skip (fail in CI): the only tool these tests need."""
    reason = ""
    try:
        done = subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0:
            return done.stdout.strip()
        reason = done.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    if IN_CI:
        pytest.fail(
            f"docker buildx is needed for the import round trip (CI=true): {reason}", pytrace=False
        )
    pytest.skip(f"docker buildx is not available: {reason}")


def _case(name: str) -> dict[str, Any]:
    path = CORPUS / name / "case.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {}


class Workdir:
    """A copy of one case in a temporary directory, with its sockets and environment, where both bake and
    bakepy run."""

    def __init__(self, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = case
        self.config = _case(case)
        self.path = tmp_path / case
        shutil.copytree(CORPUS / case, self.path, ignore=shutil.ignore_patterns(*_NOT_BAKE))
        self._sockets: list[socket.socket] = []
        for name in self.config.get("ssh_sockets", []):
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(self.path / name))
            self._sockets.append(sock)
        monkeypatch.chdir(self.path)
        monkeypatch.delenv("BUILDX_BAKE_FILE_RELATIVE_PATHS", raising=False)
        monkeypatch.delenv("BUILDX_BAKE_FILE", raising=False)
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        if self._sockets:
            monkeypatch.setenv("SSH_AUTH_SOCK", str(self.path / self.config["ssh_sockets"][0]))
        for key, value in self.config.get("env", {}).items():
            monkeypatch.setenv(key, value)
        self.monkeypatch = monkeypatch

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()

    @property
    def files(self) -> list[str]:
        return list(self.config.get("files", []))

    def bake(self, files: Sequence[str], *args: str, env: Mapping[str, str] | None = None) -> str:
        argv = ["docker", "buildx", "bake", "--progress=quiet"]
        for f in files:
            argv += ["--file", f]
        for var in self.config.get("vars", []) if files == self.files else []:
            argv += ["--var", var]
        done = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv + list(args))} failed: {done.stderr.strip()}")
        return done.stdout

    def names(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Every target and group of the original (as `bake --list` shows them under `env`), or the imported
        subset."""
        listing = json.loads(
            self.bake(self.files, "--list=type=targets,format=json", env=env) or "[]"
        )
        return self.config.get("targets") or [entry["name"] for entry in listing]

    def import_(self, *, python: bool) -> Path:
        from typer.testing import CliRunner

        from bakepy.cli.app import app

        out = self.path / ("bakefile.py" if python else "bakepy.toml")
        argv = ["import", *self.files, "-o", str(out), "--force"]
        argv += [a for var in self.config.get("vars", []) for a in ("--var", var)]
        argv += [a for t in self.config.get("targets", []) for a in ("--targets", t)]
        if python:
            argv.append("--python")
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, f"bakepy import failed: {result.output}"
        return out

    def render(self, project_file: Path, env: Mapping[str, str] | None = None) -> Path:
        from bakepy.bake.render import dumps, render_bake
        from bakepy.config import load_project

        loaded = load_project(project_file, self.path, env={**os.environ, **(env or {})})
        rendered = self.path / f".rendered-{project_file.stem}.json"
        rendered.write_text(dumps(render_bake(loaded.project)))
        return rendered


@pytest.fixture
def workdir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workdir]:
    wd = Workdir(request.param, tmp_path, monkeypatch)
    try:
        yield wd
    finally:
        wd.close()


_URL_PREFIXES = (
    "docker-image://",
    "target:",
    "oci-layout://",
    "http://",
    "https://",
    "git@",
    "git://",
)


def _local(path: str) -> bool:
    return not path.startswith(_URL_PREFIXES) and "://" not in path


def _normalised(printed: Mapping[str, Any], written: Sequence[str] | None = None) -> dict[str, Any]:
    """`bake --print` output with local context paths in canonical form (see the module docstring). Members
    of the groups the files write, and of the groups bake makes of a matrix of one key, keep their order (the
    import keeps it, issue 10); the groups bake makes of a matrix of several keys are sorted (bake lists them
    in Go map order, which changes between runs). `written`: both kinds of ordered group."""
    out = json.loads(json.dumps(printed))
    for name, group in out.get("group", {}).items():
        members = list(dict.fromkeys(group.get("targets") or []))
        group["targets"] = members if written is None or name in written else sorted(members)
    for target in out.get("target", {}).values():
        if isinstance(target.get("platforms"), list):  # as bake builds them: "a,b" is two platforms
            target["platforms"] = [
                p.strip() for v in target["platforms"] for p in str(v).split(",") if p.strip()
            ]
        if isinstance(target.get("context"), str) and _local(target["context"]):
            target["context"] = posixpath.normpath(target["context"])
        for key, value in (target.get("contexts") or {}).items():
            if _local(value):
                target["contexts"][key] = posixpath.normpath(value)
    return out


def _compare(
    wd: Workdir, project_file: Path, names: Sequence[str], env: Mapping[str, str] | None = None
) -> None:
    # bakepy has no --var: a variable set with `bake --var` at import is the environment variable for bakepy.
    variables = dict(v.split("=", 1) for v in wd.config.get("vars", []))
    rendered = wd.render(project_file, {**(env or {}), **variables})
    from bakepy.bake.importer.resolve import (
        BakeSource,
        _one_key_matrices,
        _written_groups,
        source_texts,
    )

    texts = source_texts(BakeSource(files=tuple(wd.files), cwd=wd.path))
    written = [*_written_groups(texts), *_one_key_matrices(texts)]
    for name in names:
        original = json.loads(wd.bake(wd.files, "--print", name, env=env))
        imported = json.loads(wd.bake([rendered.name], "--print", name, env=env))
        differences = _differences(_normalised(original, written), _normalised(imported, written))
        assert not differences, (
            f"{wd.name}: `--print {name}` differs after import ({project_file.name}, env={dict(env or {})}):\n"
            + "\n".join(differences)
        )


#: Issue 24: an import people keep is at most 1.5 times the original's lines, case by case.
LINE_LIMIT = 1.5
#: Cases whose Python form is still over it (tests/unit/test_importer.py says why).
PYTHON_OVER_THE_LIMIT = {"hcl-matrix-families"}


def _line_count(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _within_line_limit(wd: Workdir, project_file: Path) -> None:
    """The import is at most LINE_LIMIT times the lines of the bake files it was made of (all lines of both,
    comments and header too): small files as well, which a header of a few lines would double."""
    from bakepy.bake.importer.resolve import BakeSource, source_texts

    texts = source_texts(BakeSource(files=tuple(wd.files), cwd=wd.path))
    original = sum(_line_count(text) for text in texts.values())
    imported = _line_count(project_file.read_text(encoding="utf-8"))
    assert imported <= LINE_LIMIT * original, (
        f"{wd.name}: {project_file.name} has {imported} lines for the {original} of {', '.join(texts)} "
        f"({imported / original:.2f}x, more than {LINE_LIMIT}x)"
    )


def _differences(original: Any, imported: Any, path: str = "") -> list[str]:
    """Where two `--print` outputs differ, one line per differing value (original → imported)."""
    if isinstance(original, dict) and isinstance(imported, dict):
        out = []
        for key in sorted(set(original) | set(imported)):
            out += _differences(
                original.get(key), imported.get(key), f"{path}.{key}" if path else key
            )
        return out
    if original != imported:
        return [f"  {path}: {json.dumps(original)} → {json.dumps(imported)}"]
    return []


@pytest.mark.parametrize("workdir", CASES, indirect=True)
@pytest.mark.parametrize("python", [False, True], ids=["toml", "python"])
def test_roundtrip(workdir: Workdir, python: bool, buildx: str) -> None:
    names = workdir.names()
    project_file = workdir.import_(python=python)
    _compare(workdir, project_file, names)
    if not python or workdir.name not in PYTHON_OVER_THE_LIMIT:
        _within_line_limit(workdir, project_file)
    for env in workdir.config.get("check_env", []):
        _compare(workdir, project_file, names, env)
    from bakepy.config import load_project
    from bakepy.errors import ConfigError

    variables = load_project(project_file, workdir.path).project.variables
    for env in workdir.config.get("refused_env", []):
        if python and not any(variables[name].frozen for name in env if name in variables):
            # the Python form keeps it live (its conditions and functions as code): it follows bake, also
            # where the value decides which targets there are (a matrix: the names bake lists under it)
            _compare(workdir, project_file, workdir.names(env), env)
            continue
        # a variable bake computes with is frozen in the import: another value is refused, never ignored
        with pytest.raises(ConfigError, match="is frozen at"):
            workdir.render(project_file, env)


class RecordingRunner:
    """The real runner, keeping every answer, so the unit tests can replay them without docker."""

    def __init__(self) -> None:
        from bakepy.engine.runner import Runner

        self.runner = Runner(log=lambda line: None)
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        error: type[Any] = Exception,
        input: bytes | None = None,
    ) -> str:
        try:
            out = self.runner.run(args, what=what, error=error, input=input)
        except error as exc:
            detail = str(getattr(exc, "detail", None) or exc)
            last = [ln for ln in detail.splitlines() if ln.startswith("ERROR:")][-1:] or [str(exc)]
            self.calls.append({"args": list(args), "error": last[0]})
            raise
        try:  # kept parsed, so a reader of captured.json sees what buildx said
            self.calls.append({"args": list(args), "json": json.loads(out or "null")})
        except json.JSONDecodeError:
            self.calls.append({"args": list(args), "stdout": out})
        return out


def _comparable(calls: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Recorded calls with JSON answers parsed and normalised as `_normalised` does (every group sorted:
    a matrix group's order changes between runs, and the replayed import sorts those itself)."""
    out = []
    for call in calls:
        answer: Any = call.get("error", call.get("stdout"))
        if "json" in call:
            answer = (
                _normalised(call["json"], ()) if isinstance(call["json"], dict) else call["json"]
            )
        out.append((call["args"], answer))
    return out


@pytest.mark.parametrize("workdir", CASES, indirect=True)
def test_captured_answers_are_current(workdir: Workdir, buildx: str) -> None:
    """The unit tests replay `captured.json`; it must still be what this buildx answers (and the expected
    outputs what the importer writes of it). BAKEPY_UPDATE_FIXTURES=1 rewrites them."""
    from bakepy.bake import importer
    from bakepy.bake.importer.resolve import source_texts

    source = importer.BakeSource(
        files=tuple(workdir.files),
        variables=tuple(tuple(v.split("=", 1)) for v in workdir.config.get("vars", [])),  # type: ignore[misc]
        targets=tuple(workdir.config.get("targets", [])),
        cwd=workdir.path,
    )
    recorder = RecordingRunner()
    project = importer.import_bake(source, recorder)
    captured = {"calls": recorder.calls}
    case_dir = CORPUS / workdir.name
    expected = {
        "captured.json": json.dumps(captured, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        "expected.toml": importer.to_toml(project),
        "expected_bakefile.py": importer.to_python(project, texts=source_texts(source)),
    }
    for name, text in expected.items():
        path = case_dir / name
        if UPDATE:
            path.write_text(text, encoding="utf-8")
        elif name == "captured.json":
            stored = (
                json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"calls": []}
            )
            assert _comparable(stored["calls"]) == _comparable(recorder.calls), (
                f"{path} is stale: run with BAKEPY_UPDATE_FIXTURES=1"
            )
        else:
            # bake lists a matrix group over several keys in Go map order, which changes from run to run
            assert path.exists() and _group_order_free(
                path.read_text(encoding="utf-8")
            ) == _group_order_free(text), f"{path} is stale: run with BAKEPY_UPDATE_FIXTURES=1"


def test_invalid_hcl_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buildx: str
) -> None:
    """buildx's own message, on one line, naming the file and position, with the fix as a hint."""
    from typer.testing import CliRunner

    from bakepy.cli.app import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docker-bake.hcl").write_text('target "app" { context = "."\n  tags = ["x"] }\n')
    result = CliRunner().invoke(app, ["import"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: docker-bake.hcl:1,")
    assert "Invalid single-argument block definition" in errors[0]
    assert "hint: fix the bake definition" in result.stderr
    assert not (tmp_path / "bakepy.toml").exists()


def test_no_bake_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buildx: str) -> None:
    from typer.testing import CliRunner

    from bakepy.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUILDX_BAKE_FILE", raising=False)
    result = CliRunner().invoke(app, ["import"])
    assert result.exit_code == 2
    assert "error: no bake definition found in the current directory" in result.stderr
    assert "hint: name the files to import" in result.stderr


def test_example_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buildx: str) -> None:
    """examples/imported/bakepy.toml is what `bakepy import` makes of the docker-bake.hcl next to it, and it
    round-trips like the corpus."""
    from typer.testing import CliRunner

    from bakepy.cli.app import app

    example = CORPUS.parent.parent.parent / "examples" / "imported"
    work = tmp_path / "imported"
    shutil.copytree(example, work, ignore=shutil.ignore_patterns("bakepy.toml"))
    monkeypatch.chdir(work)
    for name in (
        "TAG",
        "REGISTRY",
        "SOURCE_DATE_EPOCH",
        "BUILDX_BAKE_FILE",
        "BUILDX_BAKE_FILE_RELATIVE_PATHS",
    ):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["import"])
    assert result.exit_code == 0, result.output
    text = (work / "bakepy.toml").read_text(encoding="utf-8")
    if UPDATE:
        (example / "bakepy.toml").write_text(text, encoding="utf-8")
    assert text == (example / "bakepy.toml").read_text(encoding="utf-8"), (
        "run with BAKEPY_UPDATE_FIXTURES=1"
    )
    wd = Workdir.__new__(Workdir)
    wd.name, wd.config, wd.path, wd._sockets = "examples/imported", {}, work, []
    names = wd.names()
    _compare(wd, work / "bakepy.toml", names)
    _compare(wd, work / "bakepy.toml", names, {"TAG": "1.2.3", "REGISTRY": "docker.io/acme"})


def _group_order_free(text: str) -> list[str]:
    """The text with the members of each one-line group list sorted (TOML `targets = [...]`, Python
    `Group(targets=(...))`): what a fixture must match when bake's own order is not stable."""
    import re

    out = []
    for line in text.splitlines():
        m = re.search(r"targets ?= ?[\[(](.*)[\])]", line)
        if m:
            items = sorted(re.findall(r'"[^"]*"', m.group(1)))
            line = line[: m.start(1)] + ", ".join(items) + line[m.end(1) :]
        out.append(line)
    return out
