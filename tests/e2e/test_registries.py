"""The registries people push to: logins (Basic, Bearer tokens), TLS with a private CA, another implementation.

Each kind is a real registry started here: distribution with htpasswd (Basic), distribution with token auth (the
protocol of Docker Hub, GHCR, Harbor; tests/e2e/token_service.py issues the tokens), distribution over TLS with a
private CA (trusted through docker's `/etc/docker/certs.d/HOST/ca.crt`; BuildKit is told through its own
config) and a login, and go-containerregistry's `registry` (open, in memory). On each: publish, status, a
per-platform build and merge, and a failed tag move rolled back, with the same assertions as on the open
registries, checked through the registry HTTP API (the login registries are served again over the same
storage without auth or TLS for that), and no `imagetools` child on the way: the registry client does it all.
Every output and every file the runs leave is searched for the password, its Basic token and the Bearer tokens.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import registry_api as api
import stack as stack_manager
from e2e_support import GgcrRegistry, PrivateCA, ScratchRegistry, nonce_project
from faultproxy import FaultProxy
from token_service import TokenService

USER, PASSWORD = "ci", "s3cret-pass-do-not-print-7f3a"
KINDS = ("basic", "token", "tls", "ggcr")


@dataclass
class Registry:
    """One registry under test: where bakepy pushes, the environment to run it with, and how to read it back
    through the plain registry API afterwards."""

    kind: str
    address: str
    env: dict[str, str]
    reopen: Callable[[], str]  # serve the same storage open, over HTTP; returns its address
    secrets: list[str] = field(default_factory=list)
    tokens: Callable[[], list[str]] = lambda: []


def _docker_config(tmp_path: Path, registry: str | None) -> Path:
    config = tmp_path / "docker-config"
    config.mkdir()
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for shared in ("cli-plugins", "buildx"):
        (config / shared).symlink_to(home / shared)
    auths = {}
    if registry is not None:
        auths[registry] = {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    (config / "config.json").write_text(json.dumps({"auths": auths}))
    return config


@pytest.fixture(params=KINDS)
def registry(
    request: pytest.FixtureRequest, stack, tmp_path: Path, builder_factory
) -> Iterator[Registry]:
    kind: str = request.param
    env = {**os.environ, **stack.env_overlay, "BAKEPY_REVISION": "0" * 40}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if kind == "ggcr":
        binary = stack_manager.ggcr_registry_path()
        assert binary.is_file(), f"{binary} is missing: tests/stack.py install builds it"
        ggcr = GgcrRegistry(binary)
        env["DOCKER_CONFIG"] = str(_docker_config(tmp_path, None))
        yield Registry(kind, ggcr.address, env, lambda: ggcr.address)
        ggcr.stop()
        return
    scratch = ScratchRegistry(tmp_path / "registry")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (scratch.root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    service: TokenService | None = None
    certs_d: Path | None = None
    if kind == "basic":
        scratch.serve(htpasswd=scratch.root / "htpasswd")
    elif kind == "token":
        service = TokenService(tmp_path / "token", {USER: (PASSWORD, {"push", "pull"})})
        scratch.serve(auth=service.registry_auth())
    else:  # tls: a private CA, trusted where docker looks for it and told to BuildKit
        ca = PrivateCA(tmp_path / "ca")
        scratch.serve(htpasswd=scratch.root / "htpasswd", tls=(ca.server_cert, ca.server_key))
        certs_d = Path("/etc/docker/certs.d") / scratch.address
        certs_d.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca.cert, certs_d / "ca.crt")
        name = f"tls-{uuid.uuid4().hex[:6]}"
        extra = f'[registry."{scratch.address}"]\n  http = false\n  ca = ["{ca.cert}"]'
        builder_factory(name, extra_config=extra)
        env["BUILDX_BUILDER"] = name
    env["DOCKER_CONFIG"] = str(_docker_config(tmp_path, scratch.address))

    def reopen() -> str:
        scratch.serve()
        return scratch.address

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    issued = (lambda: list(service.issued)) if service is not None else (lambda: [])
    try:
        yield Registry(kind, scratch.address, env, reopen, [PASSWORD, basic], issued)
    finally:
        scratch.stop()
        if service is not None:
            service.stop()
        if certs_d is not None:
            shutil.rmtree(certs_d, ignore_errors=True)


def _bakepy(
    project: Path, env: dict[str, str], *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", *args],
        cwd=project, env={**env, **extra}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _no_imagetools(result: subprocess.CompletedProcess[str]) -> None:
    """Every command bakepy runs is logged (`+ docker …`): none may be imagetools, and the client's own count
    says so too."""
    assert not re.search(r"^\+ .*imagetools", result.stderr, re.M), result.stderr[-3000:]
    assert "imagetools children: none" in result.stderr, result.stderr[-3000:]


def _leaks(reg: Registry, outputs: list[str], roots: list[Path]) -> list[str]:
    """Where the password, its Basic token or an issued Bearer token shows up: outputs and every file."""
    secrets = [s for s in (*reg.secrets, *reg.tokens()) if s]
    found = [f"output {i}" for i, text in enumerate(outputs) for s in secrets if s in text]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [str(path) for s in secrets if s.encode() in data]
    return found


def test_publish_status_merge_and_roll_back_on_every_kind_of_registry(
    registry: Registry, unique_repo: str, tmp_path: Path
) -> None:
    reg = registry
    project = nonce_project(tmp_path / "proj", [reg.address], unique_repo, ["latest", "1.0"])
    outputs: list[str] = []

    # 1. publish
    published = _bakepy(project, reg.env, "--debug", "publish", "--progress", "plain", NONCE="1")
    outputs += [published.stdout, published.stderr]
    assert published.returncode == 0, published.stderr[-3000:]
    _no_imagetools(published)

    # 2. status sees every tag complete
    status = _bakepy(project, reg.env, "status", "--json", NONCE="1")
    outputs += [status.stdout, status.stderr]
    assert status.returncode == 0, status.stdout + status.stderr

    # 3. one platform per runner, then a merge of the records: both tags move to the new index at once
    records = tmp_path / "records"
    for platform in ("linux/amd64", "linux/arm64"):
        built = _bakepy(
            project, reg.env, "build", "--platform", platform, "--push-by-digest",
            "--records", str(records), NONCE="2",
        )  # fmt: skip
        outputs += [built.stdout, built.stderr]
        assert built.returncode == 0, built.stderr[-3000:]
    merged = _bakepy(project, reg.env, "--debug", "merge", "--records", str(records), NONCE="2")
    outputs += [merged.stdout, merged.stderr]
    assert merged.returncode == 0, merged.stderr[-3000:]
    _no_imagetools(merged)

    # 4. a tag move refused by the registry (through a fault proxy: plain HTTP registries only): every tag is
    # put back where step 3 left it
    if reg.kind != "tls":
        with FaultProxy(reg.address) as proxy:
            proxy.add_rule("PUT", r"/manifests/1\.0$", "status", status=500)
            failing = {**reg.env, "BAKEPY_REGISTRY_TIMEOUT": "3"}
            if reg.kind in ("basic", "token"):  # the same login, under the proxy's address
                config = json.loads(Path(reg.env["DOCKER_CONFIG"], "config.json").read_text())
                config["auths"][proxy.address] = config["auths"][reg.address]
                Path(reg.env["DOCKER_CONFIG"], "config.json").write_text(json.dumps(config))
            proxied = nonce_project(
                tmp_path / "proxied", [proxy.address], unique_repo, ["latest", "1.0"]
            )
            failed = _bakepy(proxied, failing, "publish", "--progress", "plain", NONCE="3")
            outputs += [failed.stdout, failed.stderr]
            assert failed.returncode == 5, failed.stderr[-3000:]
            assert "put back" in failed.stderr or "no tag was" in failed.stderr, failed.stderr

    # 5. read back through the plain registry API, independent of bakepy
    address = reg.reopen()
    latest, index = api.get_manifest(address, unique_repo, "latest")
    same, _ = api.get_manifest(address, unique_repo, "1.0")
    assert latest == same
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
    # the index holds exactly the image manifests the per-platform records name (the merge of step 3)
    images = {
        r["platform"]: r["digest"]
        for r in (json.loads(p.read_text()) for p in records.rglob("*.json"))
    }
    assert set(images) == {"linux/amd64", "linux/arm64"}
    assert {p: d["digest"] for p, d in api.image_manifests(index).items()} == images

    assert _leaks(reg, outputs, [project, records, tmp_path / "proxied"]) == []
