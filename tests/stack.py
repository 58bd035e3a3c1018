"""The local end-to-end build stack: BuildKit, buildx, three registries and QEMU, with no container engine.

This module owns installing the stack's tools (``install``), starting and stopping its daemons (``up``,
``down``, ``start_builder``, ``stop_builder``), and reporting on them (``status``, ``env``). It is imported by
``tests/e2e/conftest.py`` and run by people as ``python tests/stack.py install|up|down|status|env``.

What ``up`` runs, all on 127.0.0.1 and all recorded by PID in the state dir:

* ``docker-registry`` on 5000 and 5001 (publish targets) and 5002 (a docker.io mirror seeded with a
  two-platform ``library/busybox:latest``), each with deletes enabled;
* one ``buildkitd`` (OCI worker on runc, arm64 and others through QEMU binfmt handlers) behind a buildx
  ``remote`` builder named ``bakepy-stack``.

``start_builder`` starts further independent buildkitd + buildx builder pairs, e.g. one per simulated CI
runner. Only the standard library is used, so the module runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

BUILDX_VERSION = "v0.36.1"
BUILDKIT_VERSION = "v0.32.2"
BUILDX_MODULE = "github.com/docker/buildx"
BUILDKIT_MODULE = "github.com/moby/buildkit"
APT_PACKAGES = ("runc", "docker-registry", "qemu-user-static", "binfmt-support", "busybox-static")
HOST = "127.0.0.1"
MIRROR_IMAGE = "library/busybox:latest"
SEED_PLATFORMS = ("linux/amd64", "linux/arm64")

_UNIX_SOCKET_MAX = 107  # sun_path is 108 bytes including the NUL
_MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
# Loopback only: never send stack traffic through a proxy picked up from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A stack step failed; the message names the command and ends with the tail of its output."""

    def __init__(
        self,
        message: str,
        *,
        cmd: Sequence[str] | None = None,
        returncode: int | None = None,
        output: str = "",
    ) -> None:
        parts = [message]
        if cmd is not None:
            parts.append(f"command: {shlex.join(cmd)}")
        if returncode is not None:
            parts.append(f"exit code: {returncode}")
        tail = _tail(output)
        if tail:
            parts.append("output (tail):\n" + tail)
        super().__init__("\n".join(parts))
        self.cmd = tuple(cmd) if cmd is not None else None
        self.returncode = returncode
        self.output = output


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """Where the stack lives and what it listens on; ``from_env`` reads the overrides."""

    cache_dir: Path = Path("/var/cache/bakepy-ci")
    state_dir: Path = Path("/tmp/bakepy-stack")
    registry_ports: tuple[int, ...] = (5000, 5001)
    mirror_port: int = 5002
    builder_name: str = "bakepy-stack"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if environ is None else environ
        ports = env.get("BAKEPY_STACK_REGISTRY_PORTS", "5000,5001")
        return cls(
            cache_dir=Path(env.get("BAKEPY_CACHE_DIR", "/var/cache/bakepy-ci")),
            state_dir=Path(env.get("BAKEPY_STACK_DIR", "/tmp/bakepy-stack")),
            registry_ports=tuple(int(p) for p in ports.replace(" ", "").split(",") if p),
            mirror_port=int(env.get("BAKEPY_STACK_MIRROR_PORT", "5002")),
            builder_name=env.get("BAKEPY_STACK_BUILDER", "bakepy-stack"),
        )

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def registries(self) -> list[str]:
        return [f"{HOST}:{port}" for port in self.registry_ports]

    @property
    def mirror(self) -> str:
        return f"{HOST}:{self.mirror_port}"

    @property
    def all_ports(self) -> tuple[int, ...]:
        return (*self.registry_ports, self.mirror_port)

    @property
    def busybox_arm64(self) -> Path:
        return self.cache_dir / "busybox-arm64" / "bin" / "busybox"

    @property
    def buildx_plugin(self) -> Path:
        config = Path(os.environ.get("DOCKER_CONFIG", "~/.docker")).expanduser()
        return config / "cli-plugins" / "docker-buildx"


@dataclasses.dataclass(frozen=True)
class Builder:
    """One buildkitd daemon and the buildx ``remote`` builder of the same name that points at it."""

    name: str
    root: Path
    socket: Path
    platforms: tuple[str, ...] | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """Environment overlay selecting this builder for every buildx command."""
        return {"BUILDX_BUILDER": self.name}


@dataclasses.dataclass(frozen=True)
class Stack:
    """A running stack as tests see it.

    ``env`` is a full environment for subprocesses (a copy of ``os.environ`` plus ``env_overlay``);
    ``started`` names the components this ``up`` call started, so a caller can stop only those.
    """

    builder: str
    registries: list[str]
    mirror: str | None
    env: dict[str, str]
    env_overlay: dict[str, str]
    started: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# small helpers


