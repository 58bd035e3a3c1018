"""docs/cli.md is generated from the CLI itself; this test fails when it is stale (BAKEPY_REGEN=1 rewrites it)."""

from __future__ import annotations

import os
from pathlib import Path

import typer.main
from typer import Context
from typer.cli import get_docs_for_click

from bakepy.cli.app import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
HEADER = (
    "<!-- Generated from the CLI by tests/cli/test_cli_reference.py: "
    "BAKEPY_REGEN=1 pytest tests/cli/test_cli_reference.py -->\n\n"
)


def reference() -> str:
    command = typer.main.get_command(app)
    ctx = Context(command, info_name="bakepy")
    text = get_docs_for_click(obj=command, ctx=ctx, name="bakepy", title="bakepy CLI reference")
    return HEADER + text.strip() + "\n"


def test_cli_reference_is_current() -> None:
    text = reference()
    if os.environ.get("BAKEPY_REGEN"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, "docs/cli.md is stale: run with BAKEPY_REGEN=1"
