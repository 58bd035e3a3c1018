"""`[builder]`: validation and the buildx commands `bakepy builder` runs (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bakepy.builders import create_commands, node_name
from bakepy.model import Project


def builder(table: dict[str, object]) -> Project:
    return Project.model_validate({"builder": table})


def test_one_node_per_platform_the_default_first() -> None:
    project = builder(
        {
            "name": "fast",
            "nodes": {"linux/arm64": "tcp://arm:1234", "linux/amd64": "unix:///run/bk.sock"},
            "default": "linux/amd64",
        }
    )
    assert project.builder is not None
    assert create_commands(project.builder) == [
        ["buildx", "create", "--name", "fast", "--node", "linux-amd64", "--driver", "remote",
         "--platform", "linux/amd64", "unix:///run/bk.sock"],
        ["buildx", "create", "--name", "fast", "--append", "--node", "linux-arm64", "--driver",
         "remote", "--platform", "linux/arm64", "tcp://arm:1234"],
    ]  # fmt: skip


def test_the_driver_follows_the_endpoint_or_is_given() -> None:
    project = builder(
        {
            "nodes": {
                "linux/arm64": "ssh://me@arm",
                "linux/amd64": "kubernetes://ci",
                "linux/386": "ctx",
            },
            "drivers": {"linux/386": "remote"},
        }
    )
    assert project.builder is not None
    assert [project.builder.driver(p) for p in project.builder.nodes] == [
        "docker-container",
        "kubernetes",
        "remote",
    ]
    assert node_name("linux/arm/v7") == "linux-arm-v7"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"nodes": {}}, "at least one node"),
        ({"nodes": {"linux/arm65": "tcp://x:1"}}, "arm65"),
        ({"nodes": {"linux/amd64": "tcp://x:1"}, "default": "linux/arm64"}, "not one of the nodes"),
        ({"nodes": {"linux/amd64": "tcp://x:1"}, "drivers": {"linux/arm64": "remote"}}, "no node"),
        ({"nodes": {"linux/amd64": "tcp://x:1"}, "drivers": {"linux/amd64": "docker"}}, "remote"),
        ({"nodes": {"linux/amd64": "tcp://x:1"}, "nmae": "x"}, "nmae"),
    ],
)
def test_bad_builder_tables(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        builder(table)