def _say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
    check: bool = True,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, logging it first; raise ``StackError`` with its output tail if it fails."""
    argv = [os.fspath(c) for c in cmd]
    if not quiet:
        _say("+ " + shlex.join(argv))
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StackError(f"{argv[0]} is not installed or not on PATH", cmd=argv) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        err = exc.stderr if isinstance(exc.stderr, str) else ""
        raise StackError(f"timed out after {timeout:.0f}s", cmd=argv, output=out + err) from exc
    if check and proc.returncode != 0:
        raise StackError(
            "command failed", cmd=argv, returncode=proc.returncode, output=proc.stdout + proc.stderr
        )
    return proc


@contextlib.contextmanager
def _timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        _say(f"{step}: {time.monotonic() - start:.1f}s")


_LOCK_DEPTH: dict[Path, int] = {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An inter-process lock on ``path``, reentrant within this process (flock is per open file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _LOCK_DEPTH.get(path, 0):
        _LOCK_DEPTH[path] += 1
        try:
            yield
        finally:
            _LOCK_DEPTH[path] -= 1
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _LOCK_DEPTH[path] = 1
        try:
            yield
        finally:
            _LOCK_DEPTH[path] = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


def _http_status(url: str, *, method: str = "GET", timeout: float = 2.0) -> int | None:
    request = urllib.request.Request(url, method=method, headers={"Accept": _MANIFEST_ACCEPT})
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _wait_for(
    what: str, ready: Callable[[], bool], *, timeout: float, alive: Callable[[], bool] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if ready():
            return
        if alive is not None and not alive():
            raise StackError(f"{what} exited before it became ready")
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


# --------------------------------------------------------------------------------------------------
# install


def _dpkg_installed(package: str) -> bool:
    proc = run(["dpkg-query", "-W", "-f=${Status}", package], check=False, quiet=True)
    return proc.returncode == 0 and proc.stdout.strip().endswith(" installed")


def _binary_version(path: Path, *args: str) -> str | None:
    """The version word of ``path --version`` / ``path version`` output, or None if it does not run."""
    if not path.is_file():
        return None
    proc = run([path, *args], check=False, quiet=True, timeout=60)
    if proc.returncode != 0:
        return None
    for word in proc.stdout.split():
        if word.startswith("v") and word[1:2].isdigit():
            return word
    return None


def _is_aarch64_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    # e_machine (offset 18, little endian) 0xB7 is EM_AARCH64.
    return header[:4] == b"\x7fELF" and header[18:20] == b"\xb7\x00"


def _apt_install(packages: Sequence[str]) -> None:
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    with _timed("apt-get update"):
        run(["apt-get", "update", "-q"], env=env, timeout=900)
    with _timed(f"apt-get install {' '.join(packages)}"):
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            env=env,
            timeout=1800,
        )


def _install_busybox_arm64(cfg: StackConfig) -> None:
    """A static arm64 busybox for seeding the mirror, taken from Debian's arm64 package."""
    foreign = run(["dpkg", "--print-foreign-architectures"], quiet=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="busybox-arm64-") as tmp:
        download = ["apt-get", "download", "busybox-static:arm64"]
        if "arm64" not in foreign:
            run(["dpkg", "--add-architecture", "arm64"])
            with _timed("apt-get update (arm64 added)"):
                run(["apt-get", "update", "-q"], timeout=900)
            run(download, cwd=Path(tmp), timeout=600)
        elif run(download, cwd=Path(tmp), timeout=600, check=False).returncode != 0:
            # The package lists may predate the architecture being added; refresh once.
            run(["apt-get", "update", "-q"], timeout=900)
            run(download, cwd=Path(tmp), timeout=600)
        debs = sorted(Path(tmp).glob("busybox-static_*_arm64.deb"))
        if not debs:
            raise StackError("apt-get download busybox-static:arm64 produced no .deb", cmd=download)
        target = cfg.busybox_arm64.parent.parent
        shutil.rmtree(target, ignore_errors=True)
        run(["dpkg-deb", "-x", debs[0], target])
    if not _is_aarch64_elf(cfg.busybox_arm64):
        raise StackError(f"{cfg.busybox_arm64} is not an aarch64 ELF binary")


def _go_env(cfg: StackConfig) -> dict[str, str]:
    if shutil.which("go") is None:
        raise StackError(
            "go is not on PATH; BuildKit and buildx are built from source with Go >= 1.26"
        )
    return {"GOBIN": str(_staging_dir(cfg)), "GOFLAGS": "-buildvcs=false"}


def _buildx_build_cmd() -> list[str]:
    ldflags = f"-X {BUILDX_MODULE}/version.Version={BUILDX_VERSION}"
    return ["go", "install", "-ldflags", ldflags, f"{BUILDX_MODULE}/cmd/buildx@{BUILDX_VERSION}"]


