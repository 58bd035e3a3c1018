"""The least a typer + pydantic command that validates a TOML project pays: bench/startup.py's floor.

One typer command with options of the kinds `bakepy plan` takes, one pydantic model for the project's tables
(bench/_floor_model.py), tomllib to read it, and the validated project printed as JSON. Nothing of bakepy is
imported. With FLOOR_PART=typer the command prints `{}` and imports no model: the floor's typer half alone
(typer 0.29 coerces options through pydantic, so that still imports pydantic).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


@app.command()
def plan(
    targets: Annotated[list[str] | None, typer.Argument()] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f")] = None,
    var: Annotated[list[str] | None, typer.Option("--var")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    if os.environ.get("FLOOR_PART") == "typer":
        print("{}")
        return
    from _floor_model import project_json

    print(project_json(file or Path("bakepy.toml")))


@app.command()
def other() -> None:
    """A second command, so typer builds a group as bakepy's CLI is."""


if __name__ == "__main__":
    app()
