"""Plan table tests: targets x platforms x tags x registries, the commands, the fingerprint."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bakepy.errors import ConfigError, NothingToDoError
from bakepy.model import Project
from bakepy.publish.plan import (
    BuildUnit,
    bake_command,
    digest_placeholder,
    merge_commands,
    plan_publish,
    plan_to_json,
)


def make(data: dict[str, Any]) -> Project:
    return Project.model_validate(data, context={"env": {}})


SETTINGS = {"registries": ["127.0.0.1:5000/acme", "ghcr.io/acme"], "tags": ["latest", "1.0"]}


@pytest.mark.parametrize(
    ("data", "targets", "platforms", "expected"),
    [
        pytest.param(
            {"project": SETTINGS, "target": {"app": {"platforms": ["linux/amd64"]}}},
            (),
            None,
            {
                "app": {
                    "127.0.0.1:5000": [
                        "127.0.0.1:5000/acme/app:latest",
                        "127.0.0.1:5000/acme/app:1.0",
                    ],
                    "ghcr.io": ["ghcr.io/acme/app:latest", "ghcr.io/acme/app:1.0"],
                }
            },
            id="registries-x-tags",
        ),
        pytest.param(
            {"project": SETTINGS, "target": {"app": {"image": "team/web"}}},
            (),
            None,
            {
                "app": {
                    "127.0.0.1:5000": [
                        "127.0.0.1:5000/acme/team/web:latest",
                        "127.0.0.1:5000/acme/team/web:1.0",
                    ],
                    "ghcr.io": ["ghcr.io/acme/team/web:latest", "ghcr.io/acme/team/web:1.0"],
                }
            },
            id="image-path",
        ),
        pytest.param(
            {"target": {"app": {"tags": ["alpine-app", "quay.io/x/app:2", "quay.io/x/app:2"]}}},
            (),
            None,
            {
                "app": {
                    "docker.io": ["docker.io/library/alpine-app:latest"],
                    "quay.io": ["quay.io/x/app:2"],
                }
            },
            id="explicit-tags-normalised",
        ),
        pytest.param(
            {
                "project": {"registries": ["ghcr.io/acme"], "tags": ["latest"]},
                "target": {"a": {}, "b": {}},
                "group": {"default": {"targets": ["b"]}},
            },
            (),
            None,
            {"b": {"ghcr.io": ["ghcr.io/acme/b:latest"]}},
            id="default-group",
        ),
        pytest.param(
            {
                "project": {"registries": ["ghcr.io/acme"], "tags": ["latest"]},
                "target": {"a": {}, "b": {}},
            },
            ("b", "a"),
            None,
            {
                "b": {"ghcr.io": ["ghcr.io/acme/b:latest"]},
                "a": {"ghcr.io": ["ghcr.io/acme/a:latest"]},
            },
            id="named-targets-in-order",
        ),
        pytest.param(
            {
                "project": {"registries": ["ghcr.io/acme"], "tags": ["latest"]},
                "target": {
                    "a": {"platforms": ["linux/amd64"]},
                    "b": {"platforms": ["linux/arm64"]},
                },
            },
            (),
            ["linux/arm64/v8"],
            {"b": {"ghcr.io": ["ghcr.io/acme/b:latest"]}},
            id="platform-filter",
        ),
    ],
)
def test_plan_table(
    data: dict[str, Any],
    targets: tuple[str, ...],
    platforms: list[str] | None,
    expected: dict[str, Any],
) -> None:
    plan = plan_publish(make(data), targets, platforms)
    assert {
        t.name: {k: list(v) for k, v in t.tags_by_registry.items()} for t in plan.targets
    } == expected
    assert list(plan.names) == list(expected)


def test_units_and_repositories() -> None:
    plan = plan_publish(
        make(
            {
                "project": SETTINGS,
                "target": {"app": {"platforms": ["linux/amd64", "linux/arm64"]}, "tool": {}},
            }
        )
    )
    assert plan.units == (
        BuildUnit("app", "linux/amd64"),
        BuildUnit("app", "linux/arm64"),
        BuildUnit("tool", None),
    )
    app = plan.target("app")
    assert app.repositories == ("127.0.0.1:5000/acme/app", "ghcr.io/acme/app")
    assert app.source("ghcr.io") == "ghcr.io/acme/app"
    assert app.tags[0] == "127.0.0.1:5000/acme/app:latest"


def test_commands() -> None:
    plan = plan_publish(
        make({"project": SETTINGS, "target": {"app": {"platforms": ["linux/amd64"]}}})
    )
    assert bake_command(plan, bake_file="b.json", metadata_file="m.json") == (
        "docker", "buildx", "bake", "--file", "b.json", "--metadata-file", "m.json",
        "--progress", "plain", "app",
    )  # fmt: skip
    (merge,) = merge_commands(plan)  # one call per target: every tag of every registry
    assert merge.registries == ("127.0.0.1:5000", "ghcr.io")
    assert merge.argv == (
        "docker", "buildx", "imagetools", "create",
        "--tag", "127.0.0.1:5000/acme/app:latest", "--tag", "127.0.0.1:5000/acme/app:1.0",
        "--tag", "ghcr.io/acme/app:latest", "--tag", "ghcr.io/acme/app:1.0",
        f"127.0.0.1:5000/acme/app@{digest_placeholder('app')}",
    )  # fmt: skip
    digest = "sha256:" + "a" * 64
    assert merge_commands(plan, {"app": digest})[0].argv[-1] == f"127.0.0.1:5000/acme/app@{digest}"


def test_json_shape() -> None:
    plan = plan_publish(
        make({"project": SETTINGS, "target": {"app": {"platforms": ["linux/amd64"]}}})
    )
    data = plan_to_json(plan)
    assert set(data) == {"fingerprint", "targets", "units", "commands"}
    assert data["targets"][0] == {
        "name": "app",
        "platforms": ["linux/amd64"],
        "repositories": ["127.0.0.1:5000/acme/app", "ghcr.io/acme/app"],
        "tags": {
            "127.0.0.1:5000": ["127.0.0.1:5000/acme/app:latest", "127.0.0.1:5000/acme/app:1.0"],
            "ghcr.io": ["ghcr.io/acme/app:latest", "ghcr.io/acme/app:1.0"],
        },
    }
    assert data["units"] == [{"target": "app", "platform": "linux/amd64"}]
    assert [c["step"] for c in data["commands"]] == ["build", "merge"]


def test_fingerprint_is_stable_and_tracks_what_is_published() -> None:
    data = {"project": SETTINGS, "target": {"a": {"platforms": ["linux/amd64"]}, "b": {}}}
    first = plan_publish(make(data)).fingerprint
    assert plan_publish(make(data)).fingerprint == first
    assert plan_publish(make(data), ("b", "a")).fingerprint == first  # order does not matter
    assert len(first) == 16
    changed = {"project": {**SETTINGS, "tags": ["latest"]}, "target": data["target"]}
    assert plan_publish(make(changed)).fingerprint != first
    other_platform = {"project": SETTINGS, "target": {"a": {"platforms": ["linux/arm64"]}, "b": {}}}
    assert plan_publish(make(other_platform)).fingerprint != first


def test_clashing_tags_are_rejected() -> None:
    data = {"project": SETTINGS, "target": {"a": {"image": "same"}, "b": {"image": "same"}}}
    with pytest.raises(
        ConfigError,
        match=re.escape("targets 'a' and 'b' both publish 127.0.0.1:5000/acme/same:latest"),
    ):
        plan_publish(make(data))


def test_nothing_to_do() -> None:
    data = {"project": SETTINGS, "target": {"a": {"platforms": ["linux/amd64"]}}}
    with pytest.raises(NothingToDoError, match="linux/s390x"):
        plan_publish(make(data), (), ["linux/s390x"])
    with pytest.raises(ConfigError, match="--platform"):
        plan_publish(make(data), (), ["linux/s390y"])


def test_publishing_nowhere_is_an_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("target.a: 'a' publishes nowhere")):
        plan_publish(make({"target": {"a": {}}}))


def test_invalid_default_image_names_point_at_the_target() -> None:
    data = {"project": SETTINGS, "target": {"_base": {}}}
    with pytest.raises(ConfigError, match=r"^target\._base: "):
        plan_publish(make(data))


def test_unknown_targets() -> None:
    with pytest.raises(ConfigError, match="did you mean 'app'"):
        plan_publish(make({"project": SETTINGS, "target": {"app": {}}}), ("apo",))


def test_a_target_with_sources_is_assembled_not_built() -> None:
    plan = plan_publish(
        make(
            {
                "project": SETTINGS,
                "target": {
                    "app": {"platforms": ["linux/amd64"]},
                    "hello": {
                        "sources": ["r:5000/hello:amd64", "linux/arm64=r:5000/hello:arm64"],
                        "annotate": ["linux/arm/v7=r:5000/hello:armv7"],
                    },
                },
            }
        )
    )
    assert plan.built == ("app",)
    assert plan.target("hello").sources == (
        "r:5000/hello:amd64",
        "linux/arm64=r:5000/hello:arm64",
        "!linux/arm/v7=r:5000/hello:armv7",
    )
    data = plan_to_json(plan)
    build, assemble = data["commands"][:2]
    assert build["argv"][-1] == "app"  # the bake builds only what is not assembled
    assert assemble == {
        "step": "assemble",
        "target": "hello",
        "sources": list(plan.target("hello").sources),
    }
    assert data["targets"][1]["sources"] == assemble["sources"]


def test_a_platform_no_builder_can_build_is_refused_at_plan() -> None:
    with pytest.raises(
        ConfigError, match=r"target\.app\.platforms: 'darwin/arm64' cannot be built"
    ):
        plan_publish(
            make({"project": SETTINGS, "target": {"app": {"platforms": ["darwin/arm64"]}}})
        )


def test_bake_command_with_a_builder_and_pass_through_options() -> None:
    plan = plan_publish(
        make({"project": SETTINGS, "target": {"app": {"platforms": ["linux/amd64"]}}})
    )
    argv = bake_command(plan, builder="nodes", passed=("--set", "*.args.X=1", "--pull"))
    assert argv[:5] == ("docker", "buildx", "bake", "--builder", "nodes")
    assert argv[-5:] == ("plain", "--set", "*.args.X=1", "--pull", "app")
    assert plan_to_json(plan, builder="nodes")["commands"][0]["argv"][3:5] == ["--builder", "nodes"]
