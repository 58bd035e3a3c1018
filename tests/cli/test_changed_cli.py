"""`bakepy plan --changed` through the CLI: each target's verdict said, the reuse steps in the plan, and the
JSON shape (the registries are stood in for by a decided ChangeSet: reading them is tests/e2e/test_changed.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app
from bakepy.publish.changed import ChangeSet, TargetChange
from bakepy.publish.fingerprint import Fingerprint

PROJECT = """\
[project]
registries = ["r.example"]
tags = ["1"]
platforms = ["linux/amd64"]
[target.web]
[target.api]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bakepy.toml").write_text(PROJECT)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)

    def decided(*args: Any, **kwargs: Any) -> ChangeSet:
        web = Fingerprint("web", "linux/amd64", {"context": "a" * 64})
        api = Fingerprint("api", "linux/amd64", {"context": "b" * 64})
        return ChangeSet(
            (
                TargetChange("web", True, ("linux/amd64: context (vs r.example/web:1)",), (web,)),
                TargetChange(
                    "api",
                    False,
                    ("unchanged: keeps what r.example/api:1 holds",),
                    (api,),
                    "r.example/api@sha256:" + "c" * 64,
                    "r.example/api:1",
                ),
            )
        )

    monkeypatch.setattr("bakepy.publish.changed.read_changes", decided)
    return tmp_path


def test_plan_changed_says_why(project: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--changed"])
    assert result.exit_code == 0, result.output
    assert "web: builds: linux/amd64: context (vs r.example/web:1)" in result.output
    assert "api: unchanged: keeps the platform manifests r.example/api:1 holds" in result.output
    assert "# reuse api: unchanged, not built" in result.output
    build = next(line for line in result.output.splitlines() if "buildx bake" in line)
    assert build.endswith(" web")


def test_plan_changed_json(project: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--changed", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(c["target"], c["build"]) for c in data["changes"]] == [("web", True), ("api", False)]
    assert data["changes"][1]["reuse"] == "r.example/api@sha256:" + "c" * 64
    assert {"step": "reuse", "target": "api", "source": data["changes"][1]["reuse"]} in data[
        "commands"
    ]
    merge = next(c for c in data["commands"] if c["step"] == "merge" and c["target"] == "api")
    assert merge["argv"][-1] == data["changes"][1]["reuse"]
