"""`bakepy gc`: after three publishes of changed content, exactly the digests no tag reaches are listed, then
deleted; every tag still pulls complete, its signature still verifies. Checked through the registry API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import registry_api as api
import stack as stack_manager
from e2e_support import bakepy, env_for, small_project

PASSWORD = "gc-key-pass"


def _closure(registry: str, repo: str, digest: str) -> set[str]:
    _, doc = api.get_manifest(registry, repo, digest)
    return {digest, *(m["digest"] for m in doc.get("manifests", []))}


def test_gc_lists_exactly_the_unreachable_digests_and_deletes_them(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    cosign = str(stack_manager.cosign_path())
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run([cosign, "generate-key-pair"], cwd=keys, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": PASSWORD})  # fmt: skip
    registries = list(stack.registries)
    project = small_project(
        tmp_path / "p",
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest"]

        [project.sign]
        key = "cosign.key"
        tlog = false

        [variable.NONCE]
        default = "0"

        [target.app]
        image = "{unique_repo}"
        args = {{ NONCE = "${{NONCE}}" }}
        """,
        "FROM busybox\nARG NONCE\nRUN echo $NONCE > /nonce\n",
    )
    for name in ("cosign.key", "cosign.pub"):
        (project / name).write_bytes((keys / name).read_bytes())
    indexes = []
    for nonce in ("1", "2", "3"):
        env = env_for(stack, NONCE=nonce, COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=cosign)
        done = bakepy(["publish"], project, env)
        assert done.returncode == 0, done.stderr[-3000:]
        indexes.append(api.get_manifest(registries[0], unique_repo, "latest")[0])
    assert len(set(indexes)) == 3

    # what no tag reaches, from the registry API alone: the first two indexes with their children, and their
    # cosign signatures
    expected: dict[str, set[str]] = {}
    for registry in registries:
        live = _closure(registry, unique_repo, indexes[2])
        gone: set[str] = set()
        for old in indexes[:2]:
            gone |= _closure(registry, unique_repo, old) - live
            sig = f"{old.replace(':', '-')}.sig"
            gone.add(api.get_manifest(registry, unique_repo, sig)[0])
        expected[f"{registry}/{unique_repo}"] = gone

    env = env_for(stack, COSIGN_PASSWORD=PASSWORD, BAKEPY_COSIGN=cosign)
    listed = bakepy(["gc", "--grace", "0", "--json"], project, env)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {repo: set(c) for repo, c in found["candidates"].items()} == expected
    assert found["deleted"] == []

    deleted = bakepy(["gc", "--grace", "0", "--delete"], project, env)
    assert deleted.returncode == 0, deleted.stderr
    for repo, digests in expected.items():
        registry, _, path = repo.partition("/")
        for digest in digests:
            try:
                api.get_manifest(registry, path, digest)
                raise AssertionError(f"{repo}@{digest} still there")
            except api.RegistryAPIError as exc:
                assert exc.status == 404
        _, index = api.get_manifest(registry, path, "latest")
        assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
        for child in index["manifests"]:
            api.get_manifest(registry, path, child["digest"])
        verified = subprocess.run(
            [cosign, "verify", "--key", str(keys / "cosign.pub"), "--insecure-ignore-tlog=true",
             "--allow-http-registry", f"{repo}@{indexes[2]}"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr[-2000:]

    # within the grace period nothing is a candidate (a publish under way stages first)
    fresh = bakepy(["gc", "--json"], project, env)
    assert fresh.returncode == 0 and json.loads(fresh.stdout)["candidates"] == {}