def _buildkit_source(cfg: StackConfig) -> Path:
    """A writable copy of the BuildKit module source.

    ``go install github.com/moby/buildkit/cmd/buildkitd@VERSION`` is refused because BuildKit's go.mod has
    ``exclude`` directives, so build inside the module instead (its own go.mod and go.sum then apply).
    """
    src = cfg.cache_dir / "src" / f"buildkit-{BUILDKIT_VERSION}"
    if (src / "go.mod").is_file():
        return src
    proc = run(
        ["go", "mod", "download", "-json", f"{BUILDKIT_MODULE}@{BUILDKIT_VERSION}"], timeout=900
    )
    module_dir = Path(json.loads(proc.stdout)["Dir"])
    tmp = src.with_name(src.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(module_dir, tmp, symlinks=True)
    for path in [tmp, *tmp.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    tmp.rename(src)
    return src


def _staging_dir(cfg: StackConfig) -> Path:
    """Builds land here first, then replace bin/ atomically: a running buildkitd's file is never rewritten."""
    return cfg.cache_dir / "bin.new"


def _buildkit_build_cmd(cfg: StackConfig) -> list[str]:
    ldflags = f"-X {BUILDKIT_MODULE}/version.Version={BUILDKIT_VERSION}"
    out = f"{_staging_dir(cfg)}/"
    return ["go", "build", "-ldflags", ldflags, "-o", out, "./cmd/buildkitd", "./cmd/buildctl"]


def _run_parallel(
    jobs: Sequence[tuple[str, list[str], Path | None]], env: Mapping[str, str], logs: Path
) -> None:
    """Run long builds side by side, each logging to its own file; raise on the first failure."""
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for name, cmd, cwd in jobs:
        log_path = logs / f"{name}.log"
        _say(f"+ {shlex.join(cmd)}" + (f"   (in {cwd})" if cwd else "") + f"   > {log_path}")
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        running.append((name, cmd, proc, log_path, time.monotonic()))
    failures = []
    while running:
        finished = [job for job in running if job[2].poll() is not None]
        if not finished:
            time.sleep(0.2)
            continue
        name, cmd, proc, log_path, start = finished[0]
        running.remove(finished[0])
        returncode = proc.wait()
        _say(f"{name}: {time.monotonic() - start:.1f}s (exit {returncode})")
        if returncode != 0:
            failures.append(
                StackError(
                    f"building {name} failed",
                    cmd=cmd,
                    returncode=returncode,
                    output=log_path.read_text(),
                )
            )
    if failures:
        raise failures[0]


def install(config: StackConfig | None = None) -> None:
    """Install or build whatever the stack lacks; a no-op taking about a second when all is in place."""
    cfg = config or StackConfig.from_env()
    if sys.platform != "linux":
        raise StackError("the e2e stack runs on Linux only (it needs runc, binfmt_misc and apt)")
    total = time.monotonic()
    with _locked(cfg.cache_dir / ".install.lock"):
        with _timed("check apt packages"):
            missing = [p for p in APT_PACKAGES if not _dpkg_installed(p)]
        if missing:
            if os.geteuid() != 0:
                raise StackError(f"missing packages {missing}; installing them needs root")
            _apt_install(missing)

        if _is_aarch64_elf(cfg.busybox_arm64):
            _say(f"arm64 busybox: cached at {cfg.busybox_arm64}")
        else:
            with _timed("arm64 busybox"):
                _install_busybox_arm64(cfg)

        cfg.bin_dir.mkdir(parents=True, exist_ok=True)
        with _timed("check tool versions"):
            want_buildx = _binary_version(cfg.bin_dir / "buildx", "version") != BUILDX_VERSION
            want_buildkit = any(
                _binary_version(cfg.bin_dir / tool, "--version") != BUILDKIT_VERSION
                for tool in ("buildkitd", "buildctl")
            )
        jobs: list[tuple[str, list[str], Path | None]] = []
        if want_buildx:
            jobs.append(("buildx", _buildx_build_cmd(), None))
        if want_buildkit:
            jobs.append(("buildkit", _buildkit_build_cmd(cfg), _buildkit_source(cfg)))
        if jobs:
            staging = _staging_dir(cfg)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            with _timed("go builds (" + ", ".join(name for name, _, _ in jobs) + ")"):
                _run_parallel(jobs, _go_env(cfg), cfg.cache_dir / "logs")
            for built in sorted(staging.iterdir()):
                built.replace(cfg.bin_dir / built.name)
            staging.rmdir()
        else:
            _say(
                f"buildx {BUILDX_VERSION}, buildkitd/buildctl {BUILDKIT_VERSION}: cached in {cfg.bin_dir}"
            )
        for tool, args, version in (
            ("buildx", ("version",), BUILDX_VERSION),
            ("buildkitd", ("--version",), BUILDKIT_VERSION),
            ("buildctl", ("--version",), BUILDKIT_VERSION),
        ):
            found = _binary_version(cfg.bin_dir / tool, *args)
            if found != version:
                raise StackError(
                    f"{cfg.bin_dir / tool} reports version {found}, expected {version}"
                )

        plugin = cfg.buildx_plugin
        source = cfg.bin_dir / "buildx"
        if not _same_file_content(source, plugin):
            plugin.parent.mkdir(parents=True, exist_ok=True)
            tmp = plugin.with_name(plugin.name + ".tmp")
            shutil.copy2(source, tmp)
            tmp.replace(plugin)
            _say(f"copied {source} -> {plugin}")
        if shutil.which("docker") is None:
            raise StackError("the docker CLI is not on PATH (only the client is needed, no engine)")
        install_actionlint(cfg)
        install_gitlab_ci_local(cfg)
        install_ggcr_registry(cfg)
        install_cosign(cfg)
    _say(f"install done in {time.monotonic() - total:.1f}s")


# --------------------------------------------------------------------------------------------------
# actionlint: checks the GitHub workflows `bakepy ci github` generates (tests/e2e/test_actionlint.py).
# Optional for the stack: a failed install is reported, never raised; that test then fails in CI.

ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint"


def actionlint_path(config: StackConfig | None = None) -> Path:
    return (config or StackConfig.from_env()).bin_dir / "actionlint"


def install_actionlint(config: StackConfig | None = None) -> None:
    """``go install`` actionlint into the cache's bin dir (about 10 s once; a no-op when it is there)."""
    cfg = config or StackConfig.from_env()
    path = actionlint_path(cfg)
    if _binary_version(path, "--version") == ACTIONLINT_VERSION:
        return
    if shutil.which("go") is None:
        _say("actionlint: not installed (go is not on PATH)")
        return
    with _timed(f"actionlint {ACTIONLINT_VERSION}"):
        proc = run(
            ["go", "install", f"{ACTIONLINT_MODULE}/cmd/actionlint@{ACTIONLINT_VERSION}"],
            env={"GOBIN": str(cfg.bin_dir), "GOFLAGS": "-buildvcs=false"},
            check=False,
            timeout=900,
        )
    if proc.returncode != 0:
        _say(f"actionlint: go install failed (exit {proc.returncode}): {_tail(proc.stderr, 5)}")


# --------------------------------------------------------------------------------------------------
# go-containerregistry's `registry`: a second registry implementation for the e2e tests (tests/e2e/
# test_registries.py), in memory, open, plain HTTP (`registry -port N`). Built from the Go module proxy like
# actionlint; optional for the stack: a failed install is reported, never raised; that test then fails in CI.

GGCR_VERSION = "v0.22.1"
GGCR_MODULE = "github.com/google/go-containerregistry"


def ggcr_registry_path(config: StackConfig | None = None) -> Path:
    return (config or StackConfig.from_env()).bin_dir / "ggcr-registry"


def install_ggcr_registry(config: StackConfig | None = None) -> None:
    """``go build`` go-containerregistry's registry into the cache's bin dir (once; a no-op when it is there)."""
    cfg = config or StackConfig.from_env()
    path = ggcr_registry_path(cfg)
    stamp = path.with_name("ggcr-registry.version")
    if path.is_file() and stamp.is_file() and stamp.read_text() == GGCR_VERSION:
        return
    if shutil.which("go") is None:
        _say("ggcr registry: not installed (go is not on PATH)")
        return
    staging = cfg.bin_dir / "ggcr.new"
    with _timed(f"ggcr registry {GGCR_VERSION}"):
        proc = run(
            ["go", "install", f"{GGCR_MODULE}/cmd/registry@{GGCR_VERSION}"],
            env={"GOBIN": str(staging), "GOFLAGS": "-buildvcs=false"},
            check=False,
            timeout=900,
        )
    if proc.returncode != 0:
        _say(f"ggcr registry: go install failed (exit {proc.returncode}): {_tail(proc.stderr, 5)}")
        return
    (staging / "registry").replace(path)
    stamp.write_text(GGCR_VERSION)


# --------------------------------------------------------------------------------------------------
# cosign: signs and verifies in the signing tests (tests/e2e/test_signing.py), offline (no transparency log)
# against the loopback registries. Built from the Go module proxy (~2.5 min cold); optional for the stack like
# actionlint: a failed install is reported, never raised; the signing tests then fail in CI.

COSIGN_VERSION = "v2.6.5"
COSIGN_MODULE = "github.com/sigstore/cosign/v2"


def cosign_path(config: StackConfig | None = None) -> Path:
    return (config or StackConfig.from_env()).bin_dir / "cosign"


def install_cosign(config: StackConfig | None = None) -> None:
    """``go install`` cosign into the cache's bin dir (once; a no-op when that version is there)."""
    cfg = config or StackConfig.from_env()
    path = cosign_path(cfg)
    stamp = path.with_name("cosign.version")
    if path.is_file() and stamp.is_file() and stamp.read_text() == COSIGN_VERSION:
        return
    if shutil.which("go") is None:
        _say("cosign: not installed (go is not on PATH)")
        return
    staging = cfg.bin_dir / "cosign.new"
    with _timed(f"cosign {COSIGN_VERSION}"):
        proc = run(
            ["go", "install", f"{COSIGN_MODULE}/cmd/cosign@{COSIGN_VERSION}"],
            env={"GOBIN": str(staging), "GOFLAGS": "-buildvcs=false"},
            check=False,
            timeout=1800,
        )
    if proc.returncode != 0:
        _say(f"cosign: go install failed (exit {proc.returncode}): {_tail(proc.stderr, 5)}")
        return
    (staging / "cosign").replace(path)
    stamp.write_text(COSIGN_VERSION)


# --------------------------------------------------------------------------------------------------
# gitlab-ci-local: runs the GitLab pipelines `bakepy ci gitlab` generates, in shell mode
# (tests/e2e/test_ci_run.py). 4.56.2 is the newest that runs on Debian 12's Node 20 (4.75 needs a newer Node);
# its shell executor copies the project with rsync. Installed with npm under the cache's tools dir, pinned.
# Optional for the stack like actionlint: a failed install is reported, never raised; the tests then fail in CI.

GITLAB_CI_LOCAL_VERSION = "4.56.2"
GITLAB_CI_LOCAL_APT = ("nodejs", "npm", "rsync")


def gitlab_ci_local_path(config: StackConfig | None = None) -> Path:
    cfg = config or StackConfig.from_env()
    return (
        cfg.cache_dir
        / "tools"
        / f"gitlab-ci-local-{GITLAB_CI_LOCAL_VERSION}"
        / "node_modules"
        / ".bin"
        / "gitlab-ci-local"
    )


def install_gitlab_ci_local(config: StackConfig | None = None) -> None:
    """``npm install gitlab-ci-local@4.56.2`` under the cache's tools dir (apt-get nodejs, npm, rsync if
    missing); a no-op when it is there."""
    cfg = config or StackConfig.from_env()
    missing = [
        p
        for p, command in zip(GITLAB_CI_LOCAL_APT, ("node", "npm", "rsync"), strict=True)
        if shutil.which(command) is None
    ]
    if missing:
        if os.geteuid() != 0:
            _say(f"gitlab-ci-local: not installed (missing {missing}; installing them needs root)")
            return
        _apt_install(missing)
    path = gitlab_ci_local_path(cfg)
    prefix = path.parents[2]
    if path.is_file() and _npm_version(prefix, "gitlab-ci-local") == GITLAB_CI_LOCAL_VERSION:
        return
    prefix.mkdir(parents=True, exist_ok=True)
    with _timed(f"gitlab-ci-local {GITLAB_CI_LOCAL_VERSION}"):
        proc = run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                f"gitlab-ci-local@{GITLAB_CI_LOCAL_VERSION}",
            ],
            check=False,
            timeout=900,
        )
    if proc.returncode != 0:
        _say(
            f"gitlab-ci-local: npm install failed (exit {proc.returncode}): {_tail(proc.stderr, 5)}"
        )


