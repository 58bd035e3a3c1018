"""`bakepy render`, `bakepy plan`, `bakepy schema` through the CLI: outputs, exit codes, the invalid catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app
from bakepy.schema import dumps_schema

FIXTURES = Path(__file__).parents[1] / "fixtures"
INVALID = FIXTURES / "invalid"
RENDER = FIXTURES / "render"
EXAMPLES = Path(__file__).parents[2] / "examples"


def catalog() -> list[Path]:
    return sorted(
        [*INVALID.glob("*.toml"), *INVALID.glob("*.py"), *INVALID.glob("*/pyproject.toml")]
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("path", catalog(), ids=lambda p: str(p.relative_to(INVALID)))
def test_invalid_catalog_exits_2_with_exactly_its_message(
    runner: CliRunner, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(INVALID)
    monkeypatch.delenv("BAKEPY_TEST_UNSET_VARIABLE", raising=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = ["error: " + lines[0].removeprefix("# expect: ")]
    if len(lines) > 1 and lines[1].startswith("# hint: "):
        expected.append("hint: " + lines[1].removeprefix("# hint: "))
    result = runner.invoke(app, ["render", "-f", str(path.relative_to(INVALID))])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_render_golden_to_stdout_and_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = RENDER / "inherits"
    monkeypatch.chdir(case)
    result = runner.invoke(app, ["render"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (case / "render.json").read_text(encoding="utf-8")
    out = tmp_path / "bake.json"
    result = runner.invoke(app, ["render", "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8") == (case / "render.json").read_text(encoding="utf-8")


def test_render_selected_targets_for_one_platform(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES / "multi")
    result = runner.invoke(
        app, ["render", "-f", "bakepy.toml", "app-py312", "--platform", "linux/arm64", "--publish"]
    )
    assert result.exit_code == 0, result.output
    bake = json.loads(result.stdout)
    assert list(bake["target"]) == ["app-py312"]
    assert bake["target"]["app-py312"]["platforms"] == ["linux/arm64"]
    assert bake["target"]["app-py312"]["output"][0]["push-by-digest"] == "true"


def test_render_unknown_target(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "multi")
    result = runner.invoke(app, ["render", "-f", "bakepy.toml", "app-py314"])
    assert result.exit_code == 2
    assert "unknown target or group 'app-py314'; did you mean" in result.stderr


def test_render_without_a_project(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["render"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: no bakepy.toml, pyproject.toml with [tool.bakepy] or bakefile.py in "
    )


def test_a_folder_with_two_project_files_is_refused_naming_both(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 24 item 12: examples/multi holds the project twice (bakepy.toml and bakefile.py); the TOML was
    # used silently. Now -f chooses.
    folder = EXAMPLES / "multi"
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: bakepy.toml and bakefile.py in {folder} both define the project; bakepy does not "
        "guess which one to use",
        "hint: pick one with -f bakepy.toml or -f bakefile.py, or keep only one of them in the folder",
    ]
    assert "Traceback" not in result.output


def test_plan_json_is_the_golden_shape(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    case = RENDER / "matrix"
    monkeypatch.chdir(case)
    result = runner.invoke(app, ["plan", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((case / "plan.json").read_text(encoding="utf-8"))


def test_plan_human_output(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "multi")
    result = runner.invoke(
        app,
        ["plan", "-f", "bakepy.toml", "--platform", "linux/amd64", "app-py311"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "Publish plan " in result.stdout
    assert "127.0.0.1:5000/examples/multi-py311:1.0" in result.stdout
    assert (
        "docker buildx bake --file .bakepy/docker-bake.json --metadata-file .bakepy/metadata.json --progress plain app-py311"
        in result.stdout
    )
    assert (
        "docker buildx imagetools create --tag 127.0.0.1:5000/examples/multi-py311:latest "
        "--tag 127.0.0.1:5000/examples/multi-py311:1.0 '127.0.0.1:5000/examples/multi-py311@<digest:app-py311>'"
    ) in result.stdout


def test_plan_nothing_to_do_exits_3(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "multi")
    result = runner.invoke(app, ["plan", "-f", "bakepy.toml", "--platform", "linux/s390x"])
    assert result.exit_code == 3


def test_plan_python_form(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "multi")
    toml = runner.invoke(app, ["plan", "--json", "-f", "bakepy.toml"])
    python = runner.invoke(app, ["plan", "--json", "-f", "bakefile.py"])
    assert toml.exit_code == python.exit_code == 0, python.output
    assert toml.stdout == python.stdout


def test_schema(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == dumps_schema()


def test_render_writes_what_bake_prints_and_plan_refuses_it_naming_the_variable(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 10: `repo:${TAG}` with TAG="" is printed by bake as `repo:`; a publish of it must stop, saying why.
    (tmp_path / "bakepy.toml").write_text(
        '[variable.TAG]\ndefault = ""\n\n[target.web]\ntags = ["example.org/web:${TAG}"]\n'
        'platforms = ["linux/mips/softflaot", "local"]\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAG", raising=False)
    rendered = runner.invoke(app, ["render"])
    assert rendered.exit_code == 0, rendered.output
    web = json.loads(rendered.stdout)["target"]["web"]
    assert web["tags"] == ["example.org/web:"]
    assert web["platforms"] == ["linux/mips/softflaot", "local"]
    assert rendered.stderr.splitlines() == [
        "warning: bakepy.toml: target.web.platforms[0]: 'linux/mips/softflaot': unknown variant "
        "'softflaot' for mips (known: hardfloat, softfloat); did you mean 'softfloat'?; buildx passes "
        "it on as written, check the build"
    ]
    planned = runner.invoke(app, ["plan"])
    assert planned.exit_code == 2
    assert planned.stderr.splitlines()[-2] == (
        "error: bakepy.toml: target.web.tags[0]: 'example.org/web:' has an invalid tag '': use letters, "
        "digits, '_', '.' and '-', not starting with '.' or '-'; it is 'example.org/web:${TAG}' with "
        'TAG = "" (the default of variable.TAG)'
    )
    monkeypatch.setenv("TAG", "1.0")
    assert runner.invoke(app, ["plan", "--json"]).exit_code == 0


ECR_SOURCES_TOML = """\
[project]
registries = ["127.0.0.1:5000/acme"]
tags = ["latest", "1.0"]

