"""`docker buildx inspect` text → the builder's name and nodes (one process instead of inspect + ls)."""

from __future__ import annotations

from bakepy.engine.runner import parse_inspect

TWO_NODES = """\
Name:          bakepy-e2e
Driver:        remote
Last Activity: 2026-11-29 01:24:39 +0000 UTC

Nodes:
Name:             amd
Endpoint:         tcp://127.0.0.1:1234
Status:           running
BuildKit version: v0.32.2
Platforms:        linux/amd64*, linux/amd64/v2, linux/386
Labels:
 org.mobyproject.buildkit.worker.executor:         oci
 Name:             not a node (indented detail)
GC Policy rule#0:
 All:            false

Name:             arm
Endpoint:         tcp://127.0.0.1:1235
Status:           inactive
Platforms:
"""


def test_two_nodes_with_their_platforms() -> None:
    name, nodes = parse_inspect(TWO_NODES)
    assert name == "bakepy-e2e"
    assert nodes == [
        ("amd", "tcp://127.0.0.1:1234", "running", ["linux/amd64", "linux/amd64/v2", "linux/386"]),
        ("arm", "tcp://127.0.0.1:1235", "inactive", []),
    ]


def test_no_nodes_section() -> None:
    assert parse_inspect("Name: x\nDriver: docker\n") == ("x", [])
