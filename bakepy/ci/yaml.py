"""A small, deterministic YAML emitter for the generated CI files.

No YAML library: the output must be byte-stable so a checked-in workflow can be compared with a fresh one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# -- a small, deterministic YAML emitter ----------------------------------------------------------------
_RESERVED = frozenset(
    ("true", "false", "yes", "no", "on", "off", "null", "y", "n", "~")
)  # compared lower-cased: YAML 1.1 reads these as booleans or null
_NUMBER = re.compile(
    r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^0[xob][0-9a-fA-F_]+$|^[-+]?\.(inf|nan)$", re.I
)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = (
        text != ""
        and text == text.strip()
        and text[0] not in _INDICATORS
        and text.lower() not in _RESERVED
        and not _NUMBER.match(text)
        and ": " not in text
        and " #" not in text
        and not text.endswith(":")
        and "\n" not in text
        and "\t" not in text
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple)) or not value


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _scalar(value)


def to_yaml(data: Mapping[str, Any], *, spaced: Sequence[str] = ("",)) -> str:
    """Block-style YAML for dicts, lists and scalars. Mappings at the dotted paths in `spaced` ("" = the top)
    get a blank line between their entries."""
    lines: list[str] = []
    _emit_mapping(data, 0, "", tuple(spaced), lines)
    return "\n".join(lines) + "\n"


def _emit_mapping(
    data: Mapping[str, Any], indent: int, path: str, spaced: tuple[str, ...], lines: list[str]
) -> None:
    pad = " " * indent
    for i, (key, value) in enumerate(data.items()):
        if i and path in spaced:
            lines.append("")
        child = f"{path}.{key}" if path else str(key)
        if _is_scalar(value):
            text = _inline(value)
            lines.append(f"{pad}{_scalar(key)}:" + (f" {text}" if text else ""))
        elif isinstance(value, dict):
            lines.append(f"{pad}{_scalar(key)}:")
            _emit_mapping(value, indent + 2, child, spaced, lines)
        else:
            lines.append(f"{pad}{_scalar(key)}:")
            _emit_sequence(value, indent + 2, child, spaced, lines)


def _emit_sequence(
    items: Sequence[Any], indent: int, path: str, spaced: tuple[str, ...], lines: list[str]
) -> None:
    pad = " " * indent
    for item in items:
        if _is_scalar(item):
            lines.append(f"{pad}- {_inline(item)}")
        elif isinstance(item, dict):
            nested: list[str] = []
            _emit_mapping(item, indent + 2, path, spaced, nested)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
        else:
            nested = []
            _emit_sequence(item, indent + 2, path, spaced, nested)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
