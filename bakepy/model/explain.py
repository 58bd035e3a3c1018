"""Error messages: pydantic errors turned into one line with a TOML-style path and the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import (
    BaseModel,
)
from pydantic_core import ErrorDetails

from bakepy.model.base import ModelError, _did_you_mean

# --------------------------------------------------------------------------------------------------
# Error messages


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the key at the end of `loc` (for 'did you mean')."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = None
            for fname, finfo in current.model_fields.items():
                if part in (finfo.alias, fname):
                    found = finfo.annotation
                    break
            if found is None:
                return None
            current = found
        else:
            continue
        # unwrap Optional / tuple / dict to the model inside
        for _ in range(4):
            args = [
                a for a in typing.get_args(current) if a is not type(None) and a is not Ellipsis
            ]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            if not args:
                break
            if typing.get_origin(current) is dict:
                current = args[-1]
                # the next loc part is the key: skip one string
                return _model_at_after_key(current, loc, part)
            current = args[0]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_at_after_key(
    value_type: Any, loc: Sequence[str | int], dict_field: str | int
) -> type[BaseModel] | None:
    idx = list(loc).index(dict_field)
    rest = list(loc)[idx + 2 :]
    if isinstance(value_type, type) and issubclass(value_type, BaseModel):
        return _model_at(value_type, rest) if rest else value_type
    return None


def _fields_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if name != "attrs"]


def explain_error(err: ErrorDetails, root: type[BaseModel]) -> tuple[tuple[str | int, ...], str]:
    """One pydantic error -> (path, one-line message with the fix), paths in TOML key spelling."""
    loc = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        exc = ctx.get("error")
        if isinstance(exc, ModelError):
            return (*loc, *exc.path), exc.message
        return loc, str(exc) if exc is not None else err["msg"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        holder = _model_at(root, loc[:-1])
        hint = _did_you_mean(key, _fields_of(holder)) if holder else ""
        snake = key.replace("_", "-")
        if not hint and holder and snake in _fields_of(holder):
            hint = f"; did you mean {snake!r}?"
        return loc, f"unknown key {key!r}" + hint
    if kind == "missing":
        return loc, f"missing required key {loc[-1]!r}"
    if kind == "is_instance_of" and ctx.get("class") == "Sequence":
        kind = "list_type"  # a list field (bakepy.model.types.Items) given a table or a number
    expected = {
        "sequence_str": "an array",
        "string_type": "a string",
        "bool_type": "a boolean (true or false)",
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "float_type": "a number",
        "list_type": "an array",
        "tuple_type": "an array",
        "dict_type": "a table",
        "model_type": "a table",
        "model_attributes_type": "a table",
        "bool_parsing": "a boolean (true or false)",
    }.get(kind)
    if expected:
        fix = ""
        if expected == "an array" and isinstance(value, str):
            fix = f"; write [{_short(value)}]".replace("'", '"')
        return loc, f"expected {expected}, got {_toml_type(value)} {_short(value)}{fix}"
    if kind == "literal_error":
        allowed = str(ctx.get("expected", ""))
        options = re.findall(r"'([^']*)'", allowed)
        hint = _did_you_mean(str(value), options) if isinstance(value, str) else ""
        return loc, f"{_short(value)} is not one of {allowed}{hint}"
    return loc, err["msg"]
