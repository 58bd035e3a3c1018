"""`bakepy import` through the CLI on the real buildx: exit codes, messages, where the output goes.

`docker buildx bake --print` needs no builder daemon, so these run in milliseconds; the `stack` fixture only
guarantees the buildx plugin is installed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bake"
cli = CliRunner()
pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`case(name)` copies a corpus case into a temporary directory and enters it."""

    def use(name: str) -> Path:
        work = tmp_path / name
        shutil.copytree(
            CORPUS / name, work, ignore=shutil.ignore_patterns("expected*", "captured.json")
        )
        monkeypatch.chdir(work)
        return work

    yield use


def test_writes_bakepy_toml(case: Any) -> None:
    work = case("hcl-basic")
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 0, result.output
    assert (work / "bakepy.toml").read_text() == (
        CORPUS / "hcl-basic" / "expected.toml"
    ).read_text()
    assert (
        result.stderr.strip().splitlines()[-1]
        == "wrote bakepy.toml: 1 target, 1 group, 0 variables"
    )
    assert result.stdout == ""


def test_writes_python(case: Any) -> None:
    work = case("hcl-basic")
    result = cli.invoke(app, ["import", "--python"])
    assert result.exit_code == 0, result.output
    expected = (CORPUS / "hcl-basic" / "expected_bakefile.py").read_text()
    assert (work / "bakefile.py").read_text() == expected


def test_py_output_means_python(case: Any) -> None:
    work = case("hcl-basic")
    result = cli.invoke(app, ["import", "-o", "project.py"])
    assert result.exit_code == 0, result.output
    assert (work / "project.py").read_text() == (
        CORPUS / "hcl-basic" / "expected_bakefile.py"
    ).read_text()


def test_output_must_be_a_file_in_an_existing_directory(case: Any) -> None:
    work = case("hcl-basic")
    (work / "sub").mkdir()
    result = cli.invoke(app, ["import", "-o", "sub"])
    assert result.exit_code == 2
    assert "error: sub is a directory" in result.stderr
    result = cli.invoke(app, ["import", "-o", "missing/bakepy.toml"])
    assert result.exit_code == 2
    assert "error: missing/bakepy.toml: no directory missing" in result.stderr


