"""engine/buildx_store: which builder buildx would use, and its nodes, from buildx's own files (pure).

The files here are shaped as buildx v0.36 writes them; tests/e2e/test_buildx_store_e2e.py reads ones real buildx
wrote and compares with `docker buildx inspect`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakepy.engine.buildx_store import StoredBuilder, config_dir, stored_builder


def _instance(directory: Path, name: str, nodes: list[str], driver: str = "remote") -> None:
    (directory / "instances").mkdir(parents=True, exist_ok=True)
    body = {
        "Name": name,
        "Driver": driver,
        "Nodes": [
            {"Name": n, "Endpoint": f"tcp://{n}:1234", "Platforms": None, "DriverOpts": None,
             "Flags": None, "Files": None}
            for n in nodes
        ],
        "Dynamic": False,
    }  # fmt: skip
    (directory / "instances" / name).write_text(json.dumps(body))


def _current(
    directory: Path, name: str, key: str = "unix:///var/run/docker.sock", everywhere: bool = False
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "current").write_text(json.dumps({"Key": key, "Name": name, "Global": everywhere}))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_config_dir_is_found_as_buildx_finds_it(home: Path) -> None:
    assert config_dir({}) == home / ".docker" / "buildx"
    assert config_dir({"DOCKER_CONFIG": "/d"}) == Path("/d/buildx")
    assert config_dir({"DOCKER_CONFIG": "/d", "BUILDX_CONFIG": "/b"}) == Path("/b")


def test_a_named_builder_and_its_nodes(home: Path) -> None:
    store = home / ".docker" / "buildx"
    _instance(store, "two", ["amd", "arm"])
    assert stored_builder("two", {}) == StoredBuilder("two", "remote", ("amd", "arm"))
    assert stored_builder(None, {"BUILDX_BUILDER": "two"}) == StoredBuilder(
        "two", "remote", ("amd", "arm")
    )
    assert stored_builder("Two", {}) is not None  # buildx lower-cases names


def test_the_flag_wins_over_the_environment(home: Path) -> None:
    store = home / ".docker" / "buildx"
    _instance(store, "one", ["n0"])
    _instance(store, "two", ["a", "b"])
    assert stored_builder("one", {"BUILDX_BUILDER": "two"}) == StoredBuilder(
        "one", "remote", ("n0",)
    )


def test_the_current_builder_for_this_endpoint(home: Path) -> None:
    store = home / ".docker" / "buildx"
    _instance(store, "fast", ["a", "b"])
    _current(store, "fast")
    assert stored_builder(None, {}) == StoredBuilder("fast", "remote", ("a", "b"))
    # another endpoint: buildx would not use it there
    assert stored_builder(None, {"DOCKER_HOST": "tcp://elsewhere:2375"}) is None
    assert stored_builder(None, {"DOCKER_CONTEXT": "remote-box"}) is None
    (home / ".docker" / "config.json").write_text(json.dumps({"currentContext": "remote-box"}))
    assert stored_builder(None, {}) is None
    _current(store, "fast", key="remote-box")
    assert stored_builder(None, {}) == StoredBuilder("fast", "remote", ("a", "b"))


def test_a_global_current_builder_applies_to_every_endpoint(home: Path) -> None:
    store = home / ".docker" / "buildx"
    _instance(store, "fast", ["a"])
    _current(store, "fast", key="unix:///elsewhere.sock", everywhere=True)
    assert stored_builder(None, {"DOCKER_HOST": "tcp://x:2375"}) == StoredBuilder(
        "fast", "remote", ("a",)
    )


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda d: None, id="no store at all"),
        pytest.param(lambda d: _current(d, ""), id="no builder chosen: the docker context's own"),
        pytest.param(lambda d: _current(d, "gone"), id="current names a removed builder"),
        pytest.param(lambda d: (d / "current").write_text("{not json"), id="unreadable current"),
        pytest.param(
            lambda d: (
                _instance(d, "fast", ["a"]),
                (d / "instances" / "fast").write_text('{"Name": "fast"}'),
            ),
            id="an instance without nodes",
        ),
    ],
)
def test_anything_unsure_is_none(home: Path, write: object) -> None:
    store = home / ".docker" / "buildx"
    store.mkdir(parents=True)
    write(store)  # type: ignore[operator]
    assert stored_builder(None, {}) is None
    assert stored_builder(None, {"BUILDX_BUILDER": "fast"}) is None


@pytest.mark.parametrize("driver", ["kubernetes", "some-future-driver", ""])
def test_a_builder_whose_nodes_the_store_may_not_list_is_none(home: Path, driver: str) -> None:
    """kubernetes: each pod is a node, known only to `buildx inspect` (one node in the store, 3 replicas)."""
    store = home / ".docker" / "buildx"
    _instance(store, "k8s", ["k8s0"], driver=driver)
    assert stored_builder("k8s", {}) is None


def test_a_dynamic_builder_is_none(home: Path) -> None:
    store = home / ".docker" / "buildx"
    _instance(store, "dyn", ["a"])
    body = json.loads((store / "instances" / "dyn").read_text())
    (store / "instances" / "dyn").write_text(json.dumps({**body, "Dynamic": True}))
    assert stored_builder("dyn", {}) is None


def test_a_name_buildx_would_refuse_is_never_a_path(home: Path) -> None:
    (home / "secret").write_text(json.dumps({"Name": "x", "Nodes": [{"Name": "n"}]}))
    assert stored_builder("../../secret", {}) is None
    assert stored_builder("", {"BUILDX_BUILDER": "../secret"}) is None
