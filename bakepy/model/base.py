"""Shared pieces of the model: the validation error with a path, the environment override, did-you-mean."""

from __future__ import annotations

import contextvars
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from pydantic import (
    BaseModel,
)

_M = TypeVar("_M", bound=BaseModel)

ENVIRONMENT: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "bakepy_environment", default=None
)
"""Where `${VAR}` looks for environment overrides while a project validates; None means os.environ."""


class ModelError(ValueError):
    """A validation failure with the path (below the value being validated) of the bad part."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.message = message
        self.path = tuple(path)
        super().__init__(f"{format_path(self.path)}: {message}" if self.path else message)


def _did_you_mean(value: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    matches = difflib.get_close_matches(value, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def format_path(loc: Sequence[str | int]) -> str:
    """`('target', 'app', 'platforms', 1)` -> `target.app.platforms[1]` (TOML key spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = (
            part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else '"' + part.replace('"', '\\"') + '"'
        )
        out += f".{key}" if out else key
    return out
