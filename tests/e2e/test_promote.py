"""`bakepy promote`: an index, its attestations and its cosign signature copied to another registry, its tags
moved all or none, the signature verified at both ends. Checked with the registry API and the real cosign."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import registry_api as api
import stack as stack_manager
from e2e_support import bakepy, env_for, nonce_project
from faultproxy import FaultProxy

PASSWORD = "promote-key-pass"


@pytest.fixture
def cosign(tmp_path: Path) -> tuple[str, Path]:
    binary = stack_manager.cosign_path()
    assert binary.is_file(), f"{binary} is missing: tests/stack.py install builds it"
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run([str(binary), "generate-key-pair"], cwd=keys, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": PASSWORD})  # fmt: skip
    return str(binary), keys


def _cosign(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=120)


def _digest(registry: str, repo: str, tag: str) -> str | None:
    try:
        return api.get_manifest(registry, repo, tag)[0]
    except api.RegistryAPIError:
        return None


def test_promote_copies_index_attestations_and_signature_and_moves_every_tag(
    stack, cosign: tuple[str, Path], unique_repo: str, tmp_path: Path
) -> None:
    binary, keys = cosign
    r0, r1 = stack.registries
    staging, production = f"{unique_repo}/staging", f"{unique_repo}/production"
    project = nonce_project(tmp_path / "p", [r0], staging, ["1.0-rc"])
    env = env_for(stack, NONCE="1", BAKEPY_COSIGN=binary)
    assert (published := bakepy(["publish"], project, env)).returncode == 0, published.stderr
    source = _digest(r0, staging, "1.0-rc")
    assert source is not None
    signed = _cosign(binary, "sign", "--yes", "--key", str(keys / "cosign.key"),
                     "--tlog-upload=false", "--allow-http-registry", f"{r0}/{staging}@{source}")  # fmt: skip
    assert signed.returncode == 0, signed.stderr

    promoted = bakepy(
        ["promote", f"{r0}/{staging}:1.0-rc", "--to", f"{r1}/{production}:1.0",
         "--to", f"{r1}/{production}:latest", "--key", str(keys / "cosign.pub")],
        tmp_path, env,
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert _digest(r1, production, "1.0") == _digest(r1, production, "latest") == source
    _, index = api.get_manifest(r1, production, "1.0")
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
    assert len(api.attestations(index)) == 2
    for attestation in api.attestations(index):  # attestation manifests copied, not only named
        api.get_manifest(r1, production, attestation["digest"])
    verified = _cosign(binary, "verify", "--key", str(keys / "cosign.pub"), "--insecure-ignore-tlog=true",
                       "--allow-http-registry", f"{r1}/{production}@{source}")  # fmt: skip
    assert verified.returncode == 0, verified.stderr[-2000:]

    # an unsigned source is refused before anything moves
    project2 = nonce_project(tmp_path / "p2", [r0], f"{unique_repo}/unsigned", ["1.0"])
    assert bakepy(["publish"], project2, env).returncode == 0
    refused = bakepy(
        ["promote", f"{r0}/{unique_repo}/unsigned:1.0", "--to", f"{r1}/{unique_repo}/prod2:1.0",
         "--key", str(keys / "cosign.pub")],
        tmp_path, env,
    )  # fmt: skip
    assert refused.returncode == 8, refused.stderr[-2000:]
    assert _digest(r1, f"{unique_repo}/prod2", "1.0") is None


def test_a_failed_tag_move_in_a_promotion_leaves_every_tag_as_before(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    r0, r1 = stack.registries
    staging, production = f"{unique_repo}/staging", f"{unique_repo}/production"
    env = env_for(stack, NONCE="1", BAKEPY_REGISTRY_TIMEOUT="2")
    project = nonce_project(tmp_path / "p", [r0, r1], staging, ["1.0"])
    assert bakepy(["publish"], project, env).returncode == 0
    first = bakepy(
        ["promote", f"{r0}/{staging}:1.0", "--to", f"{r1}/{production}:1.0",
         "--to", f"{r1}/{production}:latest", "--unsigned"],
        tmp_path, env,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    before = {t: _digest(r1, production, t) for t in ("1.0", "latest")}

    project = nonce_project(tmp_path / "p", [r0], staging, ["1.1"])
    assert bakepy(["publish"], project, env_for(stack, NONCE="2")).returncode == 0
    with FaultProxy(r1) as proxy:
        proxy.add_rule("PUT", rf"/v2/{production}/manifests/latest$", "status", status=500)
        failed = bakepy(
            ["promote", f"{r0}/{staging}:1.1", "--to", f"{proxy.address}/{production}:1.0",
             "--to", f"{proxy.address}/{production}:latest", "--unsigned"],
            tmp_path, env,
        )  # fmt: skip
    assert failed.returncode == 5, failed.stderr[-3000:]
    assert {t: _digest(r1, production, t) for t in ("1.0", "latest")} == before
