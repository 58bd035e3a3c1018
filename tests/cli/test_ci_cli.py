"""`bakepy matrix`, `build`, `merge` and `ci github|gitlab` through typer's CliRunner: exit codes, messages,
--json shapes, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. Docker is replaced by the in-memory fake registry."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from fake_registry import FakeRunner, offline
from typer.testing import CliRunner

from bakepy.cli.app import app

cli = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native-runners"
GITLAB_RUNNERS = [
    "--runner",
    "linux/arm64=saas-linux-small-arm64",
    "--runner",
    "default=saas-linux-small-amd64",
]

PROJECT = """\
[project]
registries = ["127.0.0.1:5000", "ghcr.io/acme"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["latest", "1.0"]
runners = {{ "linux/arm64" = "ubuntu-24.04-arm", default = "ubuntu-latest" }}
{extra}

[target.web]

[target.api]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_SHA", "CI_COMMIT_SHA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BAKEPY_REVISION", "c" * 40)
    (tmp_path / "bakepy.toml").write_text(PROJECT.format(extra=""))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    """Every Runner the commands create is this one fake registry."""
    runner = FakeRunner()
    offline(monkeypatch)
    monkeypatch.setattr("bakepy.runner.Runner", lambda **_: runner)
    return runner


# -- matrix ---------------------------------------------------------------------------------------------
def test_matrix_json_by_default(project: Path) -> None:
    result = cli.invoke(app, ["matrix"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(e["platform"], e["runner"], e["qemu"]) for e in data["entries"]] == [
        ("linux/amd64", "ubuntu-latest", False),
        ("linux/arm64", "ubuntu-24.04-arm", False),
    ]


def test_matrix_in_github_actions_writes_github_output(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = project / "github_output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli.invoke(app, ["matrix", "--format", "github"])
    assert result.exit_code == 0, result.output
    lines = output.read_text().splitlines()
    assert lines[0] == "earlier=1"  # appended, never truncated
    assert lines[1] == f"matrix={result.stdout.strip()}"
    assert (
        json.loads(lines[1].removeprefix("matrix="))["include"][1]["runner"] == "ubuntu-24.04-arm"
    )


def test_matrix_runner_override_and_split(project: Path) -> None:
    result = cli.invoke(
        app,
        [
            "matrix",
            "--format",
            "gitlab",
            "--by",
            "target-platform",
            "--runner",
            "linux/amd64=x86-box",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["BAKEPY_TARGETS"], r["BAKEPY_PLATFORM"], r["BAKEPY_RUNNER"]) for r in rows] == [
        ("web", "linux/amd64", "x86-box"),
        ("web", "linux/arm64", "ubuntu-24.04-arm"),
        ("api", "linux/amd64", "x86-box"),
        ("api", "linux/arm64", "ubuntu-24.04-arm"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["matrix", "--format", "yaml"], "--format: 'yaml' is not one of github, gitlab, json"),
        (["matrix", "--by", "target"], "--by: 'target' is not one of platform, target-platform"),
        (["matrix", "--runner", "linux/arm64"], "--runner: 'linux/arm64' is not PLATFORM=LABEL"),
        (["matrix", "nope"], "unknown target or group 'nope'"),
    ],
)
def test_matrix_bad_input_exits_2(project: Path, argv: list[str], message: str) -> None:
    result = cli.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.stderr


# -- build and merge ------------------------------------------------------------------------------------
def test_build_needs_a_platform_and_records_need_a_push(project: Path) -> None:
    result = cli.invoke(app, ["build"])
    assert result.exit_code == 2
    assert "--platform is required" in result.stderr
    result = cli.invoke(app, ["build", "--platform", "linux/amd64", "--records", "r"])
    assert result.exit_code == 2
    assert "--records needs --push-by-digest" in result.stderr


def build(platform: str) -> None:
    result = cli.invoke(
        app, ["build", "--platform", platform, "--push-by-digest", "--records", "records", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["platform"] == platform
    assert [r["target"] for r in data["records"]] == ["web", "api"]


def test_build_then_merge(project: Path, fake: FakeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = project / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    build("linux/amd64")
    build("linux/arm64")
    assert summary.read_text().count("### bakepy: built") == 2

    result = cli.invoke(app, ["merge", "--records", "records", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["partial"] is False
    assert {(p["target"], p["registry"]) for p in data["published"]} == {
        (t, r) for t in ("web", "api") for r in ("127.0.0.1:5000", "ghcr.io")
    }
    assert fake.tag_platforms("ghcr.io/acme/web:1.0") == {"linux/amd64", "linux/arm64"}
    text = summary.read_text()
    assert "### bakepy: published" in text
    assert "| web | ghcr.io | `latest`, `1.0` |" in text


def test_merge_with_a_missing_platform(project: Path, fake: FakeRunner) -> None:
    build("linux/amd64")
    build("linux/arm64")
    (project / "records" / "api--linux-arm64.json").unlink()

    refused = cli.invoke(app, ["merge", "--records", "records"])
    assert refused.exit_code == 2
    assert "error: missing digest records for api linux/arm64; no tag was moved" in refused.stderr
    assert "--allow-partial" in refused.stderr
    assert fake.created == []

    partial = cli.invoke(app, ["merge", "--records", "records", "--allow-partial"])
    assert partial.exit_code == 0, partial.output
    assert "warning: --allow-partial: published without api linux/arm64" in partial.stderr
    assert fake.tag_platforms("127.0.0.1:5000/api:latest") == {"linux/amd64"}


def test_merge_dry_run_moves_nothing(project: Path, fake: FakeRunner) -> None:
    build("linux/amd64")
    build("linux/arm64")
    result = cli.invoke(app, ["merge", "--records", "records", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("imagetools create") == 4
    assert fake.created == []


def test_merge_without_records_is_nothing_to_do(project: Path) -> None:
    (project / "records").mkdir()
    result = cli.invoke(app, ["merge", "--records", "records"])
    assert result.exit_code == 3
    assert "no digest records to merge" in result.stderr


# -- ci github / gitlab ---------------------------------------------------------------------------------
def test_ci_github_to_stdout_and_file(project: Path) -> None:
    result = cli.invoke(app, ["ci", "github"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Generated by `bakepy ci github`")
    assert "hint: set [project] cache" in result.stderr

    path = ".github/workflows/publish.yml"
    wrote = cli.invoke(app, ["ci", "github", "-o", path])
    assert wrote.exit_code == 0, wrote.output
    assert (project / path).read_text() == result.stdout.replace(
        "`bakepy ci github`", f"`bakepy ci github -o {path}`"
    )
    again = cli.invoke(app, ["ci", "github", "-o", path, "--json"])
    assert json.loads(again.stdout)["changed"] is False
    assert cli.invoke(app, ["ci", "github", "--check"]).exit_code == 0


def test_ci_check_fails_when_the_project_changed(project: Path) -> None:
    assert cli.invoke(app, ["ci", "gitlab", "-o", ".gitlab-ci.yml"]).exit_code == 0
    assert cli.invoke(app, ["ci", "gitlab", "--check"]).exit_code == 0
    (project / "bakepy.toml").write_text(
        PROJECT.format(extra="").replace('"linux/arm64"]', '"linux/arm64", "linux/s390x"]')
    )
    result = cli.invoke(app, ["ci", "gitlab", "--check"])
    assert result.exit_code == 7
    assert ".gitlab-ci.yml is out of date" in result.stderr
    assert "regenerate it: bakepy ci gitlab -o .gitlab-ci.yml" in result.stderr


def test_example_workflows_are_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands in examples/native-runners/bakepy.toml's header reproduce the checked-in files."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    monkeypatch.chdir(copy)
    assert cli.invoke(app, ["ci", "github", "--check"]).exit_code == 0
    result = cli.invoke(app, ["ci", "gitlab", *GITLAB_RUNNERS, "--check"])
    assert result.exit_code == 0, result.stderr


def test_ci_github_with_a_project_file_and_targets(project: Path) -> None:
    sub = project / "deploy"
    sub.mkdir()
    (sub / "bakepy.toml").write_text(
        textwrap.dedent(PROJECT.format(extra='cache = { type = "gha" }'))
    )
    result = cli.invoke(app, ["ci", "github", "-f", "deploy/bakepy.toml", "web"])
    assert result.exit_code == 0, result.output
    assert "bakepy merge --records records -f deploy/bakepy.toml web" in result.stdout
    assert "ghaction-github-runtime" in result.stdout
    assert "hint" not in result.stderr


def test_build_and_merge_default_to_the_project_records_folder(
    project: Path, fake: FakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for platform in ("linux/amd64", "linux/arm64"):
        built = cli.invoke(
            app, ["build", "-f", "../bakepy.toml", "--platform", platform, "--push-by-digest"]
        )
        assert built.exit_code == 0, built.output
    assert len(list((project / ".bakepy" / "records").glob("*.json"))) == 4
    merged = cli.invoke(app, ["merge", "-f", "../bakepy.toml"])
    assert merged.exit_code == 0, merged.output
    assert fake.tag_platforms("127.0.0.1:5000/web:latest") == {"linux/amd64", "linux/arm64"}
