"""engine/buildx_store against stores real buildx wrote: the builder and nodes it reads are `buildx inspect`'s.

publish builds at once when the store names a one-node builder (no `buildx inspect` first) and per node when it
names more; so what the store says must be what buildx says, for a builder chosen by name, by `docker buildx use`
for this endpoint, and by `use --global`. Where the store cannot know (another endpoint), it says nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bakepy.engine.buildx_store import stored_builder
from bakepy.engine.runner import Runner, parse_builder_inspect


def _inspect_nodes(env: dict[str, str], name: str | None = None) -> tuple[str, tuple[str, ...]]:
    """What `docker buildx inspect` says, run with exactly `env` (a Runner would add this process's)."""
    argv = ["docker", "buildx", "inspect", *([name] if name else [])]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True, timeout=60)
    state = parse_builder_inspect(out.stdout)
    return state.name, tuple(n.name for n in state.nodes)


def test_the_stack_builder_and_a_two_node_builder_by_name(stack, two_node_builder: str) -> None:
    for name, count in ((stack.builder, 1), (two_node_builder, 2)):
        stored = stored_builder(name, stack.env)
        assert stored is not None, name
        assert (stored.name, stored.nodes) == _inspect_nodes(stack.env, name)
        assert len(stored.nodes) == count
        via_env = {**stack.env, "BUILDX_BUILDER": name}
        assert Runner(env=via_env).stored_builder() == stored


def test_the_builder_docker_buildx_use_chose(stack, tmp_path: Path) -> None:
    """In a store of its own (BUILDX_CONFIG): `create` + `use` for this endpoint, then `use --global`."""
    env = {k: v for k, v in stack.env.items() if k != "BUILDX_BUILDER"}
    env["BUILDX_CONFIG"] = str(tmp_path / "buildx")
    address = stack.env_overlay["BUILDKIT_HOST"]

    def docker(*args: str) -> None:
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True, timeout=60)

    docker("buildx", "create", "--name", "chosen", "--driver", "remote", address)
    docker("buildx", "use", "chosen")
    stored = stored_builder(None, env)
    assert stored is not None
    assert (stored.name, stored.nodes) == _inspect_nodes(env) == ("chosen", ("chosen0",))

    elsewhere = {**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    assert stored_builder(None, elsewhere) is None  # `use` chose it for another endpoint

    docker("buildx", "use", "--global", "chosen")
    stored = stored_builder(None, elsewhere)
    assert stored is not None
    assert (stored.name, stored.nodes) == _inspect_nodes(elsewhere) == ("chosen", ("chosen0",))
