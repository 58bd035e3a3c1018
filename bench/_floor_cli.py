"""The least a typer + pydantic command that validates a TOML project pays: bench/startup.py's floor.

One typer command with options of the kinds `bakepy plan` takes, one pydantic model for the project's tables,
tomllib to read it, and the validated project printed as JSON. Nothing of bakepy is imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict

if sys.version_info >= (3, 11):
    import tomllib
else:  # as bakepy reads TOML on 3.10
    import tomli as tomllib


class Table(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Project(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    project: Table
    target: dict[str, Table] = {}
    variable: dict[str, Table] = {}


app = typer.Typer(add_completion=False)


@app.command()
def plan(
    targets: Annotated[list[str] | None, typer.Argument()] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f")] = None,
    var: Annotated[list[str] | None, typer.Option("--var")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    data: dict[str, Any] = tomllib.loads((file or Path("bakepy.toml")).read_text())
    project = Project.model_validate(data)
    print(json.dumps(project.model_dump(), indent=2, sort_keys=True))


@app.command()
def other() -> None:
    """A second command, so typer builds a group as bakepy's CLI is."""


if __name__ == "__main__":
    app()
