"""Shared set-up of the benchmarks: the local stack, a scratch project, timing side by side.

Benchmarks print ratios of runs measured in the same process, interleaved (A, B, A, B, …), so a noisy shared
machine slows both sides alike. They are scripts, never timed tests.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import stack as stack_manager  # noqa: E402  (tests/stack.py)


def installed_python(scratch: Path) -> str:
    """A Python whose environment holds bakepy the way users install it: a wheel of this clone in a fresh venv.

    The benches time whole commands, so they run bakepy as installed rather than from the development venv, whose
    editable install puts a path finder (and setuptools' distutils shim) in front of every start: ~15 ms of each
    command that no installed copy pays, and with PYTHONDONTWRITEBYTECODE=1 (set on some CI machines) every
    bakepy module compiled from source on every run (~40 ms). The venv gets exactly the versions of bakepy's
    dependencies installed where the bench runs (a constraint per installed distribution), from the lock's wheel
    cache when there is one; pip compiles the wheel's modules as it installs them. The sources are copied first,
    so the build leaves nothing in the clone.
    """
    source = scratch / "source"
    shutil.copytree(
        ROOT / "bakepy", source / "bakepy", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    env_dir = scratch / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    freeze = sh(
        sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"
    )
    constraints = scratch / "constraints.txt"
    constraints.write_text(
        "".join(
            line + "\n" for line in freeze.splitlines() if not line.startswith("bakepy-publish")
        )
    )
    argv = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--root-user-action=ignore",
        "-c",
        str(constraints),
        str(source),
    ]
    wheels = Path(os.environ.get("BAKEPY_CACHE_DIR", "/var/cache/bakepy-ci")) / "wheels"
    if wheels.is_dir():
        argv += ["--no-index", "--find-links", str(wheels)]
    subprocess.run(argv, check=True)
    return str(python)


def bring_up_stack() -> stack_manager.Stack:
    """The local stack (reused when running); BUILDX_BUILDER is set for every command after this."""
    if os.environ.get("BAKEPY_E2E_BUILDER"):
        registries = os.environ.get("BAKEPY_E2E_REGISTRIES", "").split(",")
        overlay = {"BUILDX_BUILDER": os.environ["BAKEPY_E2E_BUILDER"]}
        os.environ.update(
            overlay
        )  # every command of the bench uses that builder, as with the local stack
        return stack_manager.Stack(
            overlay["BUILDX_BUILDER"], registries, None, {**os.environ, **overlay}, overlay
        )
    stack_manager.install()
    stack = stack_manager.up()
    os.environ.update(stack.env_overlay)
    return stack


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def interleaved(rounds: int, **sides: Callable[[int], None]) -> dict[str, list[float]]:
    """Run each side once per round, in turn; return the wall times per side."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(rounds):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn(i)
            times[name].append(time.perf_counter() - start)
    return times


def report(title: str, times: dict[str, list[float]], baseline: str) -> None:
    """Per side: the median, every run, the ratio of medians to `baseline`, and the median of the per-round
    ratios (each run against the baseline's run of the same round: steadier where the work itself varies from
    round to round, as a build under load does)."""
    print(f"\n{title}")
    base = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        paired = statistics.median(v / b for v, b in zip(values, times[baseline], strict=True))
        print(
            f"  {name:<28} median {median * 1000:8.1f} ms  (runs: {', '.join(f'{v * 1000:.0f}' for v in values)})"
            f"  ratio to {baseline}: {median / base:.2f} (per round: {paired:.2f})"
        )


LOGIN_USER, LOGIN_PASSWORD = "bench", "bench-password"


class LoginRegistries:
    """Distribution registries on free loopback ports that want an htpasswd login (bcrypt cost 4, so hashing
    costs nothing), with access logs to count requests, and a private DOCKER_CONFIG holding the logins, set in
    this process's environment (buildx, BuildKit through buildx and bakepy all read it)."""

    def __init__(self, root: Path, count: int = 2) -> None:
        import socket

        import bcrypt

        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.addresses: list[str] = []
        hashed = bcrypt.hashpw(LOGIN_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (root / "htpasswd").write_text(f"{LOGIN_USER}:{hashed}\n")
        for i in range(count):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            address = f"127.0.0.1:{port}"
            config = {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": False}},
                "storage": {"filesystem": {"rootdirectory": str(root / f"data{i}")}},
                "http": {"addr": address, "secret": "bench"},
                "auth": {"htpasswd": {"realm": "bench", "path": str(root / "htpasswd")}},
            }
            (root / f"registry{i}.yml").write_text(json.dumps(config))
            log = root / f"registry{i}.log"
            with log.open("wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        [
                            shutil.which("docker-registry") or "docker-registry",
                            "serve",
                            str(root / f"registry{i}.yml"),
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            self.logs.append(log)
            self.addresses.append(address)
        for address in self.addresses:
            _wait_http(f"http://{address}/v2/")
        home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
        config_dir = root / "docker-config"
        config_dir.mkdir()
        for shared in ("cli-plugins", "buildx"):
            if (home / shared).exists():
                (config_dir / shared).symlink_to(home / shared)
        token = base64.b64encode(f"{LOGIN_USER}:{LOGIN_PASSWORD}".encode()).decode()
        auths = {address: {"auth": token} for address in self.addresses}
        (config_dir / "config.json").write_text(json.dumps({"auths": auths}))
        os.environ["DOCKER_CONFIG"] = str(config_dir)

    def requests(self) -> int:
        """Registry API requests answered so far, from the access logs."""
        pattern = re.compile(rb'"(?:GET|HEAD|PUT|POST|PATCH|DELETE) /v2/')
        return sum(len(pattern.findall(log.read_bytes())) for log in self.logs)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)


def _wait_http(url: str, timeout: float = 30.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # up, asking for a login
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Counting:
    """Wraps bench sides to attribute registry requests (`counter()`, e.g. from access logs) to each run: a
    run's requests are the growth of the count until the next run starts (sides run one after another), read
    outside the timed calls."""

    def __init__(self, counter: Callable[[], int]) -> None:
        self.counter = counter
        self.marks: list[tuple[str, int]] = []

    def wrap(self, sides: dict[str, Callable[[int], None]]) -> dict[str, Callable[[int], None]]:
        def one(name: str, fn: Callable[[int], None]) -> Callable[[int], None]:
            def run(round_: int) -> None:
                self.marks.append((name, self.counter()))
                fn(round_)

            return run

        return {name: one(name, fn) for name, fn in sides.items()}

    def per_side(self) -> dict[str, list[int]]:
        time.sleep(0.5)  # the last access log lines
        marks = [*self.marks, ("", self.counter())]
        out: dict[str, list[int]] = {}
        for (name, start), (_, end) in itertools.pairwise(marks):
            out.setdefault(name, []).append(end - start)
        return out
