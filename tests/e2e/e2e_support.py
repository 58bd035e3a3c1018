"""Helpers shared by the end-to-end tests: running the real bakepy CLI, and a tiny two-platform Dockerfile."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
REVISION = "0123456789abcdef0123456789abcdef01234567"

DOCKERFILE = """\
FROM busybox
ARG FLAVOUR=plain
ARG NONCE=0
RUN echo "$FLAVOUR $NONCE built on $(uname -m)" > /built-on
CMD ["cat", "/built-on"]
"""


def env_for(stack: Stack, builder: str | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, **stack.env_overlay, "BAKEPY_REVISION": REVISION, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        env.pop(var, None)
    env.update(extra)
    if builder is not None:
        env["BUILDX_BUILDER"] = builder
    return env


def git_env(stack: Stack, **extra: str) -> dict[str, str]:
    """`env_for` without the CI's own variables (GITHUB_*, GITLAB_*, CI_*) or a pinned revision, with a git
    identity: for projects whose tags come from a git repository the test makes."""
    env = {
        k: v
        for k, v in env_for(stack).items()
        if not k.startswith(("GITHUB_", "GITLAB_", "CI_")) and k != "BAKEPY_REVISION"
    }
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    env.update(extra)
    return env


def bakepy(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


class ScratchRegistry:
    """A distribution registry of the test's own on a free loopback port, restartable over the same storage
    with other settings (read-only, or asking for an htpasswd login). BuildKit pushes to loopback over plain
    HTTP without configuration."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def serve(
        self,
        *,
        read_only: bool = False,
        htpasswd: Path | None = None,
        auth: dict[str, object] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """`auth`: a registry `auth` section as is (a token service's, see token_service.py); `tls`: (certificate,
        key) to serve HTTPS with."""
        self.stop()
        storage: dict[str, object] = {"filesystem": {"rootdirectory": str(self.root / "data")}}
        if read_only:
            storage["maintenance"] = {"readonly": {"enabled": True}}
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": storage,
            "http": {"addr": self.address, "secret": "bakepy-e2e"},
        }
        if htpasswd is not None:
            config["auth"] = {"htpasswd": {"realm": "bakepy-e2e", "path": str(htpasswd)}}
        if auth is not None:
            config["auth"] = auth
        if tls is not None:
            http_section = config["http"]
            assert isinstance(http_section, dict)
            http_section["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        (self.root / "config.yml").write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [
                shutil.which("docker-registry") or "docker-registry",
                "serve",
                str(self.root / "config.yml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        scheme = "http" if tls is None else "https"
        context = ssl._create_unverified_context() if tls is not None else None  # only: is it up?
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(
                    f"{scheme}://{self.address}/v2/", timeout=1, context=context
                ).close()
                return
            except urllib.error.HTTPError as exc:
                exc.close()
                return  # up, and asking for a login
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"registry on {self.address} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def small_project(
    root: Path, bakepy_toml: str, dockerfile: str = "FROM busybox\nRUN uname -m > /arch\n"
) -> Path:
    """A project folder: a tiny busybox Dockerfile (one RUN, so arm64 really runs under QEMU) and bakepy.toml
    (dedented, so callers can write it as an indented f-string)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    (root / "bakepy.toml").write_text(textwrap.dedent(bakepy_toml))
    return root


NONCE_DOCKERFILE = "FROM busybox\nARG NONCE\nRUN echo $NONCE > /nonce\n"


def nonce_project(root: Path, registries: list[str], repo: str, tags: list[str]) -> Path:
    """A one-target project for linux/amd64 + linux/arm64 whose content changes with the NONCE variable (set it
    in the environment: every value is a new image)."""
    return small_project(
        root,
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = {tags!r}

        [variable.NONCE]
        default = "0"

        [target.app]
        image = "{repo}"
        args = {{ NONCE = "${{NONCE}}" }}
        """,
        NONCE_DOCKERFILE,
    )


def bake_print(
    files: list[Path | str], names: list[str], cwd: Path, env: dict[str, str], *options: str
) -> Any:
    """`docker buildx bake -f FILE… --print OPTION… NAME…` as JSON (needs only the buildx plugin, no builder)."""
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI is not installed"
    done = subprocess.run(
        [
            docker,
            "buildx",
            "bake",
            *(a for f in files for a in ("-f", str(f))),
            "--print",
            *options,
            *names,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_ok(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """`argv` run in `cwd` with `env` over the test's environment; it must exit 0; its standard output."""
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed: {done.stderr.strip()}{done.stdout}"
    return done.stdout


def public_print(cwd: Path, file: str, env: dict[str, str]) -> dict[str, Any]:
    """`docker buildx bake -f FILE --print '*'` (`env` over the test's environment): every target and group but
    private ones (`_base`), a group's members sorted (bake lists a matrix of several keys in Go's map order)."""
    printed = bake_print([file], ["*"], cwd, {**os.environ, **env}, "--progress=quiet")
    groups = printed.get("group", {})
    return {
        "target": {n: t for n, t in printed["target"].items() if not n.startswith("_")},
        "group": {
            n: sorted(m for m in g.get("targets", []) if not m.startswith("_"))
            for n, g in groups.items()
            if not n.startswith("_")
        },
    }


class PrivateCA:
    """A certificate authority of the test's own and a server certificate for 127.0.0.1 signed by it (openssl),
    as a company registry with an internal CA has."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = root / "ca.crt", root / "ca.key"
        self.server_cert, self.server_key = root / "server.crt", root / "server.key"

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=bakepy e2e CA", "-keyout", str(self.key), "-out", str(self.cert))  # fmt: skip
        csr = root / "server.csr"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", str(self.server_key), "-out", str(csr))  # fmt: skip
        ext = root / "san.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(self.server_cert))  # fmt: skip


class GgcrRegistry:
    """go-containerregistry's `registry` (another implementation than distribution: in memory, open, plain
    HTTP) on a free loopback port."""

    def __init__(self, binary: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "-port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"ggcr registry on {self.address} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
