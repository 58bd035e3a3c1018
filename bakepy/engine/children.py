"""Starting docker processes that die with bakepy: the one place `engine.runner` starts a process.

A SIGKILL of bakepy (an OOM kill, a CI job cancelled hard, `kill -9`) runs no handler of its own, so its
`docker buildx bake` kept building and pushing after it was gone (issue 23). On Linux each docker process is
started with a parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`, armed between fork and exec): the kernel
kills it when the thread of bakepy that started it ends. The buildx plugin that docker runs as a child
(`docker-buildx`) is not reached by that signal (it is not inherited across fork, and docker runs plugins in a
process group of their own, docker/cli#4769), but docker CLIs from 25 on hand a plugin a socket and the plugin
cancels its build when that socket closes, which it does when docker dies (docker/cli#4599; before it, plugins
outlived the CLI: docker/cli#4402). Checked on the real stack (docker 28, buildx 0.36):
tests/e2e/test_hostile_files.py. Ctrl-C and SIGTERM are handled as before, by `runner.terminate_descendants`.

python-on-whales' `run` and `stream_stdout_and_stderr` take no `preexec_fn`, so this module runs the same argv
with the same environment the same way (the environment merged over bakepy's own, `DOCKER_CLI_EXPERIMENTAL` for
buildx, stdout decoded as they decode it), with the hook added. Elsewhere than Linux there is no hook and
processes run as python-on-whales would run them.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

__all__ = ["ProcessFailed", "die_with_parent", "run_captured", "stream_lines"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl: Any = None  # libc's prctl, looked up once, before any fork (the child does no lookup)


class ProcessFailed(Exception):
    """A process exited non-zero: its argv, exit code and stderr (decoded, bad bytes replaced)."""

    def __init__(self, argv: Sequence[str], return_code: int, stderr: str) -> None:
        super().__init__(f"{argv[:3]} exited {return_code}")
        self.argv = list(argv)
        self.return_code = return_code
        self.stderr = stderr


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that arms SIGKILL for the child when its parent thread ends (Linux); None elsewhere.

    The hook runs in the forked child before exec, so it only calls a function looked up beforehand. If bakepy
    died between the fork and the prctl the child is already orphaned and the signal would never come: it then
    kills itself."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return None
    if _prctl is None:
        import ctypes

        try:
            function = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return None
        function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        function.restype = ctypes.c_int
        _prctl = function
    prctl = _prctl
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), kill)

    return hook


def _environment(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    merged = {**os.environ, **env}
    if len(argv) > 1 and argv[1] == "buildx":  # as python-on-whales' run sets it
        merged["DOCKER_CLI_EXPERIMENTAL"] = "enabled"
    return merged


def _text(data: bytes | None) -> str:
    """python-on-whales' `post_process_stream`: decoded with bad bytes replaced, one trailing newline cut."""
    text = (data or b"").decode(errors="replace")
    return text[:-1] if text.endswith("\n") else text


def run_captured(argv: Sequence[str], env: Mapping[str, str], input: bytes | None = None) -> str:
    """Run `argv` to its end with stdout and stderr captured (and `input` on stdin); stdout as text, or
    `ProcessFailed`. FileNotFoundError when the program is missing."""
    done = subprocess.run(
        list(argv),
        input=input,
        capture_output=True,
        env=_environment(argv, env),
        preexec_fn=die_with_parent(),  # only calls prctl, looked up before the fork
        check=False,
    )
    if done.returncode != 0:
        raise ProcessFailed(argv, done.returncode, _text(done.stderr))
    return _text(done.stdout)


def _pump(pipe: IO[bytes], name: str, lines: queue.Queue[tuple[str, bytes] | None]) -> None:
    try:
        with pipe:
            for line in iter(pipe.readline, b""):
                lines.put((name, line))
    finally:
        lines.put(None)


def stream_lines(argv: Sequence[str], env: Mapping[str, str]) -> Iterator[tuple[str, bytes]]:
    """Run `argv`, yielding ("stdout" | "stderr", line) as the lines come; `ProcessFailed` (with all of stderr)
    when it exits non-zero. FileNotFoundError when the program is missing."""
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(argv, env),
        preexec_fn=die_with_parent(),
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
    for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
        # daemon readers: a Ctrl-C in the consumer is not kept waiting for them
        threading.Thread(target=_pump, args=(pipe, name, lines), daemon=True).start()
    stderr: list[bytes] = []
    open_pipes = 2
    while open_pipes:
        item = lines.get()
        if item is None:
            open_pipes -= 1
            continue
        if item[0] == "stderr":
            stderr.append(item[1])
        yield item
    code = process.wait()
    if code != 0:
        raise ProcessFailed(argv, code, b"".join(stderr).decode(errors="replace"))
