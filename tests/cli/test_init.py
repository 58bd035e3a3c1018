"""`bakepy init` through the CLI: the file it writes loads and plans, what it prints, what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app
from bakepy.config import load_project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    for name in ("Dockerfile", "api/Dockerfile", "web/Dockerfile.prod"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("FROM scratch\n", encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setattr("bakepy.engine.git.origin_url", lambda cwd: "git@github.com:Acme/shop.git")
    return root


def test_init_writes_a_project_that_plans_and_says_what_next(project: Path) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "wrote bakepy.toml: 3 targets (shop, api, web-prod) for linux/amd64 and linux/arm64; registry "
        "ghcr.io/acme (from git remote origin github.com/Acme/shop)",
        "next:",
        "  bakepy plan                 # what a publish builds, tags and pushes",
        "  bakepy publish --dry-run    # and every command it runs",
    ]
    loaded = load_project(cwd=project)
    assert sorted(loaded.project.targets) == ["api", "shop", "web-prod"]
    planned = runner.invoke(app, ["plan", "--json"])
    assert planned.exit_code == 0, planned.output
    assert "ghcr.io/acme/web-prod:latest" in planned.stdout


def test_init_of_another_folder_names_it_in_the_next_commands(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.parent)
    result = runner.invoke(app, ["init", "shop", "--registry", "quay.io/acme"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("; registry quay.io/acme")
    assert "  cd shop && bakepy plan " in result.stdout
    assert (project / "bakepy.toml").is_file()


def test_init_never_overwrites_a_project_file(project: Path) -> None:
    (project / "bakepy.toml").write_text("# mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: bakepy.toml already exists: bakepy init never overwrites it (edit it, or move it away "
        "first)"
    ]
    assert (project / "bakepy.toml").read_text(encoding="utf-8") == "# mine\n"
    (project / "bakepy.toml").unlink()
    (project / "bakefile.py").write_text("project = None\n", encoding="utf-8")
    beside = runner.invoke(app, ["init"])
    assert beside.exit_code == 2
    assert beside.stderr.splitlines() == [
        "error: bakefile.py already defines the project: a bakepy.toml beside it would make two (keep "
        "that one, or move it away first)"
    ]
    assert not (project / "bakepy.toml").exists()


def test_init_without_a_dockerfile_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("bakepy.engine.git.origin_url", lambda cwd: None)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no Dockerfile under ")
    assert not (tmp_path / "bakepy.toml").exists()