def _npm_version(prefix: Path, package: str) -> str | None:
    try:
        data = json.loads((prefix / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def _same_file_content(a: Path, b: Path) -> bool:
    if not b.is_file():
        return False
    sa, sb = a.stat(), b.stat()
    return sa.st_size == sb.st_size and int(sa.st_mtime) == int(sb.st_mtime)


# --------------------------------------------------------------------------------------------------
# processes


def _pid_dir(cfg: StackConfig) -> Path:
    return cfg.state_dir / "pids"


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of ``pid``, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our child
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _read_record(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _record_pid(record: Mapping[str, object]) -> int | None:
    """The recorded PID if that process is still the one we started (guards against PID reuse)."""
    pid = record.get("pid")
    cmd = record.get("cmd")
    if not isinstance(pid, int) or not isinstance(cmd, list) or not _alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return None
    return pid if [part.decode() for part in cmdline] == cmd else None


def _component_pid(cfg: StackConfig, component: str) -> int | None:
    record = _read_record(_pid_dir(cfg) / f"{component}.json")
    return None if record is None else _record_pid(record)


def _spawn(
    cfg: StackConfig, component: str, cmd: Sequence[str | os.PathLike[str]], **extra: object
) -> int:
    """Start a daemon detached from us (its own session, reparented to init) and record its PID."""
    argv = [os.fspath(c) for c in cmd]
    logs = cfg.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{component}.log"
    _say("+ " + shlex.join(argv) + f"   > {log_path}")
    # The shell backgrounds the daemon and exits, so the daemon is never our child: no zombie to reap, and
    # no "subprocess is still running" ResourceWarning (which pytest's filterwarnings=error would turn fatal).
    launcher = [
        "sh",
        "-c",
        'log=$1; shift; setsid "$@" >>"$log" 2>&1 </dev/null & echo $!',
        "sh",
        str(log_path),
        *argv,
    ]
    proc = run(launcher, quiet=True, timeout=30)
    pid = int(proc.stdout.strip())
    _pid_dir(cfg).mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "cmd": argv, "log": str(log_path), **extra}
    (_pid_dir(cfg) / f"{component}.json").write_text(json.dumps(record, indent=2) + "\n")
    return pid


def _log_tail(cfg: StackConfig, component: str) -> str:
    try:
        return (cfg.state_dir / "logs" / f"{component}.log").read_text(errors="replace")
    except OSError:
        return ""


def _terminate(pid: int, *, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _stop_component(cfg: StackConfig, component: str) -> bool:
    """Stop a recorded component; True if something was running."""
    path = _pid_dir(cfg) / f"{component}.json"
    record = _read_record(path)
    pid = None if record is None else _record_pid(record)
    if pid is not None:
        _say(f"stopping {component} (pid {pid})")
        _terminate(pid)
    path.unlink(missing_ok=True)
    return pid is not None


# --------------------------------------------------------------------------------------------------
# registries


def _registry_healthy(port: int) -> bool:
    return _http_status(f"http://{HOST}:{port}/v2/") == 200


def _start_registry(cfg: StackConfig, port: int) -> bool:
    """Ensure a registry answers on ``port``; True if this call started it."""
    if _registry_healthy(port):
        return False
    component = f"registry-{port}"
    _stop_component(cfg, component)  # a stale, unhealthy one of ours
    data = cfg.state_dir / "registries" / str(port)
    data.mkdir(parents=True, exist_ok=True)
    config_path = cfg.state_dir / "registries" / f"{port}.yml"
    # JSON is YAML; storage.delete lets tests delete manifests.
    config_path.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(data)},
                    "delete": {"enabled": True},
                },
                # A fixed secret silences the "generated random secret" warning on every start.
                "http": {"addr": f"{HOST}:{port}", "secret": "bakepy-e2e-stack"},
            },
            indent=2,
        )
        + "\n"
    )
    cmd = ["docker-registry", "serve", str(config_path)]
    pid = _spawn(cfg, component, cmd)
    try:
        _wait_for(
            f"registry on port {port}",
            lambda: _registry_healthy(port),
            timeout=30,
            alive=lambda: _alive(pid),
        )
    except StackError as exc:
        raise StackError(str(exc), cmd=cmd, output=_log_tail(cfg, component)) from None
    return True


