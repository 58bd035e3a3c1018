"""The CLI shell: version, help, exit codes, one-line errors, --debug, Ctrl-C."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bakepy
from bakepy.cli.app import app
from bakepy.errors import ConfigError

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"bakepy {bakepy.__version__}"


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "doctor" in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("typed", "line"),
    [
        ("innit", "error: no command 'innit'; did you mean 'init'?"),
        ("stauts", "error: no command 'stauts'; did you mean 'status'?"),
        ("xyzzy", "error: no command 'xyzzy'"),
    ],
)
def test_an_unknown_command_lists_the_commands(typed: str, line: str) -> None:
    # issue 24 item 13: it answered "bakepy -h lists the options" instead of the commands there are
    from bakepy.cli import _COMMANDS

    result = runner.invoke(app, [typed])
    assert result.exit_code == 2
    error, hint = result.stderr.splitlines()
    assert error == line
    assert hint.startswith("hint: the commands: init, doctor, publish, render, plan, ")
    assert hint.endswith(" (bakepy COMMAND -h for one)")
    listed = hint.removeprefix("hint: the commands: ").removesuffix(" (bakepy COMMAND -h for one)")
    assert sorted(listed.split(", ")) == sorted(_COMMANDS)


@pytest.mark.parametrize(
    ("argv", "line", "hint"),
    [
        (
            ["ci", "gitub"],
            "error: no command 'gitub' in bakepy ci; did you mean 'github'?",
            "hint: the commands: github, gitlab (bakepy ci COMMAND -h for one)",
        ),
        (
            ["builder", "crate"],
            "error: no command 'crate' in bakepy builder; did you mean 'create'?",
            "hint: the commands: create, inspect, rm (bakepy builder COMMAND -h for one)",
        ),
    ],
)
def test_an_unknown_subcommand_is_answered_as_at_the_top(
    argv: list[str], line: str, hint: str
) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line, hint]


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_fast_paths_stay_light(argv: list[str]) -> None:
    """`bakepy --version` / `--help` must not import python_on_whales or pydantic (start-up time)."""
    code = textwrap.dedent(
        f"""
        import atexit, json, sys
        sys.argv = ["bakepy", *{argv!r}]
        from bakepy.cli import main

        def report():
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("python_on_whales", "pydantic"))
            print(json.dumps(heavy), file=sys.stderr)

        atexit.register(report)  # run as the command ends, however it ends
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    assert heavy == []


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bakepy", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("bakepy ")


def _raise(exc: BaseException) -> object:
    def fake(*args: object, **kwargs: object) -> object:
        raise exc

    return fake


def test_expected_error_is_one_line_with_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "bakepy.doctor.diagnose",
        _raise(ConfigError("bakepy.toml: target.app.platforms[1]: bad", hint="fix it")),
    )
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 2
    assert "error: bakepy.toml: target.app.platforms[1]: bad" in result.stderr
    assert "hint: fix it" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bakepy.doctor.diagnose", _raise(ConfigError("boom")))
    result = runner.invoke(app, ["--debug", "doctor"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "error: boom" in result.stderr


def test_unexpected_error_says_how_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bakepy.doctor.diagnose", _raise(RuntimeError("kaput")))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "unexpected error: RuntimeError: kaput" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bakepy.doctor.diagnose", _raise(KeyboardInterrupt()))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 130


def test_missing_docker_is_an_expected_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 7
    report = json.loads(result.stdout)
    docker = report["checks"][0]
    assert docker["name"] == "docker CLI" and docker["status"] == "fail"
    assert "apt-get install" in docker["fix"]
    assert report["ok"] is False


def test_publish_without_docker_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "hello"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "hello", project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["publish"])
    assert result.exit_code == 6
    assert "error: the docker CLI was not found on PATH" in result.stderr
    assert "hint: install the docker CLI" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*.output=type=local,dest=out", "bakepy sets output itself"),
        ("app.tags=x:1", "bakepy sets tags itself"),
        ("nonsense", "write TARGET.ATTRIBUTE=VALUE"),
    ],
)
def test_set_cannot_take_over_outputs_or_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    from typer.testing import CliRunner

    from bakepy.cli.app import app

    (tmp_path / "bakepy.toml").write_text(
        '[project]\nregistries = ["127.0.0.1:5000"]\ntags = ["x"]\n\n[target.app]\n'
    )
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["publish", "--set", value])
    assert result.exit_code == 2
    assert message in result.stderr
