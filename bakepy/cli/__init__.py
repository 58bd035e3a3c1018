"""The command-line interface: the only package that imports typer.

Command modules register on `bakepy.cli.app.app` when imported; they import heavy modules (pydantic models,
python_on_whales) inside the command body so `bakepy --help` and `bakepy --version` stay fast.
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
from typing import NoReturn

_COMMAND_MODULES: tuple[str, ...] = (
    "doctor",
    "publish",
    "render",
    "import_",
    "ci",
    "assemble",
    "builder",
    "tags",
)


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"bakepy.cli.{name}")


def main() -> None:
    """Entry point of the `bakepy` command."""
    from bakepy.cli.app import run_app

    # SIGTERM (CI cancelling a job, `kill`) is handled like Ctrl-C: stop the children, put back moved tags.
    signal.signal(signal.SIGTERM, _terminated)
    _leave(run_app())


def _leave(code: int) -> NoReturn:
    """Exit with `code`, skipping the interpreter's teardown when nothing needs it.

    Freeing every module and object at exit (pydantic's validators, python-on-whales' models) costs 30–45 ms of
    each command here, measured against `os._exit` (docs/performance.md). bakepy's work is done by now: every
    file it wrote is closed, every registry write answered, every child process ended. So when no other thread
    runs, the atexit handlers run (logging's flush among them), stdout and stderr are flushed, and the process
    ends at once. Anything else (a thread still running, a stream that cannot be flushed, such as a closed pipe)
    takes the ordinary way out, with its usual messages and exit code.
    """
    if threading.active_count() == 1:
        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)
        if threading.active_count() == 1:
            os._exit(code)
    sys.exit(code)


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


_load_commands()
