"""Shared set-up of the benchmarks: the local stack, a scratch project, timing side by side.

Benchmarks print ratios of runs measured in the same process, interleaved (A, B, A, B, …), so a noisy shared
machine slows both sides alike. They are scripts, never timed tests.
"""

from __future__ import annotations

import os
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
