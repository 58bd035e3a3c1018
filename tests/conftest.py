"""Shared pytest configuration: nothing here may need docker.

Every command is registered on the app once, so tests that drive `bakepy.cli.app.app` through typer's CliRunner
see the whole CLI (a real run registers only the command it names: `bakepy.cli.load_commands`).
"""

from bakepy.cli import load_commands

load_commands()