# --------------------------------------------------------------------------------------------------
# builders


def _buildkitd_config(cfg: StackConfig, extra: str = "", at: Path | None = None) -> Path:
    """The daemon's config: the stack's registries over plain HTTP, the docker.io mirror, and `extra` TOML (a
    test's own registry, e.g. TLS with its CA: `[registry."127.0.0.1:PORT"]` with `http = false`, `ca = [...]`),
    written to `at` when given (a builder of its own)."""
    lines = []
    for port in cfg.all_ports:
        lines += [f'[registry."{HOST}:{port}"]', "  http = true", ""]
    lines += ['[registry."docker.io"]', f'  mirrors = ["{cfg.mirror}"]', ""]
    if extra:
        lines += [extra, ""]
    path = at or cfg.state_dir / "buildkitd.toml"
    text = "\n".join(lines)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def _builder_for(cfg: StackConfig, name: str, platforms: Sequence[str] | None) -> Builder:
    root = cfg.state_dir / "builders" / name
    builder = Builder(
        name=name,
        root=root,
        socket=root / "buildkitd.sock",
        platforms=tuple(platforms) if platforms else None,
    )
    if len(str(builder.socket)) > _UNIX_SOCKET_MAX:
        raise StackError(
            f"socket path {builder.socket} is too long for a unix socket; use a shorter BAKEPY_STACK_DIR or name"
        )
    return builder


