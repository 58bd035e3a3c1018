"""How the `bakepy` command ends (cli/__init__._leave): at once when nothing needs the interpreter's teardown,
the ordinary way otherwise; either way with every byte of output, the atexit handlers run, and its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Buffered as a user's run is (some CI machines set PYTHONUNBUFFERED, which would flush every write at once).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import atexit, sys, threading, time\nfrom bakepy.cli import _leave\n"
        + textwrap.dedent(body)
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_byte_of_buffered_output_and_the_atexit_handlers() -> None:
    result = _run(
        """
        atexit.register(lambda: print("atexit ran", file=sys.stderr))
        sys.stdout.write("x" * 1_000_000 + "\\nend\\n")  # far more than a pipe holds: written while read
        _leave(3)
        """
    )
    assert result.returncode == 3
    assert result.stdout.endswith("x\nend\n") and len(result.stdout) == 1_000_005
    assert result.stderr == "atexit ran\n"


def test_a_thread_still_running_is_waited_for() -> None:
    result = _run(
        """
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        _leave(0)
        """
    )
    assert result.returncode == 0
    assert result.stdout == "thread finished\n"


def test_a_closed_pipe_ends_the_ordinary_way() -> None:
    """stdout's reader went away (`bakepy … | head -c0`) before the last flush: Python's own ending, exit 120 and
    its one "Exception ignored" line, as without `_leave`; never a hang."""
    script = (
        "import sys\nfrom bakepy.cli import _leave\n"
        "sys.stdout.write('unflushed')\nsys.stdin.readline()\n_leave(0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away while the output still sits in bakepy's buffer
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    assert proc.wait(timeout=60) == 120
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert "BrokenPipeError" in err and "Traceback" not in err
