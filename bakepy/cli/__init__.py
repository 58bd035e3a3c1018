"""The command-line interface: the only package that imports typer.

Command modules register on `bakepy.cli.app.app` when imported, and a run imports only the module of the command
it names (`load_commands`); they import heavy modules (pydantic models, python_on_whales) inside the command body
so `bakepy --help` and `bakepy --version` stay fast.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

_COMMANDS: dict[str, str] = {
    # command (or command group) name → the module under bakepy.cli that registers it, in `bakepy --help` order
    "init": "init",
    "doctor": "doctor",
    "publish": "publish",
    "render": "render",
    "plan": "render",
    "schema": "render",
    "import": "import_",
    "matrix": "ci",
    "build": "ci",
    "merge": "ci",
    "ci": "ci",
    "assemble": "assemble",
    "status": "assemble",
    "promote": "promote",
    "gc": "gc_",
    "builder": "builder",
    "tags": "tags",
    "recover": "recover",
}
# The root's options that may come before the command and take no value.
_ROOT_FLAGS = frozenset({"--debug"})


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the commands `argv` (the arguments after `bakepy`) needs on the app; None registers every one.

    typer builds a click command, with a pydantic validator per option, for every registered command on each run,
    and resolves every command's annotations: ~13 ms for all of them here, while a run uses one. So a run that names
    a known command imports only that command's module; `bakepy`, `--help`, `--version`, a mistyped command (for
    typer's did-you-mean) or any other root option first load them all, as the whole list is what they show.
    """
    modules = dict.fromkeys(_COMMANDS.values())
    if argv is not None:
        args = list(argv)
        while args and args[0] in _ROOT_FLAGS:
            args.pop(0)
        if args and args[0] in _COMMANDS:
            modules = {_COMMANDS[args[0]]: None}
    for name in modules:
        importlib.import_module(f"bakepy.cli.{name}")


_gc_paused = False
#: The cyclic collector's young-generation threshold once a command runs (Python's default: 700 allocations).
#: A command's own start-up (its modules, pydantic's schemas and validators, the project's models: ~40,000
#: objects that live as long as the process) would otherwise be scanned again and again as it appears: ~10 ms
#: of CPU of a `merge` here. Garbage in cycles then waits for 100,000 allocations at most: a few MB, in a
#: process that lives seconds to minutes.
_YOUNG_THRESHOLD = 100_000


def main() -> None:
    """Entry point of the `bakepy` command."""
    # Start-up (typer, pydantic, the command's options) makes ~50,000 objects that live as long as the process;
    # the cyclic collector scans them again and again as they appear: ~9 ms of every command here. Collection
    # resumes, with those objects set aside for good, once the command itself starts (`start_collecting`).
    global _gc_paused
    gc.disable()
    _gc_paused = True
    from bakepy.cli.app import run_app

    # SIGTERM (CI cancelling a job, `kill`) is handled like Ctrl-C: stop the children, put back moved tags.
    signal.signal(signal.SIGTERM, _terminated)
    _leave(run_app())


def start_collecting() -> None:
    """End the start-up's pause of the cyclic garbage collector (see `main`), if this process paused it.

    What start-up made is frozen (`gc.freeze`: never scanned again; modules, classes and the CLI, all kept to
    the end anyway), so the command's own collections scan only what the command makes, once every
    `_YOUNG_THRESHOLD` allocations.
    """
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.set_threshold(_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        gc.enable()


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
