"""Golden render tests: every tests/fixtures/render/<case>/bakepy.toml renders byte for byte to its goldens.

Regenerate after an intended change with `BAKEPY_REGEN=1 pytest tests/unit/test_render.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from bakepy.bake.render import dumps, escape, publish_output, render_bake
from bakepy.config import load_project
from bakepy.errors import ConfigError, NothingToDoError
from bakepy.model import Project
from bakepy.publish.plan import plan_publish, plan_to_json

CASES = Path(__file__).parents[1] / "fixtures" / "render"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "bakepy.toml").is_file())


def golden_outputs(case: Path) -> dict[str, str]:
    """What each golden file of a case holds: the full render, and for publishing projects the publish
    render of one runner's slice and the plan."""
    project = load_project(case / "bakepy.toml", env={}).project
    out = {"render.json": dumps(render_bake(project))}
    try:
        plan = plan_publish(project)
    except ConfigError:
        return out
    first = plan.targets[0].platforms[:1]
    platform = first[0] if first else None
    out["publish.json"] = dumps(
        render_bake(project, targets=plan.names, platform=platform, publish=True)
    )
    out["plan.json"] = json.dumps(plan_to_json(plan), indent=2, sort_keys=True) + "\n"
    return out


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden(name: str) -> None:
    case = CASES / name
    outputs = golden_outputs(case)
    if os.environ.get("BAKEPY_REGEN"):
        for filename, text in outputs.items():
            (case / filename).write_text(text, encoding="utf-8")
    for filename, text in outputs.items():
        assert (case / filename).read_text(encoding="utf-8") == text, f"{name}/{filename} changed"
    stale = {p.name for p in case.glob("*.json")} - set(outputs)
    assert not stale, f"{name}: golden files no longer produced: {stale}"


def test_there_are_goldens() -> None:
    assert len(CASE_NAMES) >= 5


@pytest.mark.parametrize("name", CASE_NAMES)
def test_render_is_byte_stable(name: str) -> None:
    first = golden_outputs(CASES / name)
    for _ in range(3):
        assert golden_outputs(CASES / name) == first


def _random_project(rng: random.Random) -> dict[str, Any]:
    platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le"]
    targets: dict[str, Any] = {}
    for i in range(rng.randint(1, 12)):
        name = f"t{i}"
        body: dict[str, Any] = {
            "platforms": rng.sample(platforms, rng.randint(1, 3)),
            "args": {
                f"A{j}": rng.choice(["x", "${V}", "$${lit}", "%{p}"])
                for j in range(rng.randint(0, 4))
            },
            "labels": {f"l.{j}": str(rng.random()) for j in range(rng.randint(0, 3))},
            "tags": [f"127.0.0.1:5000/r/{name}:{k}" for k in range(rng.randint(0, 2))],
            "cache-from": rng.sample(
                ["type=gha,scope=a", "user/app:cache", "type=local,src=/c"], rng.randint(0, 2)
            ),
        }
        if i and rng.random() < 0.5:
            body["inherits"] = rng.sample(sorted(targets), rng.randint(1, min(2, len(targets))))
        targets[name] = body
    groups = {"default": {"targets": rng.sample(sorted(targets), rng.randint(1, len(targets)))}}
    return {
        "project": {
            "registries": ["127.0.0.1:5000/acme", "ghcr.io/acme"],
            "tags": ["latest", "${V}"],
            "cache": {"type": "gha"},
        },
        "variable": {"V": {"default": str(rng.randint(1, 9))}},
        "target": targets,
        "group": groups,
    }


@pytest.mark.parametrize("seed", range(25))
def test_property_render_and_plan_are_deterministic(seed: int) -> None:
    data = _random_project(random.Random(seed))
    renders = set()
    plans = set()
    for attempt in range(3):
        # a fresh model each time, and dict order shuffled inside maps: the output must not move
        shuffled = json.loads(json.dumps(data))
        for body in shuffled["target"].values():
            items = list(body["args"].items())
            random.Random(attempt).shuffle(items)
            body["args"] = dict(items)
        project = Project.model_validate(shuffled, context={"env": {}})
        renders.add(dumps(render_bake(project)))
        renders.add(dumps(render_bake(project)))
        plans.add(plan_to_json(plan_publish(project))["fingerprint"])
    assert len(renders) == 1
    assert len(plans) == 1


def test_escape() -> None:
    assert escape("${A} $${B} %{c}") == "$${A} $$${B} %%{c}"


def test_literals_are_escaped_everywhere() -> None:
    project = Project.model_validate(
        {
            "target": {
                "app": {
                    "args": {"A": "$${HOME}"},
                    "dockerfile-inline": "RUN echo %{x}",
                    "context": "dir$${x}",
                }
            }
        },
        context={"env": {}},
    )
    body = render_bake(project)["target"]["app"]
    assert body["args"] == {"A": "$${HOME}"}
    assert body["dockerfile-inline"] == "RUN echo %%{x}"
    assert body["context"] == "dir$${x}"


