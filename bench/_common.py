"""Shared set-up of the benchmarks: the local stack, a scratch project, timing side by side.

Benchmarks print ratios of runs measured in the same process, interleaved (A, B, A, B, …), so a noisy shared
machine slows both sides alike. They are scripts, never timed tests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import stack as stack_manager  # noqa: E402  (tests/stack.py)


def compile_bakepy() -> None:
    """Byte-compile bakepy as `pip install` of its wheel does, so a run does not pay for compiling its modules.

    An editable install under PYTHONDONTWRITEBYTECODE=1 (set on some CI machines) otherwise compiles every bakepy
    module from source on every command: ~40 ms of each start-up that no installed copy pays."""
    import compileall

    compileall.compile_dir(str(ROOT / "bakepy"), quiet=1)


def bring_up_stack() -> stack_manager.Stack:
    """The local stack (reused when running); BUILDX_BUILDER is set for every command after this.
    Also byte-compiles bakepy (see `compile_bakepy`)."""
    compile_bakepy()
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
