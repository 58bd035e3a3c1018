"""Signed before visible: every index is signed and verified before any tag moves, with the real cosign.

Offline signing (`tlog = false`: no transparency log here) with a key pair made by `cosign generate-key-pair`, on
the stack's two registries. Signatures are checked with `cosign verify` itself, tags through the registry API."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_api as api
import stack as stack_manager
from e2e_support import bakepy, env_for, small_project
from faultproxy import FaultProxy

PASSWORD = "cosign-key-pass-do-not-print"
TAGS = ["latest", "1.0"]
TARGETS = ("app", "worker")


@pytest.fixture
def cosign(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    binary = stack_manager.cosign_path()
    assert binary.is_file(), f"{binary} is missing: tests/stack.py install builds it"
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(
        [str(binary), "generate-key-pair"], cwd=keys, check=True, capture_output=True,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
    )  # fmt: skip
    yield str(binary), keys


def _project(root: Path, registries: list[str], repo: str, keys: Path) -> Path:
    targets = "\n".join(
        f'[target.{t}]\nimage = "{repo}/{t}"\nargs = {{ NONCE = "${{NONCE}}", WHO = "{t}" }}\n'
        for t in TARGETS
    )
    project = small_project(
        root,
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = {TAGS!r}

        [project.sign]
        key = "cosign.key"
        tlog = false

        [variable.NONCE]
        default = "0"

        """,
        "FROM busybox\nARG NONCE\nARG WHO\nRUN echo $WHO $NONCE > /who\n",
    )
    with (project / "bakepy.toml").open("a") as f:
        f.write(targets)
    for name in ("cosign.key", "cosign.pub"):
        (project / name).write_bytes((keys / name).read_bytes())
    return project


def _tags(registries: list[str], repo: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for registry in registries:
        for target in TARGETS:
            for tag in TAGS:
                try:
                    out[f"{registry}/{repo}/{target}:{tag}"] = api.get_manifest(
                        registry, f"{repo}/{target}", tag
                    )[0]
                except api.RegistryAPIError:
                    out[f"{registry}/{repo}/{target}:{tag}"] = None
    return out


def _verify(binary: str, keys: Path, ref: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "verify", "--key", str(keys / "cosign.pub"), "--insecure-ignore-tlog=true",
         "--allow-http-registry", ref],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_index_is_signed_in_every_registry_before_its_tags_move(
    stack, cosign: tuple[str, Path], unique_repo: str, tmp_path: Path
) -> None:
    binary, keys = cosign
    registries = list(stack.registries)
    project = _project(tmp_path / "p", registries, unique_repo, keys)
    env = env_for(stack, NONCE="1", COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=binary)
    result = bakepy(["publish", "--progress", "plain"], project, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "signed and verified" in result.stderr, result.stderr[-3000:]
    assert PASSWORD not in result.stdout + result.stderr
    tags = _tags(registries, unique_repo)
    assert all(tags.values()), tags
    for ref, digest in tags.items():
        verified = _verify(binary, keys, f"{ref.rpartition(':')[0]}@{digest}")
        assert verified.returncode == 0, (ref, verified.stderr[-2000:])

    # a wrong key password: nothing is signed, no tag moves
    before = _tags(registries, unique_repo)
    wrong = env_for(stack, NONCE="2", COSIGN_PASSWORD="wrong", BAKEPY_COSIGN=binary)
    failed = bakepy(["publish", "--progress", "plain"], project, wrong)
    assert failed.returncode == 8, failed.stderr[-3000:]
    assert "no tag was moved" in failed.stderr and "Traceback" not in failed.stderr
    assert _tags(registries, unique_repo) == before


def test_a_refused_signature_push_moves_no_tag_and_takes_back_the_others(
    stack, cosign: tuple[str, Path], unique_repo: str, tmp_path: Path
) -> None:
    binary, keys = cosign
    with FaultProxy(stack.registries[1]) as proxy:
        registries = [stack.registries[0], proxy.address]
        direct = list(stack.registries)
        project = _project(tmp_path / "p", registries, unique_repo, keys)
        env = env_for(stack, NONCE="1", COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=binary)
        first = bakepy(["publish"], project, env)
        assert first.returncode == 0, first.stderr[-3000:]
        before = _tags(direct, unique_repo)
        signatures = {t: api.list_tags(stack.registries[0], f"{unique_repo}/{t}") for t in TARGETS}
        # the registry behind the proxy refuses signature manifests (cosign's sha256-….sig tags)
        proxy.add_rule("PUT", r"/manifests/sha256-[0-9a-f]+\.sig$", "status", status=403)
        env = env_for(stack, NONCE="2", COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=binary)
        failed = bakepy(["publish", "--progress", "plain"], project, env)
        assert failed.returncode == 8, failed.stderr[-3000:]
        assert "no tag was moved" in failed.stderr, failed.stderr[-3000:]
        assert _tags(direct, unique_repo) == before
        # what this run signed in the other registry was taken back: its signature tags are as before
        assert {
            t: api.list_tags(stack.registries[0], f"{unique_repo}/{t}") for t in TARGETS
        } == signatures


def test_status_requires_a_signature_and_names_a_tag_moved_to_an_unsigned_index(
    stack, cosign: tuple[str, Path], unique_repo: str, tmp_path: Path
) -> None:
    binary, keys = cosign
    registries = list(stack.registries)
    project = _project(tmp_path / "p", registries, unique_repo, keys)
    env = env_for(stack, NONCE="1", COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=binary)
    assert (first := bakepy(["publish"], project, env)).returncode == 0, first.stderr[-3000:]
    signed = bakepy(["status", "--require-signature", "--json"], project, env)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert {row["signature"] for row in json.loads(signed.stdout)} == {"signed"}

    # `latest` of one target in one registry moved by hand to an index nobody signed
    other = small_project(tmp_path / "other", f"""
        [project]
        registries = ["{registries[0]}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest"]

        [target.app]
        image = "{unique_repo}/app"
        args = {{ WHO = "someone else" }}
        """, "FROM busybox\nARG WHO\nRUN echo $WHO > /who\n")  # fmt: skip
    assert (moved := bakepy(["publish"], other, env_for(stack))).returncode == 0, moved.stderr
    status = bakepy(["status", "--require-signature"], project, env)
    assert status.returncode == 8, status.stdout + status.stderr
    assert f"{registries[0]}/{unique_repo}/app:latest (unsigned)" in status.stderr
