"""Shared pieces of the model: the validation error with a path, the environment override, did-you-mean."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def edit_distance(a: str, b: str) -> int:
    """The fewest one-character edits from a to b: insertions, deletions, substitutions and swaps of two
    neighbours (`gah` → `gha` is one slip; optimal string alignment distance)."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            best = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, rows[i - 2][j - 2] + 1)
            rows[i][j] = best
    return rows[-1][-1]


def near_enough(value: str, candidate: str) -> bool:
    """Whether `candidate` is a plausible slip for `value`: at most one edit in three characters (at least one),
    or the same word with another short ending (`registry` for `registries`). A long tail is never near
    (`linux/amd64,linux/arm64` is not `linux/amd64/v4`)."""
    if edit_distance(value, candidate) <= max(1, len(value) // 3):
        return True
    stem = next(
        (i for i, (a, b) in enumerate(zip(value, candidate, strict=False)) if a != b),
        min(len(value), len(candidate)),
    )
    return stem >= 4 and 1 <= len(value) - stem <= 3 and len(candidate) - stem <= 3


def suggest(value: str, candidates: Iterable[str], most: int = 3) -> list[str]:
    """What a slip most likely meant: the candidates near `value` (`near_enough`) at the smallest edit distance,
    sorted; else the one candidate `value` abbreviates (`ver` for `version`, not `linux/` for any linux
    platform); none when more than `most` are equally near (a guess among many helps nobody). difflib's
    similarity ratio, used before, could prefer a candidate farther from what was meant."""
    others = sorted(set(candidates) - {value})
    near = sorted((edit_distance(value, c), c) for c in others if near_enough(value, c))
    best = [c for d, c in near if d == near[0][0]] if near else []
    if not best and len(value) >= 3:
        best = [c for c in others if c.startswith(value)][:2]
        best = best if len(best) == 1 else []
    return best if len(best) <= most else []


def closest(value: str, candidates: Iterable[str]) -> str | None:
    """The one candidate a slip meant, or None (no near one, or several equally near)."""
    found = suggest(value, candidates, most=1)
    return found[0] if found else None


def did_you_mean(value: str, candidates: Iterable[str], show: Callable[[str], str] = repr) -> str:
    """`; did you mean 'x'?` (or `'x' or 'y'` when equally near), empty when nothing is near."""
    found = [show(c) for c in suggest(value, candidates)]
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"
    return f"; did you mean {listed}?"


_did_you_mean = did_you_mean


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
