"""The floor's two halves on their own, for bench/startup.py: what each library costs a command by itself.

- `typer`: one typer command with the options of bench/_floor_cli.py, printing `{}` (typer 0.29 coerces options
  through pydantic, so this imports pydantic too, without a model of its own);
- `pydantic`: the same TOML validated by the same pydantic model and printed as JSON, with no CLI library.

Usage: python bench/_floor_parts.py typer|pydantic
"""

# No `from __future__ import annotations`: typer reads the command's annotations, which name the `typer` module
# imported inside typer_only, so they must be evaluated where the command is defined.
import json
import sys
from pathlib import Path
from typing import Annotated, Any


def typer_only() -> None:
    import typer

    app = typer.Typer(add_completion=False)

    @app.command()
    def plan(
        targets: Annotated[list[str] | None, typer.Argument()] = None,
        file: Annotated[Path | None, typer.Option("--file", "-f")] = None,
        var: Annotated[list[str] | None, typer.Option("--var")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        print("{}")

    @app.command()
    def other() -> None:
        """A second command, so typer builds a group as bakepy's CLI is."""

    app(["plan", "--json"])


def pydantic_only() -> None:
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

    data: dict[str, Any] = tomllib.loads(Path("bakepy.toml").read_text())
    print(json.dumps(Project.model_validate(data).model_dump(), indent=2, sort_keys=True))


if __name__ == "__main__":
    {"typer": typer_only, "pydantic": pydantic_only}[sys.argv[1]]()
