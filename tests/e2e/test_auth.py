"""Publishing to a registry that requires a login: credentials come from the Docker credential store only.

The test registry uses htpasswd auth. Its credentials are written to a private DOCKER_CONFIG (as `docker login`
would; there is no engine here to run it), so buildx, BuildKit through buildx's session, and bakepy's registry
client (which resolves them as docker does, in memory only) authenticate. Afterwards the same storage is served without auth, so the check reads it through the
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
from token_service import TokenService

USER, PASSWORD = "ci", "s3cret-pass-do-not-print"


@pytest.fixture
def auth_registry(stack, tmp_path: Path) -> Iterator[ScratchRegistry]:
    registry = ScratchRegistry(tmp_path / "registry")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (registry.root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    registry.serve(htpasswd=registry.root / "htpasswd")
    yield registry
    registry.stop()


def docker_config_with_login(
    tmp_path: Path, registry: str, user: str = USER, password: str = PASSWORD
) -> Path:
    """A DOCKER_CONFIG holding a login for `registry`, and the user's plugins and builders."""
    config = tmp_path / f"docker-config-{user}-{len(password)}"
    config.mkdir()
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for shared in ("cli-plugins", "buildx"):
        (config / shared).symlink_to(home / shared)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
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
    # the registry client logged in with the stored login itself: no imagetools child
    assert "imagetools children: none" in result.stderr, result.stderr[-3000:]
    assert "imagetools create" not in result.stderr

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


# -- is a push authorised? asked without writing ------------------------------------------------------------
READER, READER_PASSWORD = "reader", "pull-only-pass-do-not-print"


@pytest.fixture
def token_registry(stack, tmp_path: Path) -> Iterator[tuple[ScratchRegistry, TokenService]]:
    """A registry with Bearer auth (the token protocol of Docker Hub, GHCR, Harbor): `ci` may push and pull
    everywhere, `reader` may only pull."""
    service = TokenService(
        tmp_path / "token",
        {USER: (PASSWORD, {"push", "pull"}), READER: (READER_PASSWORD, {"pull"})},
    )
    registry = ScratchRegistry(tmp_path / "bearer-registry")
    registry.serve(auth=service.registry_auth())
    yield registry, service
    registry.stop()
    service.stop()


def _project(tmp_path: Path, registry: str, repo: str) -> Path:
    return small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{registry}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest"]

        [target.app]
        image = "{repo}"
        """,
    )


def _bakepy(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _checks(doctor: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}


def test_a_bearer_registry_says_the_login_may_push_and_publish_pushes(
    stack, token_registry: tuple[ScratchRegistry, TokenService], unique_repo: str, tmp_path: Path
) -> None:
    registry, service = token_registry
    project = _project(tmp_path, registry.address, unique_repo)
    config = docker_config_with_login(tmp_path, registry.address)
    env = {**os.environ, **stack.env_overlay, "DOCKER_CONFIG": str(config)}

    doctor = _bakepy(project, env, "--debug", "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    push = _checks(doctor)[f"push {registry.address}/{unique_repo}"]
    assert (push["status"], push["detail"]) == ("ok", "authorised: the token service grants push")
    assert f"repository:{unique_repo}:pull,push" in service.requests  # asked for, not written

    published = _bakepy(project, env, "--debug", "publish")
    assert published.returncode == 0, published.stderr
    output = doctor.stdout + doctor.stderr + published.stdout + published.stderr
    assert (
        PASSWORD not in output
        and base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in output
    )

    registry.serve()  # the same storage without auth, for the registry API client
    _, index = api.get_manifest(registry.address, unique_repo, "latest")
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}


def test_a_bearer_registry_refusing_push_fails_doctor_and_publish_before_any_build(
    stack, token_registry: tuple[ScratchRegistry, TokenService], unique_repo: str, tmp_path: Path
) -> None:
    registry, service = token_registry
    project = _project(tmp_path, registry.address, unique_repo)
    config = docker_config_with_login(tmp_path, registry.address, READER, READER_PASSWORD)
    env = {**os.environ, **stack.env_overlay, "DOCKER_CONFIG": str(config)}

    doctor = _bakepy(project, env, "doctor", "--json")
    assert doctor.returncode == 7, doctor.stdout + doctor.stderr
    push = _checks(doctor)[f"push {registry.address}/{unique_repo}"]
    assert (push["status"], push["detail"]) == (
        "fail",
        "refused: the token service grants pull, not push",
    )
    assert (
        push["fix"]
        == f"docker login {registry.address} with an account that may push to {unique_repo}"
    )
    assert f"failed: push {registry.address}/{unique_repo}" in doctor.stderr

    publish = _bakepy(project, env, "publish")
    assert publish.returncode == 5, publish.stderr
    assert f"the stored login may not push to {unique_repo}" in publish.stderr
    assert "buildx bake" not in publish.stderr  # no build step ran
    assert READER_PASSWORD not in doctor.stdout + doctor.stderr + publish.stderr

    # The verdict is the registry's own: with the reader's token it refuses to start an upload, which is what
    # the build's push would have met after the build.
    token = service.token(READER, [f"repository:{unique_repo}:push,pull"])
    upload = urllib.request.Request(
        f"http://{registry.address}/v2/{unique_repo}/blobs/uploads/",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(upload, timeout=5)
    assert denied.value.code == 401
    denied.value.close()
    registry.serve()
    assert api.list_tags(registry.address, unique_repo) == []


def test_a_basic_registry_checks_the_login_but_cannot_prove_push(
    stack, auth_registry: ScratchRegistry, unique_repo: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, auth_registry.address, unique_repo)
    good = docker_config_with_login(tmp_path, auth_registry.address)
    env = {**os.environ, **stack.env_overlay, "DOCKER_CONFIG": str(good)}
    doctor = _bakepy(project, env, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    push = _checks(doctor)[f"push {auth_registry.address}/{unique_repo}"]
    assert push["status"] == "ok"
    assert push["detail"] == (
        "not proven: login accepted; push not provable without writing (Basic auth)"
    )

    wrong = docker_config_with_login(tmp_path, auth_registry.address, USER, "wrong-password")
    env["DOCKER_CONFIG"] = str(wrong)
    doctor = _bakepy(project, env, "doctor", "--json")
    assert doctor.returncode == 7, doctor.stdout + doctor.stderr
    push = _checks(doctor)[f"push {auth_registry.address}/{unique_repo}"]
    assert push["detail"] == "refused: the registry refuses the stored login (HTTP 401)"
    publish = _bakepy(project, env, "publish")
    assert publish.returncode == 5, publish.stderr
    assert "the registry refuses the stored login" in publish.stderr
    assert "buildx bake" not in publish.stderr
