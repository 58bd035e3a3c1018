"""The public Python API (`bakepy`): the model, tag rules and `load` / `render` / `plan`, as the CLI gives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bakepy
from bakepy.bake.render import render_bake
from bakepy.publish.plan import plan_publish, plan_to_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_public_name_is_there() -> None:
    for name in bakepy.__all__:
        assert getattr(bakepy, name) is not None, name
    with pytest.raises(AttributeError):
        _ = bakepy.nothing_here  # type: ignore[attr-defined]


def test_render_and_plan_are_what_the_cli_prints() -> None:
    # issue 24 item 14: there was no public function to render or plan from Python
    project = bakepy.load(EXAMPLES / "multi" / "bakepy.toml", env={})
    assert bakepy.render(project) == render_bake(project)
    assert bakepy.render(project, targets=["app-py312"], platform="linux/arm64", publish=True) == (
        render_bake(project, targets=["app-py312"], platform="linux/arm64", publish=True)
    )
    planned = bakepy.plan(project, ["app-py311"], ["linux/amd64"])
    assert isinstance(planned, bakepy.PublishPlan)
    assert json.dumps(plan_to_json(planned)) == json.dumps(
        plan_to_json(plan_publish(project, ["app-py311"], ["linux/amd64"]))
    )


def test_tag_rules_from_python_with_a_context() -> None:
    project = bakepy.Project(
        settings=bakepy.ProjectSettings(
            registries=["ghcr.io/acme"],
            platforms=["linux/amd64"],
            metadata=bakepy.MetadataSettings(
                tags=["type=semver,pattern={{version}}", bakepy.TagRule(type="sha")]
            ),
        ),
        targets={"app": bakepy.Target()},
    )
    release = bakepy.BuildContext(
        source="python", event="tag", tag="v1.2.3", sha="0123456789abcdef0123456789abcdef01234567"
    )
    tags = bakepy.plan(project, context=release).target("app").tags
    assert "ghcr.io/acme/app:1.2.3" in tags
    assert "ghcr.io/acme/app:sha-0123456" in tags
