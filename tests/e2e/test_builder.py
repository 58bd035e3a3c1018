"""`bakepy builder create` from [builder]: a two-node builder on the stack that publish then uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import registry_api as api
from e2e_support import env_for, small_project


def test_builder_create_makes_the_two_node_builder_publish_uses(
    stack, builder_factory: Callable[..., object], unique_repo: str, tmp_path: Path
) -> None:
    amd = builder_factory(f"n-amd-{uuid.uuid4().hex[:6]}", platforms=["linux/amd64"])
    arm = builder_factory(f"n-arm-{uuid.uuid4().hex[:6]}", platforms=["linux/arm64"])
    name = f"bakepy-two-{uuid.uuid4().hex[:6]}"
    registries = list(stack.registries)
    root = small_project(
        tmp_path / "p",
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["1.0"]

        [target.app]
        image = "{unique_repo}"

        [builder]
        name = "{name}"
        nodes = {{ "linux/amd64" = "{amd.address}", "linux/arm64" = "{arm.address}" }}
        """,  # type: ignore[attr-defined]
    )
    env = env_for(stack)
    env.pop("BUILDX_BUILDER", None)  # the project's [builder] is what publish must pick

    def bakepy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bakepy", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    try:
        created = bakepy("builder", "create")
        assert created.returncode == 0, created.stderr
        assert "linux-amd64" in created.stdout and "linux-arm64" in created.stdout
        listing = subprocess.run(
            ["docker", "buildx", "inspect", name],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        assert amd.address in listing and arm.address in listing  # type: ignore[attr-defined]
        again = bakepy(
            "builder", "create"
        )  # replaces it: found with `buildx inspect NAME`, not `buildx ls`
        assert again.returncode == 0, again.stderr
        assert f"docker buildx rm {name}" in again.stderr and "buildx ls" not in again.stderr

        doctor = bakepy("doctor", "--builder", name, "--json")
        report = json.loads(doctor.stdout)
        nodes = {p["platform"]: p["node"] for p in report["platforms"]}
        assert nodes == {"linux/amd64": "linux-amd64", "linux/arm64": "linux-arm64"}, report

        published = bakepy("publish")
        assert published.returncode == 0, published.stderr
        assert f"--builder {name}" in published.stderr  # the project's builder, not the stack's
        # where each platform runs, as buildx routes it: both nodes are local BuildKits on this amd64 machine
        assert "[app linux/amd64] native on node linux-amd64" in published.stderr
        assert "[app linux/arm64] emulated (QEMU) on node linux-arm64" in published.stderr
        assert "buildx ls" not in published.stderr
        for registry in registries:
            assert api.list_tags(registry, unique_repo) == [
                "1.0"
            ]  # no `latest` from buildx's assembly
            _, index = api.get_manifest(registry, unique_repo, "1.0")
            assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
    finally:
        subprocess.run(["docker", "buildx", "rm", name], capture_output=True, env={**os.environ})
