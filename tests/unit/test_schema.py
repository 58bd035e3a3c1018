"""The shipped JSON schema is the generated one, and every example (and golden) project validates against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from bakepy.schema import SCHEMA_PATH, build_schema, dumps_schema

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[2]
PROJECTS = sorted(
    [*ROOT.glob("examples/**/bakepy.toml"), *ROOT.glob("tests/fixtures/render/*/bakepy.toml")]
)


def test_shipped_schema_is_generated() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == dumps_schema(), (
        "regenerate with: python -m bakepy.schema > bakepy/bakepy.schema.json"
    )


def test_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())


def test_examples_exist() -> None:
    assert any("examples" in str(p) for p in PROJECTS)


@pytest.mark.parametrize("path", PROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_projects_validate(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "bad",
    [
        {"target": {"app": {"platfroms": []}}},
        {"targets": {}},
        {"target": {"app": {"no-cache": "yes"}}},
        {"project": {"cache": {"type": "s3"}}},
        {"target": {"app": {"cache-from": [{"scope": "x"}]}}},
    ],
)
def test_schema_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, build_schema())
