"""Publishing to a registry that requires a login: credentials come from the Docker credential store only.

The test registry uses htpasswd auth. Its credentials are written to a private DOCKER_CONFIG (as `docker login`
would; there is no engine here to run it), so buildx, and BuildKit through buildx's session, authenticate;
bakepy never sees them. Afterwards the same storage is served without auth, so the check reads it through the
registry HTTP API like every other test.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import registry_api as api
from e2e_support import ScratchRegistry, small_project

USER, PASSWORD = "ci", "s3cret-pass-do-not-print"


@pytest.fixture
def auth_registry(stack, tmp_path: Path) -> Iterator[ScratchRegistry]:
    registry = ScratchRegistry(tmp_path / "registry")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (registry.root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    registry.serve(htpasswd=registry.root / "htpasswd")
    yield registry
    registry.stop()


def docker_config_with_login(tmp_path: Path, registry: str) -> Path:
    """A DOCKER_CONFIG holding a login for `registry`, and the user's plugins and builders."""
    config = tmp_path / "docker-config"
    config.mkdir()
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for shared in ("cli-plugins", "buildx"):
        (config / shared).symlink_to(home / shared)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry: {"auth": token}}}))
    return config


def test_publish_to_a_registry_that_needs_a_login(
    stack, auth_registry: ScratchRegistry, unique_repo: str, tmp_path: Path
) -> None:
    project = small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{auth_registry.address}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest", "1"]

        [target.app]
        image = "{unique_repo}"
        """,
    )
    env = {
        **os.environ,
        **stack.env_overlay,
        "DOCKER_CONFIG": str(docker_config_with_login(tmp_path, auth_registry.address)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bakepy", "--debug", "publish", "--progress", "plain"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert PASSWORD not in output and token not in output  # even with --debug
    # the registry refuses anonymous writes, so the tags moved through buildx and the credential store
    assert "imagetools create --tag" in result.stderr, result.stderr[-3000:]

    # Anonymous reads are refused: the registry really demands the login bakepy used through buildx.
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(
            f"http://{auth_registry.address}/v2/{unique_repo}/tags/list", timeout=5
        )
    assert denied.value.code == 401
    denied.value.close()

    auth_registry.serve()  # the same storage, readable by the registry API client
    digests = {
        tag: api.get_manifest(auth_registry.address, unique_repo, tag)[0] for tag in ("latest", "1")
    }
    assert len(set(digests.values())) == 1
    _, index = api.get_manifest(auth_registry.address, unique_repo, "latest")
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
    assert len(api.attestations(index)) == 2


def test_a_missing_login_fails_doctor_and_publish_in_seconds_before_any_build(
    stack, auth_registry: ScratchRegistry, unique_repo: str, tmp_path: Path
) -> None:
    project = small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{auth_registry.address}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest"]

        [target.app]
        image = "{unique_repo}"
        """,
    )
    empty = tmp_path / "no-login"
    empty.mkdir()
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for shared in ("cli-plugins", "buildx"):
        (empty / shared).symlink_to(home / shared)
    env = {**os.environ, **stack.env_overlay, "DOCKER_CONFIG": str(empty)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bakepy", *args],
            cwd=project, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    doctor = run("doctor")
    assert doctor.returncode == 7, doctor.stdout + doctor.stderr
    assert f"registry {auth_registry.address}" in doctor.stdout
    assert f"docker login {auth_registry.address}" in doctor.stdout

    publish = run("publish")
    assert publish.returncode == 5, publish.stderr
    assert f"registry {auth_registry.address} wants a login" in publish.stderr
    assert f"docker login {auth_registry.address}" in publish.stderr
    assert "buildx bake" not in publish.stderr  # no build step ran
