"""The README's examples work as written: its bakepy.toml and its bakefile.py load, plan and render."""

from __future__ import annotations

import re
from pathlib import Path

from bakepy import Project
from bakepy.bake.render import render_bake
from bakepy.config import load_toml
from bakepy.publish.plan import plan_publish

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", README, re.S)
    assert found, f"README has no {language} example"
    return found.group(1)


def test_the_toml_example() -> None:
    project = load_toml(block("toml"), source="README.md")
    plan = plan_publish(project)
    assert sorted(plan.target("app").tags) == sorted(
        f"{r}/app:{t}"
        for r in ("ghcr.io/acme", "registry.example.com/acme")
        for t in ("latest", "1.2.3")
    )
    assert render_bake(project)["target"]["app"]["platforms"] == ["linux/amd64", "linux/arm64"]


def test_the_python_example() -> None:
    namespace: dict[str, object] = {}
    exec(compile(block("python"), "README.md", "exec"), namespace)
    project = namespace["project"]
    assert isinstance(project, Project)
    assert plan_publish(project).names == ("app-py312", "app-py313")
