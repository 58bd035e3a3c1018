"""Helpers shared by the end-to-end tests: running the real bakepy CLI, and a tiny two-platform Dockerfile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def bakepy(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
