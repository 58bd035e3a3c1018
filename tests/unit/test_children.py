"""engine.children: every docker process is started with a hook that arms its parent-death signal (Linux), and
runs as python-on-whales would run it (environment, decoding, failures). No process is started here."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from bakepy.engine import children
from bakepy.engine.runner import Runner
from bakepy.errors import BuildError

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")


class _Done:
    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@LINUX
def test_the_hook_arms_sigkill_for_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(children, "_prctl", lambda *args: calls.append(args) or 0)
    hook = children.die_with_parent()
    assert hook is not None
    # as in the forked child, whose parent (this process) is alive: the signal is armed, nothing else happens
    monkeypatch.setattr(children.os, "getppid", children.os.getpid)
    hook()
    assert calls == [(1, int(signal.SIGKILL), 0, 0)]


@LINUX
def test_a_child_orphaned_before_the_hook_kills_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(children, "_prctl", lambda *args: 0)
    hook = children.die_with_parent()
    assert hook is not None
    monkeypatch.setattr(children.os, "getppid", lambda: 1)  # adopted by init: bakepy is gone
    monkeypatch.setattr(children.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    hook()
    assert killed == [(children.os.getpid(), int(signal.SIGKILL))]


@LINUX
def test_the_real_prctl_is_found() -> None:
    assert children.die_with_parent() is not None
    assert children._prctl is not None


def test_runner_runs_docker_with_the_hook_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def run(argv: list[str], **kwargs: Any) -> _Done:
        seen.update(kwargs, argv=argv)
        return _Done(0, b"out\n", b"")

    monkeypatch.setattr(children.subprocess, "run", run)
    logged: list[str] = []
    runner = Runner(log=logged.append, env={"A": "1"})
    monkeypatch.setattr(runner, "docker_cmd", lambda: ["docker"])
    assert runner.run(["buildx", "version"], what="docker buildx version") == "out"
    assert seen["argv"] == ["docker", "buildx", "version"]
    assert seen["env"]["A"] == "1"
    assert (
        seen["env"]["DOCKER_CLI_EXPERIMENTAL"] == "enabled"
    )  # as python-on-whales sets it for buildx
    assert (seen["preexec_fn"] is not None) is sys.platform.startswith("linux")
    assert logged == ["+ docker buildx version"]


def test_a_failure_keeps_the_exit_code_and_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        children.subprocess, "run", lambda argv, **kw: _Done(1, b"", b"ERROR: \xff boom\n")
    )
    runner = Runner(log=lambda line: None)
    monkeypatch.setattr(runner, "docker_cmd", lambda: ["docker"])
    with pytest.raises(BuildError) as caught:
        runner.run(["buildx", "du"], what="docker buildx du", error=BuildError)
    assert caught.value.message == "docker buildx du failed (exit 1): ERROR: \ufffd boom"
