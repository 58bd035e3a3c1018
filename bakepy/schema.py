"""The JSON schema of bakepy.toml, generated from the model.

This module owns `bakepy/bakepy.schema.json`, the schema shipped with the package (for editors: taplo,
VS Code Even Better TOML) and printed by `bakepy schema`. A unit test checks that the shipped file equals
what `build_schema` generates; regenerate it with `python -m bakepy.schema > bakepy/bakepy.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bakepy.model import Project

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "build_schema", "dumps_schema"]

SCHEMA_PATH = Path(__file__).with_name("bakepy.schema.json")
# The file itself in the repository (pyproject's [project.urls] Schema): an editor can fetch it by its $id.
SCHEMA_ID = "https://raw.githubusercontent.com/bakepy/bakepy/main/bakepy/bakepy.schema.json"


def _with_attribute_docstrings() -> None:
    """Give every model field its attribute docstring as description, then rebuild the models.

    The models do not set pydantic's `use_attribute_docstrings`: it reads each class's source at import, ~85 ms
    of every command's start-up, and only this schema shows descriptions."""
    from pydantic import BaseModel
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    models: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("bakepy.") and sub not in models:
                models.append(sub)
            todo.append(sub)
    changed = False
    for model in models:
        # inherited fields too: a field's docstring is in the class that declares it
        for owner in model.__mro__:
            if owner not in models:
                continue
            docs = extract_docstrings_from_cls(owner, use_inspect=True)
            for name, info in model.model_fields.items():
                if info.description is None and name in docs and name in owner.__annotations__:
                    info.description = docs[name]
                    changed = True
    if changed:
        for _ in models:  # nested models first, whatever the order: rebuild until nothing is stale
            for model in models:
                model.model_rebuild(force=True)


def build_schema() -> dict[str, Any]:
    """The schema of bakepy.toml (also the `[tool.bakepy]` table of pyproject.toml)."""
    _with_attribute_docstrings()
    schema = _without_null(Project.model_json_schema(by_alias=True, mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "bakepy.toml",
        "description": "A bakepy project: Docker Bake targets, groups and variables, and bakepy's [project] "
        "settings. Also the [tool.bakepy] table of pyproject.toml.",
    }


def _without_null(node: Any) -> Any:
    """TOML has no null: drop `null` alternatives and `"default": null` so editors suggest real values."""
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _without_null(v) for k, v in node.items() if not (k == "default" and v is None)}
    options = out.get("anyOf")
    if isinstance(options, list):
        options = [o for o in options if o != {"type": "null"}]
        if len(options) == 1:
            del out["anyOf"]
            out.update(options[0])
        else:
            out["anyOf"] = options
    return out


def dumps_schema() -> str:
    """The schema as stable JSON text (sorted keys, trailing newline)."""
    return json.dumps(build_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(dumps_schema(), end="")
