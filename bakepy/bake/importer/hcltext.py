"""What the importer reads from the bake files' own text: how many keys each target's `matrix` has.

Everything else an import knows comes from buildx (`--print`, `--list`); this is the one fact the printed
definition loses. bake expands a matrix of one key in its written order, and a matrix of several keys in Go map
order, which changes from run to run: only the text says which of the two made a group. HCL is scanned, not
evaluated: brackets, strings (with their `${ }` and `%{ }` parts), heredocs and comments are skipped as bake's
parser skips them, and a matrix that is not written as an object (`matrix = local.builds`) is not counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_HCL_TARGET = re.compile(r'(?m)^[ \t]*target[ \t]+"?([A-Za-z0-9_.-]+)"?[ \t]*\{')
_MATRIX = re.compile(r"matrix\s*=\s*\{")
_KEY = re.compile(r'"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*[=:](?!=)')
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")
_OPEN, _CLOSE = "{[(", "}])"


def matrix_keys(texts: Mapping[str, str]) -> dict[str, int]:
    """Target name → the number of keys its `matrix` object has, over every file (name → text; a later file
    wins, as bake merges them). Targets without a matrix, or with one not written as an object, are absent."""
    out: dict[str, int] = {}
    for name, text in texts.items():
        out.update(_json_matrix_keys(text) if name.endswith(".json") else _hcl_matrix_keys(text))
    return out


def _json_matrix_keys(text: str) -> dict[str, int]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    targets = data.get("target") if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        return {}
    return {
        str(name): len(body["matrix"])
        for name, body in targets.items()
        if isinstance(body, dict) and isinstance(body.get("matrix"), dict)
    }


def _hcl_matrix_keys(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for target in _HCL_TARGET.finditer(text):
        end = _closing(text, target.end()) - 1
        i = target.end()
        while i < end:
            skipped = _skip(text, i)
            if skipped is not None:
                i = skipped
            elif text[i] in _OPEN:
                i = _closing(text, i + 1)
            elif (found := _MATRIX.match(text, i)) and not _word_char(text, i - 1):
                out[target.group(1)] = _count_keys(
                    text, found.end(), _closing(text, found.end()) - 1
                )
                break
            else:
                i += 1
    return out


def _count_keys(text: str, start: int, end: int) -> int:
    """The keys of the object between `start` and `end`: names followed by `=` or `:` where an entry begins."""
    count, expect_key, i = 0, True, start
    while i < end:
        char = text[i]
        if expect_key and (key := _KEY.match(text, i)):
            count, expect_key, i = count + 1, False, key.end()
            continue
        skipped = _skip(text, i)
        if skipped is not None:
            expect_key = text[skipped - 1] == "\n" if char in "#/" else False
            i = skipped
        elif char in _OPEN:
            expect_key, i = False, _closing(text, i + 1)
        elif char in ",\n":
            expect_key, i = True, i + 1
        elif char in " \t\r":
            i += 1
        else:
            expect_key, i = False, i + 1
    return count


def _word_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_-.")


def _skip(text: str, i: int) -> int | None:
    """Past the comment, string or heredoc that starts at `i`; None when none starts there."""
    if text[i] == "#" or text.startswith("//", i):
        newline = text.find("\n", i)
        return len(text) if newline < 0 else newline + 1
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        return len(text) if close < 0 else close + 2
    if text[i] == '"':
        return _string_end(text, i + 1)
    if text.startswith("<<", i) and (heredoc := _HEREDOC.match(text, i)):
        marker = re.compile(rf"(?m)^[ \t]*{re.escape(heredoc.group(1))}[ \t]*$")
        close_line = marker.search(text, heredoc.end())
        return len(text) if close_line is None else close_line.end()
    return None


def _string_end(text: str, i: int) -> int:
    """Past the closing quote of a string whose text starts at `i`; `${ }` / `%{ }` parts may hold strings."""
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        elif text.startswith(("${", "%{"), i):
            i = _closing(text, i + 2)
        else:
            i += 1
    return len(text)


def _closing(text: str, i: int) -> int:
    """Past the bracket that closes one opened just before `i`."""
    depth = 1
    while i < len(text):
        skipped = _skip(text, i)
        if skipped is not None:
            i = skipped
            continue
        if text[i] in _OPEN:
            depth += 1
        elif text[i] in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)
