"""Plan → CI matrix: runner labels, QEMU only where no native runner is configured, the two splits, formats."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bakepy.ci.matrix import (
    MatrixEntry,
    matrix_entries,
    matrix_github,
    matrix_gitlab,
    matrix_json,
    native_platforms,
    parse_runner_overrides,
    platform_slug,
)
from bakepy.errors import ConfigError
from bakepy.model import Project
from bakepy.publish.plan import PublishPlan, plan_publish

RUNNERS = {"linux/arm64": "ubuntu-24.04-arm", "default": "ubuntu-latest"}


def make_plan(targets: dict[str, Any], platforms: list[str] | None = None) -> PublishPlan:
    settings: dict[str, Any] = {"registries": ["ghcr.io/acme"], "tags": ["latest"]}
    if platforms:
        settings["platforms"] = platforms
    project = Project.model_validate({"project": settings, "target": targets}, context={"env": {}})
    return plan_publish(project)


PLAN = make_plan(
    {"web": {}, "api": {}, "tool": {"platforms": ["linux/amd64"]}},
    ["linux/amd64", "linux/arm64", "linux/riscv64"],
)


def test_one_entry_per_platform_with_every_target_building_it() -> None:
    entries = matrix_entries(PLAN, RUNNERS)
    assert entries == [
        MatrixEntry("linux/amd64", "ubuntu-latest", ("web", "api", "tool"), False, "linux-amd64"),
        MatrixEntry("linux/arm64", "ubuntu-24.04-arm", ("web", "api"), False, "linux-arm64"),
        MatrixEntry("linux/riscv64", "ubuntu-latest", ("web", "api"), True, "linux-riscv64"),
    ]


def test_by_target_platform_keeps_plan_order_and_unique_slugs() -> None:
    entries = matrix_entries(PLAN, RUNNERS, by="target-platform")
    assert [(e.targets, e.platform) for e in entries] == [
        (("web",), "linux/amd64"),
        (("web",), "linux/arm64"),
        (("web",), "linux/riscv64"),
        (("api",), "linux/amd64"),
        (("api",), "linux/arm64"),
        (("api",), "linux/riscv64"),
        (("tool",), "linux/amd64"),
    ]
    assert len({e.slug for e in entries}) == len(entries)
    assert entries[1].slug == "web--linux-arm64"


@pytest.mark.parametrize(
    ("runners", "fallback", "platform", "label", "qemu"),
    [
        # configured for the platform: native by definition, even on a label bakepy does not know
        ({"linux/arm64": "my-arm-box"}, None, "linux/arm64", "my-arm-box", False),
        # no runner at all: the CI's default runner, x86-64 on GitHub (ubuntu-latest) and GitLab.com
        # (saas-linux-small-amd64): amd64 is native there, anything else is emulated
        ({}, None, "linux/amd64", None, False),
        ({}, None, "linux/386", None, False),
        ({}, None, "linux/arm64", None, True),
        # GitHub's fallback label is a known x86-64 machine
        ({}, "ubuntu-latest", "linux/amd64", "ubuntu-latest", False),
        ({}, "ubuntu-latest", "linux/386", "ubuntu-latest", False),
        ({}, "ubuntu-latest", "linux/arm64", "ubuntu-latest", True),
        # a self-hosted default label: only explicitly configured platforms are native
        ({"default": "self-hosted-big"}, "ubuntu-latest", "linux/amd64", "self-hosted-big", True),
        ({"default": "ubuntu-24.04-arm"}, None, "linux/arm64", "ubuntu-24.04-arm", False),
        (
            {"default": "saas-linux-small-amd64"},
            None,
            "linux/amd64",
            "saas-linux-small-amd64",
            False,
        ),
        (
            {"default": "saas-linux-medium-arm64"},
            None,
            "linux/arm/v7",
            "saas-linux-medium-arm64",
            True,
        ),
    ],
)
def test_runner_labels_and_qemu(
    runners: dict[str, str], fallback: str | None, platform: str, label: str | None, qemu: bool
) -> None:
    plan = make_plan({"app": {"platforms": [platform]}})
    (entry,) = matrix_entries(plan, runners, fallback_runner=fallback)
    assert (entry.runner, entry.qemu) == (label, qemu)


def test_known_hosted_labels() -> None:
    assert "linux/amd64" in native_platforms("ubuntu-22.04")
    assert native_platforms("ubuntu-24.04-arm") == ("linux/arm64",)
    assert native_platforms("macos-14") == ()
    assert native_platforms(None) == ()


def test_a_target_without_platforms_cannot_be_split() -> None:
    plan = make_plan({"app": {}})
    with pytest.raises(ConfigError, match="target app sets no platforms"):
        matrix_entries(plan, RUNNERS)


def test_github_format_is_one_line_for_fromjson() -> None:
    text = matrix_github(matrix_entries(PLAN, RUNNERS))
    assert "\n" not in text
    include = json.loads(text)["include"]
    assert include[1] == {
        "platform": "linux/arm64",
        "runner": "ubuntu-24.04-arm",
        "targets": ["web", "api"],
        "qemu": False,
        "slug": "linux-arm64",
    }


def test_gitlab_format_is_string_variables() -> None:
    rows = json.loads(matrix_gitlab(matrix_entries(PLAN, RUNNERS)))
    assert rows[2] == {
        "BAKEPY_PLATFORM": "linux/riscv64",
        "BAKEPY_RUNNER": "ubuntu-latest",
        "BAKEPY_TARGETS": "web api",
        "BAKEPY_QEMU": "true",
        "BAKEPY_SLUG": "linux-riscv64",
    }
    assert all(isinstance(v, str) for row in rows for v in row.values())


def test_json_format_carries_the_plan_fingerprint() -> None:
    data = matrix_json(PLAN, matrix_entries(PLAN, RUNNERS), "platform")
    assert data["fingerprint"] == PLAN.fingerprint
    assert data["by"] == "platform"
    assert len(data["entries"]) == 3


def test_runner_overrides() -> None:
    assert parse_runner_overrides(["linux/aarch64=arm-box", "default=x"]) == {
        "linux/arm64": "arm-box",
        "default": "x",
    }
    with pytest.raises(ValueError, match="not PLATFORM=LABEL"):
        parse_runner_overrides(["linux/arm64"])
    with pytest.raises(ValueError, match="not a platform"):
        parse_runner_overrides(["linux/arm65=x"])


def test_platform_slug() -> None:
    assert platform_slug("linux/arm/v7") == "linux-arm-v7"