def _buildkitd_ready(cfg: StackConfig, builder: Builder) -> bool:
    if not builder.socket.exists():
        return False
    proc = run(
        [cfg.bin_dir / "buildctl", "--addr", builder.address, "debug", "workers"],
        check=False,
        quiet=True,
        timeout=10,
    )
    return proc.returncode == 0 and len(proc.stdout.splitlines()) > 1


def _buildx_endpoint(name: str) -> str | None:
    proc = run(["docker", "buildx", "inspect", name], check=False, quiet=True, timeout=60)
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Endpoint":
            return value.strip()
    return ""


def _ensure_buildx_builder(builder: Builder) -> None:
    endpoint = _buildx_endpoint(builder.name)
    record_path = builder.root / "buildx-platforms.json"
    wanted = json.dumps(list(builder.platforms or ()))
    same_platforms = record_path.is_file() and record_path.read_text() == wanted
    if endpoint == builder.address and same_platforms:
        return
    if endpoint is not None:
        run(["docker", "buildx", "rm", builder.name], check=False)
    cmd = ["docker", "buildx", "create", "--name", builder.name, "--driver", "remote"]
    if builder.platforms:
        cmd += ["--platform", ",".join(builder.platforms)]
    run([*cmd, builder.address], timeout=60)
    record_path.write_text(wanted)


def _builder_component(name: str) -> str:
    return f"buildkitd-{name}"


def start_builder(
    name: str,
    platforms: Sequence[str] | None = None,
    *,
    fresh: bool = False,
    config: StackConfig | None = None,
    extra_config: str = "",
) -> Builder:
    """Start (or reuse) an independent buildkitd with its own root and socket, plus a buildx builder.

    ``platforms`` restricts the daemon's worker (``--oci-worker-platform``) and the buildx node
    (``--platform``), as on a CI runner of that architecture; other platforms still run if asked for
    explicitly (through QEMU). Idempotent: a healthy daemon with the same platforms is reused, unless
    ``fresh``, which stops it and deletes its root first (an empty cache, like a new CI runner).
    ``extra_config``: TOML added to this daemon's config only (a test registry's TLS settings).
    """
    cfg = config or StackConfig.from_env()
    builder = _builder_for(cfg, name, platforms)
    component = _builder_component(name)
    with _locked(cfg.state_dir / ".lock"):
        if fresh:
            stop_builder(name, config=cfg, purge=True)
        record = _read_record(_pid_dir(cfg) / f"{component}.json")
        pid = None if record is None else _record_pid(record)
        same = record is not None and record.get("platforms") == list(builder.platforms or ())
        if pid is not None and same and _buildkitd_ready(cfg, builder):
            _ensure_buildx_builder(builder)
            return builder
        _stop_component(cfg, component)
        builder.root.mkdir(parents=True, exist_ok=True)
        builder.socket.unlink(missing_ok=True)
        own = builder.root / "buildkitd.toml" if extra_config else None
        cmd = [
            str(cfg.bin_dir / "buildkitd"),
            "--config",
            str(_buildkitd_config(cfg, extra_config, own)),
        ]
        cmd += ["--root", str(builder.root / "root"), "--addr", builder.address]
        cmd += ["--oci-worker=true", "--containerd-worker=false"]
        for platform in builder.platforms or ():
            cmd += ["--oci-worker-platform", platform]
        if not (cfg.bin_dir / "buildkitd").is_file():
            raise StackError(
                f"{cfg.bin_dir / 'buildkitd'} is missing; run `python tests/stack.py install`"
            )
        pid = _spawn(cfg, component, cmd, platforms=list(builder.platforms or ()), name=name)
        try:
            _wait_for(
                f"buildkitd {name}",
                lambda: _buildkitd_ready(cfg, builder),
                timeout=60,
                alive=lambda: _alive(pid),
            )
        except StackError as exc:
            raise StackError(str(exc), cmd=cmd, output=_log_tail(cfg, component)) from None
        _ensure_buildx_builder(builder)
        run(["docker", "buildx", "inspect", "--bootstrap", name], timeout=120)
        return builder