def test_stdout(case: Any) -> None:
    work = case("hcl-basic")
    result = cli.invoke(app, ["import", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (CORPUS / "hcl-basic" / "expected.toml").read_text()
    assert not (work / "bakepy.toml").exists()
    assert "wrote stdout" in result.stderr


def test_files_vars_and_targets_reach_buildx(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    case("hcl-variables-env")
    config = tomllib.loads((CORPUS / "hcl-variables-env" / "case.toml").read_text())
    for key, value in config.get("env", {}).items():  # the environment the case was captured in
        monkeypatch.setenv(key, value)
    result = cli.invoke(app, ["import", "--var", "CHANNEL=beta", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (CORPUS / "hcl-variables-env" / "expected.toml").read_text()

    case("hcl-multi-file")
    result = cli.invoke(app, ["import", "base.hcl", "ci.hcl", "release.json", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (CORPUS / "hcl-multi-file" / "expected.toml").read_text()

    case("hcl-linked-subset")
    result = cli.invoke(app, ["import", "--targets", "app", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (CORPUS / "hcl-linked-subset" / "expected.toml").read_text()


def test_one_warning_line_per_note(case: Any) -> None:
    case("hcl-variables")
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # FULL is kept as "${REPO}:${TAG}"; PUSH, which bake computes with, is frozen (issue 24, item 2)
    assert [w.split(":")[1].strip() for w in warnings] == ["variable.PUSH"]
    assert result.stderr.strip().endswith("6 variables; 1 warning")


def test_refuses_to_overwrite(case: Any) -> None:
    work = case("hcl-basic")
    (work / "bakepy.toml").write_text("# mine\n")
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 2
    assert "error: bakepy.toml already exists" in result.stderr
    assert "--force" in result.stderr
    assert (work / "bakepy.toml").read_text() == "# mine\n"
    assert cli.invoke(app, ["import", "--force"]).exit_code == 0


def test_missing_file(case: Any) -> None:
    case("hcl-basic")
    result = cli.invoke(app, ["import", "nope.hcl"])
    assert result.exit_code == 2
    assert "error: nope.hcl: no such file" in result.stderr


def test_bad_var(case: Any) -> None:
    case("hcl-basic")
    result = cli.invoke(app, ["import", "--var", "NOVALUE"])
    assert result.exit_code == 2
    assert "--var 'NOVALUE': expected NAME=VALUE" in result.stderr


def test_invalid_hcl_is_one_line_with_buildx_message(case: Any) -> None:
    work = case("hcl-basic")
    (work / "docker-bake.hcl").write_text(
        'target "app" {\n  context = "." dockerfile = "Dockerfile"\n}\n'
    )
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: docker-bake.hcl:2,")
    assert "Missing newline after argument" in errors[0]
    assert errors[0].endswith("(docker buildx bake)")
    assert "hint: fix the bake definition" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_to_import(case: Any) -> None:
    work = case("hcl-basic")
    (work / "docker-bake.hcl").write_text('variable "TAG" {\n  default = "1"\n}\n')
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 3
    assert "has no targets" in result.stderr


def test_stdin(case: Any) -> None:
    work = case("hcl-basic")
    text = (work / "docker-bake.hcl").read_bytes()
    result = cli.invoke(app, ["import", "-", "-o", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert not result.stdout.startswith("#")  # nothing to act on: no header
    expected = (CORPUS / "hcl-basic" / "expected.toml").read_text()
    body = [line for line in expected.splitlines() if not line.startswith("#")]
    assert [line for line in result.stdout.splitlines() if not line.startswith("#")] == body


def test_source_date_epoch_is_not_imported(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    case("hcl-basic")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = cli.invoke(app, ["import", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert "SOURCE_DATE_EPOCH" not in result.stdout
    assert "1700000000" not in result.stdout


def test_elsewhere_says_paths_stay_relative_to_here(case: Any, tmp_path: Path) -> None:
    case("hcl-basic")
    out = tmp_path / "elsewhere" / "bakepy.toml"
    out.parent.mkdir()
    result = cli.invoke(app, ["import", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "Relative paths (context, contexts, secrets, outputs) are relative to"
        in out.read_text().replace("\n# ", " ")
    )


def test_help() -> None:
    result = cli.invoke(app, ["import", "--help"])
    assert result.exit_code == 0
    for option in ("--python", "--output", "--targets", "--var", "--force"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("compose", "message"),
    [
        (
            "services:\n  app:\n    build:\n      context: .\n      network: mynet\n",
            "error: compose.yaml (as imported): target.app.network: unknown network mode 'mynet'; use default, "
            "host or none",
        ),
        (
            "services:\n  app:\n    build:\n      context: .\n      tags:\n        - docker.io/acme/${IMAGE}:1.0\n",
            "error: compose.yaml (as imported): target.app.tags[0]: 'docker.io/acme/:1.0' is not a valid image "
            "reference",
        ),
    ],
    ids=["named-network", "tag-of-an-unset-variable"],
)
def test_an_import_bakepy_would_refuse_to_load_is_refused_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compose: str, message: str
) -> None:
    """Values bake prints and buildx cannot build with either (docker/compose's own test files have both)."""
    (tmp_path / "compose.yaml").write_text(compose)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGE", raising=False)
    result = cli.invoke(app, ["import"])
    assert result.exit_code == 2
    first, hint = result.stderr.strip().splitlines()[-2:]
    assert first.startswith(message)
    assert hint.startswith("hint: ")
    assert not (tmp_path / "bakepy.toml").exists()


@pytest.mark.parametrize(("python", "frozen"), [(False, True), (True, False)])
def test_a_variable_bake_computes_with_is_said_frozen_only_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: bool, frozen: bool
) -> None:
    # issue 24 item 2: the Python form keeps VERSION live; its warnings must not say it is frozen
    shutil.copy(CORPUS / "live-python-tags.hcl", tmp_path / "docker-bake.hcl")
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["import", *(["--python"] if python else [])])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("variable.VERSION" in w and "frozen" in w for w in warned) is frozen, warned
    written = (tmp_path / ("bakefile.py" if python else "bakepy.toml")).read_text()
    assert ("frozen" in written) is frozen
