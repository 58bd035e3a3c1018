"""Start-up: a run registers only the command it names (`bakepy.cli.load_commands`; the name → module table
is checked against what the modules register) and pauses the garbage collector only until the command starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bakepy.cli import _COMMANDS, _YOUNG_THRESHOLD, load_commands
from bakepy.cli.app import app


def test_table_names_every_command_and_its_module() -> None:
    load_commands()
    registered: dict[str, str] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        registered[name] = command.callback.__module__.removeprefix("bakepy.cli.")
    for group in app.registered_groups:
        assert group.name is not None and group.typer_instance is not None
        first = group.typer_instance.registered_commands[0].callback
        assert first is not None
        registered[group.name] = first.__module__.removeprefix("bakepy.cli.")
    assert registered == _COMMANDS


def _modules_loaded(argv: list[str]) -> list[str]:
    """The command modules a fresh interpreter imports for `bakepy ARGV` (loading only, nothing run)."""
    code = (
        "import json, sys\n"
        "from bakepy.cli import _COMMANDS, load_commands\n"
        f"load_commands({argv!r})\n"
        "names = set(_COMMANDS.values())\n"
        "print(json.dumps(sorted(m for m in names if 'bakepy.cli.' + m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["plan", "--json"], "render"),
        (["--debug", "publish", "--dry-run"], "publish"),
        (["import", "docker-bake.hcl"], "import_"),
        (["ci", "github"], "ci"),
        (["merge", "--help"], "ci"),
        (["init", "--registry", "ghcr.io/acme"], "init"),
    ],
)
def test_a_named_command_loads_its_module_alone(argv: list[str], module: str) -> None:
    assert _modules_loaded(argv) == [module]


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["-h"], ["--version"], ["plna"], ["--nope", "plan"], ["--debug"]],
)
def test_anything_else_loads_every_command(argv: list[str]) -> None:
    assert _modules_loaded(argv) == sorted(set(_COMMANDS.values()))


def test_a_mistyped_command_still_gets_did_you_mean() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bakepy", "plna"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert run.stderr.splitlines()[0] == "error: no command 'plna'; did you mean 'plan'?"


def test_help_lists_every_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bakepy", "--help"], capture_output=True, text=True, check=True
    )
    listed = [
        line.split()[0] for line in run.stdout.split("Commands:")[1].splitlines() if line.strip()
    ]
    assert sorted(listed) == sorted(_COMMANDS)


def test_a_command_runs_with_the_collector_on_and_start_up_frozen() -> None:
    """`main` pauses the cyclic collector for start-up only: the command's own work is collected as usual."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0, gc.get_threshold()[0],"
        " file=sys.stderr))\n"
        "sys.argv = ['bakepy', 'schema']\n"
        "from bakepy.cli import main\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout)["title"]
    assert run.stderr.split() == ["True", "True", str(_YOUNG_THRESHOLD)]


def test_start_collecting_touches_only_a_pause_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import bakepy.cli

    threshold = gc.get_threshold()
    gc.disable()
    try:
        bakepy.cli.start_collecting()  # not paused by main: someone else's choice, left alone
        assert not gc.isenabled() and gc.get_threshold() == threshold
        monkeypatch.setattr(bakepy.cli, "_gc_paused", True)
        # the test session's objects stay collectable
        monkeypatch.setattr(gc, "freeze", lambda: None)
        bakepy.cli.start_collecting()
        assert gc.isenabled()
        assert gc.get_threshold() == (bakepy.cli._YOUNG_THRESHOLD, *threshold[1:])
        assert bakepy.cli._gc_paused is False
    finally:
        gc.set_threshold(*threshold)
        gc.enable()


def test_import_bakepy_loads_no_model_until_a_name_is_used() -> None:
    # issue 24 item 14: the functions and tag rules are exported lazily, like the model
    code = (
        "import sys, bakepy\n"
        "light = 'pydantic' not in sys.modules and 'bakepy.api' not in sys.modules\n"
        "bakepy.render\n"
        "print(light, 'bakepy.api' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