[target.hello]
image = "hello"
sources = [
  "127.0.0.1:5000/acme/hello:amd64",
  "linux/arm64=127.0.0.1:5000/acme/hello:arm64",
]
"""


@pytest.mark.parametrize("command", [["plan"], ["publish", "--dry-run"]])
def test_plan_of_a_target_with_sources_shows_its_assemble_step(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # issue 24 item 1: docs/ecr.md's declarative form ended in "unexpected error: KeyError: 'argv'" (the
    # assemble step runs no command: bakepy copies the sources through the registry API)
    (tmp_path / "bakepy.toml").write_text(ECR_SOURCES_TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    commands = lines[lines.index("Commands:") + 1 :]
    assert commands == [
        "  # assemble hello: read and check 127.0.0.1:5000/acme/hello:amd64 "
        "linux/arm64=127.0.0.1:5000/acme/hello:arm64, copy them by digest and stage their index "
        "(registry API, no command)",
        "  docker buildx imagetools create --tag 127.0.0.1:5000/acme/hello:latest "
        "--tag 127.0.0.1:5000/acme/hello:1.0 '127.0.0.1:5000/acme/hello@<digest:hello>'",
    ]


def test_render_to_a_default_bake_file_beside_the_original_warns_that_bake_reads_both(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 24 item 3: after `bakepy import` and `render -o docker-bake.json` in one folder, plain
    # `docker buildx bake` reads docker-bake.json and docker-bake.hcl, and the old .hcl (read later) wins
    shutil.copy(RENDER / "inherits" / "bakepy.toml", tmp_path / "bakepy.toml")
    monkeypatch.chdir(tmp_path)
    alone = runner.invoke(app, ["render", "-o", "docker-bake.json"])
    assert alone.exit_code == 0, alone.output
    assert alone.stderr == ""
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n', encoding="utf-8")
    beside = runner.invoke(app, ["render", "-o", "docker-bake.json"])
    assert beside.exit_code == 0, beside.output
    assert beside.stderr.splitlines() == [
        "warning: docker-bake.json: plain `docker buildx bake` here also reads docker-bake.hcl and merges "
        "them (the values of docker-bake.hcl win); move docker-bake.hcl away or build with "
        "`docker buildx bake -f docker-bake.json`"
    ]
    # a name bake does not look for is read only with -f: nothing shadows it
    other = runner.invoke(app, ["render", "-o", "bake.json"])
    assert (other.exit_code, other.stderr) == (0, "")
