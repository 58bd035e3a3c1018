"""The command-line interface: the only package that imports typer.

Command modules register on `bakepy.cli.app.app` when imported; they import heavy modules (pydantic models,
python_on_whales) inside the command body so `bakepy --help` and `bakepy --version` stay fast.
"""

from __future__ import annotations

import importlib
import signal
import sys

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
    sys.exit(run_app())


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


_load_commands()