def stop_builder(name: str, *, config: StackConfig | None = None, purge: bool = False) -> None:
    """Remove the buildx builder ``name`` and stop its buildkitd; ``purge`` also deletes its cache."""
    cfg = config or StackConfig.from_env()
    with _locked(cfg.state_dir / ".lock"):
        if _buildx_endpoint(name) is not None:
            run(["docker", "buildx", "rm", name], check=False)
        _stop_component(cfg, _builder_component(name))
        root = cfg.state_dir / "builders" / name
        (root / "buildx-platforms.json").unlink(missing_ok=True)
        if purge:
            shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# binfmt and the mirror


def _ensure_binfmt() -> None:
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)])
    handler = binfmt / "qemu-aarch64"
    if not handler.exists() or not handler.read_text().startswith("enabled"):
        # update-binfmts exits non-zero when some formats are already enabled, so judge by the result.
        run(["update-binfmts", "--enable"], check=False)
    if not handler.exists() or not handler.read_text().startswith("enabled"):
        raise StackError(
            f"{handler} is not enabled after update-binfmts --enable; is qemu-user-static installed?"
        )


def _mirror_seeded(cfg: StackConfig) -> bool:
    repository, _, tag = MIRROR_IMAGE.partition(":")
    url = f"http://{cfg.mirror}/v2/{repository}/manifests/{tag}"
    return _http_status(url, method="HEAD") == 200


def _seed_mirror(cfg: StackConfig, builder: Builder) -> None:
    """Push a two-platform busybox to the mirror, so ``FROM busybox`` works without Docker Hub."""
    amd64 = Path("/bin/busybox")
    if not amd64.is_file() or not _is_aarch64_elf(cfg.busybox_arm64):
        raise StackError("busybox binaries are missing; run `python tests/stack.py install`")
    context = cfg.state_dir / "seed"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy2(amd64, context / "busybox-amd64")
    shutil.copy2(cfg.busybox_arm64, context / "busybox-arm64")
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "ARG TARGETARCH\n"
        "COPY busybox-${TARGETARCH} /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    with _timed("seed mirror"):
        cmd = ["docker", "buildx", "build", "--builder", builder.name, "--provenance=false"]
        cmd += ["--platform", ",".join(SEED_PLATFORMS), "--push"]
        run([*cmd, "--tag", f"{cfg.mirror}/{MIRROR_IMAGE}", str(context)], timeout=600)


# --------------------------------------------------------------------------------------------------
# up / down / status / env


def env_overlay(config: StackConfig | None = None) -> dict[str, str]:
    """Environment variables that point tools at the stack (what ``stack.py env`` exports)."""
    cfg = config or StackConfig.from_env()
    builder = _builder_for(cfg, cfg.builder_name, None)
    return {
        "BUILDX_BUILDER": cfg.builder_name,
        "BUILDKIT_HOST": builder.address,
        "BAKEPY_STACK_REGISTRIES": ",".join(cfg.registries),
        "BAKEPY_STACK_MIRROR": cfg.mirror,
    }


def _stack(cfg: StackConfig, started: Sequence[str] = ()) -> Stack:
    overlay = env_overlay(cfg)
    return Stack(
        builder=cfg.builder_name,
        registries=cfg.registries,
        mirror=cfg.mirror,
        env={**os.environ, **overlay},
        env_overlay=overlay,
        started=tuple(started),
    )


def _check_tools(cfg: StackConfig) -> None:
    missing = [
        str(cfg.bin_dir / t) for t in ("buildkitd", "buildctl") if not (cfg.bin_dir / t).is_file()
    ]
    missing += [
        t for t in ("docker", "docker-registry", "runc", "setsid") if shutil.which(t) is None
    ]
    if not cfg.buildx_plugin.is_file():
        missing.append(str(cfg.buildx_plugin))
    if missing:
        raise StackError(f"missing {', '.join(missing)}; run `python tests/stack.py install` first")
    if os.geteuid() != 0:
        raise StackError(
            "the stack must run as root (buildkitd's OCI worker and binfmt_misc need it)"
        )