def _publishing(extra: dict[str, Any] | None = None) -> Project:
    data: dict[str, Any] = {
        "project": {
            "registries": ["127.0.0.1:5000/acme", "ghcr.io/acme"],
            "tags": ["latest"],
            "platforms": ["linux/amd64", "linux/arm64"],
        },
        "target": {
            "app": {"tags": ["docker.io/acme/app:1"], "output": ["type=image,compression=zstd"]},
            "base": {"platforms": ["linux/amd64"]},
            "linked": {"contexts": {"b": "target:base"}},
        },
    }
    data.update(extra or {})
    return Project.model_validate(data, context={"env": {}})


def test_publish_replaces_tags_and_outputs_with_one_push_by_digest_output() -> None:
    body = render_bake(_publishing(), targets=["app"], publish=True)["target"]["app"]
    assert "tags" not in body
    assert body["output"] == [
        publish_output(["docker.io/acme/app", "127.0.0.1:5000/acme/app", "ghcr.io/acme/app"])
    ]
    assert body["output"][0] == {
        "type": "image",
        "name": "docker.io/acme/app,127.0.0.1:5000/acme/app,ghcr.io/acme/app",
        "push-by-digest": "true",
        "name-canonical": "true",
        "push": "true",
    }


def test_render_writes_every_tag_a_publish_moves() -> None:
    # issue 10: `docker buildx bake -f rendered.json --push app` pushes what a publish would tag.
    body = render_bake(_publishing(), targets=["app"])["target"]["app"]
    assert body["tags"] == [
        "docker.io/acme/app:1",
        "127.0.0.1:5000/acme/app:latest",
        "ghcr.io/acme/app:latest",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"publish": False},
        {"output": ["type=local,dest=out"]},
        {"output": ["type=docker"]},
        {"output": ["type=cacheonly"]},
        {"output": ["type=tar,dest=app.tar"]},
    ],
)
def test_targets_that_do_not_publish_are_built_as_written(extra: dict[str, Any]) -> None:
    project = _publishing()
    data = project.model_dump(by_alias=True, exclude_unset=True)
    data["target"]["tool"] = {"tags": ["tool:dev"], **extra}
    project = Project.model_validate(data, context={"env": {}})
    assert not project.resolved.targets["tool"].publishes
    body = render_bake(project, targets=["tool"])["target"]["tool"]
    assert body["tags"] == ["tool:dev"]  # no registries x tags
    published = render_bake(project, publish=True)["target"]
    assert published["tool"] == body  # not turned into a push
    assert "tool" not in plan_publish(project, ["app", "tool"]).names


def test_publish_keeps_linked_targets_unpublished() -> None:
    bake = render_bake(_publishing(), targets=["linked"], publish=True)
    assert set(bake["target"]) == {"linked", "base"}
    assert bake["group"] == {"default": {"targets": ["linked"]}}
    assert "output" not in bake["target"]["base"]


def test_platform_slice_keeps_one_platform_and_drops_targets_without_it() -> None:
    bake = render_bake(_publishing(), platform="linux/arm64/v8")
    assert set(bake["target"]) == {"app", "linked", "base"}  # base is linked by `linked`
    assert bake["target"]["app"]["platforms"] == ["linux/arm64"]
    assert bake["group"]["default"]["targets"] == ["app", "linked"]
    with pytest.raises(NothingToDoError):
        render_bake(_publishing(), targets=["base"], platform="linux/arm64")
    with pytest.raises(ConfigError, match="--platform"):
        render_bake(_publishing(), platform="linux/arm65")


def test_cache_scopes_per_target_and_platform() -> None:
    project = _publishing(
        {"project": {"platforms": ["linux/amd64", "linux/arm64"], "cache": {"type": "gha"}}}
    )
    sliced = render_bake(project, targets=["app"], platform="linux/arm64")["target"]["app"]
    assert sliced["cache-from"] == [
        {"type": "gha", "scope": "app.linux-arm64"},
        {"type": "gha", "scope": "app.all"},
    ]
    assert sliced["cache-to"] == [{"type": "gha", "scope": "app.linux-arm64", "mode": "max"}]
    whole = render_bake(project, targets=["app"])["target"]["app"]
    assert [e["scope"] for e in whole["cache-from"]] == [
        "app.linux-amd64",
        "app.linux-arm64",
        "app.all",
    ]
    assert whole["cache-to"] == [{"type": "gha", "scope": "app.all", "mode": "max"}]


def test_local_cache_scopes() -> None:
    project = Project.model_validate(
        {
            "project": {"cache": {"type": "local", "path": "/c/", "mode": "min"}},
            "target": {"a": {"platforms": ["linux/amd64"]}},
        },
        context={"env": {}},
    )
    body = render_bake(project)["target"]["a"]
    assert body["cache-from"] == [
        {"type": "local", "src": "/c/a.linux-amd64"},
        {"type": "local", "src": "/c/a.all"},
    ]
    assert body["cache-to"] == [{"type": "local", "dest": "/c/a.linux-amd64", "mode": "min"}]


def test_publish_needs_somewhere_to_publish() -> None:
    project = Project.model_validate({"target": {"app": {}}}, context={"env": {}})
    with pytest.raises(ConfigError, match="publishes nowhere"):
        render_bake(project, publish=True)


def test_dumps_is_sorted_with_a_trailing_newline() -> None:
    assert (
        dumps({"b": 1, "a": {"d": 2, "c": [3]}})
        == '{\n  "a": {\n    "c": [\n      3\n    ],\n    "d": 2\n  },\n  "b": 1\n}\n'
    )
