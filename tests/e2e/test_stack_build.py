"""The stack itself works: a plain buildx two-platform build (arm64 under QEMU) pushed to the registries.

These tests use ``docker buildx`` directly, not bakepy, and check the result through the registry HTTP API
only (``registry_api``), so they tell a broken stack apart from a bakepy bug.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import registry_api as api
from stack import Builder, Stack

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"
PLATFORMS = {"linux/amd64", "linux/arm64"}
BuilderFactory = Callable[[str, Sequence[str] | None], Builder]
UNAME = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


def buildx(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "buildx", *args]
    proc = subprocess.run(
        cmd, env=stack.env, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}", pytrace=False
        )
    return proc


def file_in_layer(layer: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == name and member.isfile():
                extracted = tar.extractfile(member)
                return None if extracted is None else extracted.read()
    return None


def test_two_platform_build_is_pushed_as_an_index(stack: Stack, unique_repo: str) -> None:
    refs = [f"{registry}/{unique_repo}:latest" for registry in stack.registries]
    tag_args = [arg for ref in refs for arg in ("--tag", ref)]
    buildx(
        stack,
        "build",
        "--builder",
        stack.builder,
        "--platform",
        ",".join(sorted(PLATFORMS)),
        "--provenance=mode=min",  # buildx's default, spelled out so the attestation count is fixed
        "--push",
        *tag_args,
        str(HELLO),
    )

    registry = stack.registries[0]
    digest, index = api.get_manifest(registry, unique_repo, "latest")
    assert digest.startswith("sha256:")
    assert api.is_index(index), index
    assert api.platforms(index) == PLATFORMS
    images = api.image_manifests(index)
    attestations = api.attestations(index)
    assert len(attestations) == len(PLATFORMS)
    assert {a["annotations"]["vnd.docker.reference.digest"] for a in attestations} == {
        d["digest"] for d in images.values()
    }
    assert api.list_tags(registry, unique_repo) == ["latest"]

    # One export pushed the same index to every registry named.
    for other in stack.registries[1:]:
        assert api.get_manifest(other, unique_repo, "latest")[0] == digest

    # `RUN uname -m > /arch` ran on each platform: arm64 really ran under QEMU.
    for platform, descriptor in images.items():
        _, manifest = api.get_manifest(registry, unique_repo, descriptor["digest"])
        last_layer = api.get_blob(registry, unique_repo, manifest["layers"][-1]["digest"])
        assert file_in_layer(last_layer, "arch") == f"{UNAME[platform]}\n".encode(), platform


def test_from_busybox_resolves_through_the_mirror(stack: Stack, unique_repo: str) -> None:
    if stack.mirror is None:
        pytest.skip("no docker.io mirror on this stack (BAKEPY_E2E_MIRROR unset)")
    _, busybox = api.get_manifest(stack.mirror, "library/busybox", "latest")
    assert api.platforms(busybox) >= PLATFORMS

    registry = stack.registries[0]
    buildx(
        stack,
        "build",
        "--builder",
        stack.builder,
        "--platform",
        ",".join(sorted(PLATFORMS)),
        "--push",
        "--tag",
        f"{registry}/{unique_repo}:latest",
        str(HELLO),
    )
    _, index = api.get_manifest(registry, unique_repo, "latest")
    base = api.image_manifests(busybox)
    # The image's base layers are exactly the mirror's busybox layers for the same platform.
    for platform, descriptor in api.image_manifests(index).items():
        _, image = api.get_manifest(registry, unique_repo, descriptor["digest"])
        _, mirrored = api.get_manifest(stack.mirror, "library/busybox", base[platform]["digest"])
        base_layers = [layer["digest"] for layer in mirrored["layers"]]
        image_layers = [layer["digest"] for layer in image["layers"]]
        assert image_layers[: len(base_layers)] == base_layers, platform


def test_registry_api_deletes_a_manifest(stack: Stack, unique_repo: str) -> None:
    registry = stack.registries[0]
    buildx(
        stack,
        "build",
        "--builder",
        stack.builder,
        "--platform",
        "linux/amd64",
        "--provenance=false",
        "--push",
        "--tag",
        f"{registry}/{unique_repo}:latest",
        str(HELLO),
    )
    digest, manifest = api.get_manifest(registry, unique_repo, "latest")
    assert not api.is_index(manifest)
    api.delete_manifest(registry, unique_repo, digest)
    with pytest.raises(api.RegistryAPIError) as excinfo:
        api.get_manifest(registry, unique_repo, digest)
    assert excinfo.value.status == 404
    assert api.list_tags(registry, "bakepy-test/never-pushed") == []


def test_two_runner_builders_share_only_the_registries(
    stack: Stack, unique_repo: str, builder_factory: BuilderFactory, tmp_path: Path
) -> None:
    """Two independent builders, as two CI runners: each pushes its platform by digest, then one merge."""
    registry = stack.registries[0]
    repo = f"{registry}/{unique_repo}"
    sources = []
    for platform in sorted(PLATFORMS):
        arch = platform.split("/")[1]
        builder = builder_factory(f"e2e-runner-{arch}", [platform])
        metadata = tmp_path / f"{arch}.json"
        # Explicit --platform, as bakepy passes it: without one the image came out linux/amd64 (the
        # host's platform) even on the builder restricted to linux/arm64.
        buildx(
            stack,
            "build",
            "--builder",
            builder.name,
            "--platform",
            platform,
            "--metadata-file",
            str(metadata),
            "--output",
            f"type=image,name={repo},push-by-digest=true,name-canonical=true,push=true",
            str(HELLO),
        )
        digest = json.loads(metadata.read_text())["containerimage.digest"]
        _, pushed = api.get_manifest(registry, unique_repo, digest)
        assert api.platforms(pushed) == {platform}
        sources.append(f"{repo}@{digest}")

    buildx(stack, "imagetools", "create", "--tag", f"{repo}:latest", *sources)
    _, index = api.get_manifest(registry, unique_repo, "latest")
    assert api.platforms(index) == PLATFORMS
    assert len(api.attestations(index)) == len(PLATFORMS)