def up(config: StackConfig | None = None) -> Stack:
    """Start whatever part of the stack is not running and healthy; reuse the rest."""
    cfg = config or StackConfig.from_env()
    total = time.monotonic()
    started: list[str] = []
    with _locked(cfg.state_dir / ".lock"):
        _check_tools(cfg)
        with _timed("binfmt"):
            _ensure_binfmt()
        with _timed("registries"):
            for port in cfg.all_ports:
                if _start_registry(cfg, port):
                    started.append(f"registry-{port}")
        with _timed(f"builder {cfg.builder_name}"):
            component = _builder_component(cfg.builder_name)
            before = _component_pid(cfg, component)
            builder = start_builder(cfg.builder_name, config=cfg)
            if _component_pid(cfg, component) != before:
                started.append(component)
        if not _mirror_seeded(cfg):
            _seed_mirror(cfg, builder)
    _say(
        f"up in {time.monotonic() - total:.1f}s"
        + (f" (started {', '.join(started)})" if started else " (all reused)")
    )
    return _stack(cfg, started)


def _components(cfg: StackConfig) -> list[str]:
    return sorted(p.stem for p in _pid_dir(cfg).glob("*.json")) if _pid_dir(cfg).is_dir() else []


def down(
    config: StackConfig | None = None,
    *,
    components: Sequence[str] | None = None,
    purge: bool = False,
) -> None:
    """Stop what the stack started (or only ``components``), builders first; ``purge`` deletes its state."""
    cfg = config or StackConfig.from_env()
    with _locked(cfg.state_dir / ".lock"):
        names = _components(cfg) if components is None else list(components)
        prefix = _builder_component("")
        for component in sorted(names, key=lambda c: not c.startswith(prefix)):
            if component.startswith(prefix):
                stop_builder(component[len(prefix) :], config=cfg)
            else:
                _stop_component(cfg, component)
        if components is None and _buildx_endpoint(cfg.builder_name) is not None:
            run(["docker", "buildx", "rm", cfg.builder_name], check=False)
    if purge and components is None:
        shutil.rmtree(cfg.state_dir, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class StackStatus:
    healthy: bool
    lines: tuple[str, ...]


def status(config: StackConfig | None = None) -> StackStatus:
    """Report each component; healthy means every registry answers, the builder works and the mirror is seeded."""
    cfg = config or StackConfig.from_env()
    lines = []
    healthy = True
    for port in cfg.all_ports:
        ok = _registry_healthy(port)
        healthy &= ok
        pid = _component_pid(cfg, f"registry-{port}")
        role = "mirror" if port == cfg.mirror_port else "registry"
        lines.append(
            f"{role:9} {HOST}:{port:<6} {'up' if ok else 'DOWN'}" + (f"  pid {pid}" if pid else "")
        )
    for component in _components(cfg):
        if not component.startswith(_builder_component("")):
            continue
        name = component[len(_builder_component("")) :]
        record = _read_record(_pid_dir(cfg) / f"{component}.json") or {}
        raw = record.get("platforms")
        platforms = [str(p) for p in raw] if isinstance(raw, list) else []
        builder = _builder_for(cfg, name, platforms)
        pid = _component_pid(cfg, component)
        ok = (
            pid is not None
            and _buildkitd_ready(cfg, builder)
            and _buildx_endpoint(name) == builder.address
        )
        if name == cfg.builder_name:
            healthy &= ok
        extra = f"  platforms {','.join(platforms)}" if platforms else ""
        lines.append(
            f"builder   {name:14} {'up' if ok else 'DOWN'}"
            + (f"  pid {pid}" if pid else "")
            + extra
        )
    if _component_pid(cfg, _builder_component(cfg.builder_name)) is None:
        healthy = False
        lines.append(f"builder   {cfg.builder_name:14} DOWN")
    seeded = _mirror_seeded(cfg)
    healthy &= seeded
    lines.append(f"mirror    {MIRROR_IMAGE} {'seeded' if seeded else 'MISSING'}")
    return StackStatus(healthy=healthy, lines=tuple(lines))


# --------------------------------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/stack.py", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install/build the tools (idempotent)")
    up_parser = sub.add_parser("up", help="start the stack (reuses what is running)")
    up_parser.add_argument("--no-install", action="store_true", help="do not run install first")
    down_parser = sub.add_parser("down", help="stop everything the stack started")
    down_parser.add_argument(
        "--purge", action="store_true", help="also delete the state dir (registry data, caches)"
    )
    sub.add_parser("status", help="show what runs; exit 0 if healthy")
    sub.add_parser("env", help='print shell exports; use: eval "$(python tests/stack.py env)"')
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    try:
        if args.command == "install":
            install(cfg)
        elif args.command == "up":
            if not args.no_install:
                install(cfg)
            stack = up(cfg)
            print(
                f"builder {stack.builder}; registries {' '.join(stack.registries)}; mirror {stack.mirror}"
            )
        elif args.command == "down":
            down(cfg, purge=args.purge)
        elif args.command == "status":
            report = status(cfg)
            print("\n".join(report.lines))
            return 0 if report.healthy else 1
        elif args.command == "env":
            for key, value in env_overlay(cfg).items():
                print(f"export {key}={shlex.quote(value)}")
            path = os.environ.get("PATH", "")
            if str(cfg.bin_dir) not in path.split(":"):
                print(f'export PATH={shlex.quote(str(cfg.bin_dir))}:"$PATH"')
    except StackError as exc:
        print(f"stack.py {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
