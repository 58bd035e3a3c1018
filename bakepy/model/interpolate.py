"""Interpolation: `${NAME}` and `${matrix.key}`; `$${` and `%%{` are literal `${` and `%{`, as in bake."""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import (
    ValidationInfo,
)

# --------------------------------------------------------------------------------------------------
# Interpolation: `${NAME}` and `${matrix.key}`; `$${` and `%%{` are literal `${` and `%{` (as in bake)

_TEMPLATE_RE = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|\$\{")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
_VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def has_template(value: str) -> bool:
    return "${" in value or "%%{" in value


def interpolate(value: str, lookup: Callable[[str], str]) -> str:
    """Replace every `${expr}` with `lookup(expr)` and unescape `$${`/`%%{`; ValueError on a bad template."""
    if not has_template(value):
        return value

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "$${":
            return "${"
        if text == "%%{":
            return "%{"
        expr = m.group(1)
        if expr is None:
            raise ValueError(
                f"unterminated '${{' in {value!r}; close it with '}}' or write '$${{' for a literal '${{'"
            )
        if not _IDENT_RE.fullmatch(expr.strip()):
            raise ValueError(
                f"'${{{expr}}}' is not a variable reference: bakepy interpolates ${{NAME}} and "
                f"${{matrixkey.field}} only; write '$${{' for a literal '${{'"
            )
        return lookup(expr.strip())

    return _TEMPLATE_RE.sub(sub, value)


def _literal(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("literal"))


def _lenient(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("lenient"))


def _deferred(value: str, info: ValidationInfo | None) -> bool:
    """In a definition, values with `${` are checked after interpolation, not before; and a value that came
    out of interpolation is checked only where it is used (plan, publish), never by render (as bake)."""
    return ("${" in value and not _literal(info)) or _lenient(info)
