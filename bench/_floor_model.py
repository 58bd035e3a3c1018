"""The floor's model half (bench/startup.py): the project TOML validated by one pydantic model, printed as JSON.

bench/_floor_cli.py calls it from a typer command (the floor); run on its own it is the floor without a CLI
library (`pydantic_only`). Usage: python bench/_floor_model.py  (reads ./bakepy.toml)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def project_json(path: Path) -> str:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    return json.dumps(Project.model_validate(data).model_dump(), indent=2, sort_keys=True)


if __name__ == "__main__":
    print(project_json(Path("bakepy.toml")))
