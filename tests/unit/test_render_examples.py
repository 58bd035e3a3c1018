"""examples/multi is one project in two forms: bakepy.toml and bakefile.py render byte for byte the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakepy.bake.render import dumps, render_bake
from bakepy.config import load_project
from bakepy.publish.plan import plan_publish, plan_to_json

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("env", [{}, {"VERSION": "2.0"}])
def test_multi_renders_identically_in_both_forms(env: dict[str, str]) -> None:
    toml = load_project(EXAMPLES / "multi" / "bakepy.toml", env=env).project
    python = load_project(EXAMPLES / "multi" / "bakefile.py", env=env).project
    assert dumps(render_bake(toml)) == dumps(render_bake(python))
    assert plan_to_json(plan_publish(toml)) == plan_to_json(plan_publish(python))
    assert dumps(render_bake(toml, platform="linux/arm64", publish=True)) == dumps(
        render_bake(python, platform="linux/arm64", publish=True)
    )


def test_multi_is_one_app_for_three_pythons() -> None:
    project = load_project(EXAMPLES / "multi" / "bakepy.toml", env={}).project
    plan = plan_publish(project)
    assert plan.names == ("app-py311", "app-py312", "app-py313")
    assert {
        t.name: project.resolved.targets[t.name].args["PYTHON_VERSION"] for t in plan.targets
    } == {
        "app-py311": "3.11",
        "app-py312": "3.12",
        "app-py313": "3.13",
    }
    assert len(plan.units) == 6
