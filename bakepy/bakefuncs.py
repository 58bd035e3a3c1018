"""What a bakefile.py written by `bakepy import --python` computes with: the variables' values as bakepy sees
them when it loads the file (`variable_values`), and the functions of bake's standard library the bake file
called, in Python with go-cty's semantics where they differ from Python's (a number prints as `1`, not `1.0`;
`"1" == 1` is false; `index(list, 0)` is an element; `keys` are sorted). Pure and import-light: bakepy's own
model is imported only when `variable_values` runs (the bakefile imports it anyway).

Values are what cty has: `str`, `bool`, `int`/`float` (a number), `list`, `dict` and `None` (null).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bakepy.model import Target, Variable

__all__ = [  # noqa: RUF022  (bakepy's own helpers first, then bake's functions alphabetically)
    "variable_values",
    "bake_target",
    "parse_bool",
    "parse_number",
    "each",
    "pairs",
    "and_",
    "can",
    "coalesce",
    "compact",
    "concat",
    "contains",
    "distinct",
    "element",
    "equal",
    "flatten",
    "format",
    "formatdate",
    "formatlist",
    "formattimestamp",
    "index",
    "join",
    "keys",
    "length",
    "lookup",
    "lower",
    "md5",
    "merge",
    "not_",
    "notequal",
    "or_",
    "regex",
    "regex_replace",
    "regexall",
    "replace",
    "reverse",
    "sethaselement",
    "setsubtract",
    "setunion",
    "sha1",
    "sha256",
    "split",
    "substr",
    "timestamp",
    "title",
    "tobool",
    "tolist",
    "tonumber",
    "tostring",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "upper",
    "values",
]


class BakeFunctionError(ValueError):
    """A bake function refused its arguments (bake would stop with an error too)."""


# -- bakepy's side -------------------------------------------------------------------------------------------


def variable_values(variables: Mapping[str, Variable]) -> dict[str, str | None]:
    """Each variable's value as `bakepy render` resolves it while the bakefile loads: the environment variable
    of that name (or `--var NAME=VALUE`), else its default with `${NAME}` of other variables filled in; None
    for a variable with neither (bake's null)."""
    from bakepy.model import ENVIRONMENT
    from bakepy.model.interpolate import interpolate

    env = ENVIRONMENT.get()
    environment = os.environ if env is None else env
    out: dict[str, str | None] = {}

    def value(name: str, stack: tuple[str, ...]) -> str | None:
        if name in out:
            return out[name]
        if name in stack:
            raise ValueError(f"variable {name!r} refers to itself")
        if name in environment:
            found: str | None = environment[name]
        else:
            default = variables[name].default
            found = (
                None
                if default is None
                else interpolate(default, lambda n: value(n, (*stack, name)) or "")
            )
        out[name] = found
        return found

    for name in variables:
        value(name, ())
    return out


def bake_target(**attributes: Any) -> Target:
    """A target of the attributes that are not null: bake leaves a null attribute unset (a base's value, or
    none), where bakepy's model would take None as a value (the whole translation of `hclwhole`)."""
    from bakepy.model import Target

    return Target(**{k: v for k, v in attributes.items() if v is not None})


def parse_bool(text: str | None) -> bool | None:
    """A bool variable's text as bake reads it from the environment (Go's strconv.ParseBool)."""
    if text is None:
        return None
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise BakeFunctionError(f"{text!r} is not a bool")


def parse_number(text: str | None) -> int | float | None:
    """A number variable's text as bake reads it from the environment."""
    return None if text is None else tonumber(text)


# -- conversions (cty's) ---------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    return "list"


def tostring(value: Any) -> str:
    """A string, bool or number as text: `true`, `1`, `1.5` (cty prints whole numbers without a point)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and math.isfinite(value):
            return str(int(value))
        return repr(value)
    raise BakeFunctionError(f"cannot convert {_kind(value)} to string")


def tonumber(value: Any) -> int | float:
    if isinstance(value, bool):
        raise BakeFunctionError("cannot convert bool to number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise BakeFunctionError(f"{value!r} is not a number") from None
        return int(number) if number.is_integer() and "e" not in value.lower() else number
    raise BakeFunctionError(f"cannot convert {_kind(value)} to number")


def tobool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true" or value == "false":
        return bool(value == "true")
    raise BakeFunctionError(f"cannot convert {value!r} to bool")


def tolist(value: Any) -> list[Any]:
    return list(value)


def each(collection: Any) -> list[Any]:
    """What a `for` expression walks with one name: a list's elements, a map's values in key order."""
    if isinstance(collection, dict):
        return [collection[k] for k in sorted(collection)]
    return list(collection)


def pairs(collection: Any) -> list[tuple[Any, Any]]:
    """What a `for k, v` expression walks: (index, element) of a list, (key, value) of a map in key order."""
    if isinstance(collection, dict):
        return [(k, collection[k]) for k in sorted(collection)]
    return list(enumerate(collection))


# -- comparisons and logic ---------------------------------------------------------------------------------


def equal(a: Any, b: Any) -> bool:
    """cty's `==`: values of different types are never equal (`"1" == 1` is false)."""
    return _kind(a) == _kind(b) and a == b


def notequal(a: Any, b: Any) -> bool:
    return not equal(a, b)


def and_(a: Any, b: Any) -> bool:
    return tobool(a) and tobool(b)


def or_(a: Any, b: Any) -> bool:
    return tobool(a) or tobool(b)


def not_(a: Any) -> bool:
    return not tobool(a)


def can(expression: Callable[[], Any]) -> bool:
    """True when `expression` gives a value (bake's `can(…)`; the bakefile passes it as a lambda)."""
    try:
        expression()
    except (BakeFunctionError, LookupError, TypeError, ValueError):
        return False
    return True


# -- strings -------------------------------------------------------------------------------------------------


def md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


def sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def lower(text: str) -> str:
    return text.lower()


def upper(text: str) -> str:
    return text.upper()


def title(text: str) -> str:
    return re.sub(r"\b\w", lambda m: m.group(0).upper(), text)


def trimprefix(text: str, prefix: str) -> str:
    return text.removeprefix(prefix)


def trimsuffix(text: str, suffix: str) -> str:
    return text.removesuffix(suffix)


def trimspace(text: str) -> str:
    return text.strip()


def trim(text: str, cutset: str) -> str:
    return text.strip(cutset)


def split(separator: str, text: str) -> list[str]:
    if separator == "":
        return list(text)
    return text.split(separator)


def join(separator: str, *lists: Iterable[Any]) -> str:
    return separator.join(tostring(v) for items in lists for v in items)


def replace(text: str, old: str, new: str) -> str:
    return text.replace(old, new)


def _go_replacement(replacement: str) -> str:
    """Go's `$1`, `${1}`, `${name}` in a replacement as Python's `\\g<…>`; `$$` is a dollar."""
    out = re.sub(
        r"\$(?:\{(\w+)\}|(\w+)|(\$))",
        lambda m: "$" if m.group(3) else f"\\g<{m.group(1) or m.group(2)}>",
        replacement.replace("\\", "\\\\"),
    )
    return out


def regex_replace(text: str, pattern: str, replacement: str) -> str:
    return re.sub(_go_pattern(pattern), _go_replacement(replacement), text)


def _go_pattern(pattern: str) -> str:
    """Go's RE2 named groups `(?P<n>…)` are Python's already; `(?<n>…)` is spelled the same since 3.12 only."""
    return re.sub(r"\(\?<(\w+)>", r"(?P<\1>", pattern)


def _match_value(match: re.Match[str]) -> Any:
    if match.re.groupindex:
        return {k: match.group(k) or "" for k in match.re.groupindex}
    if match.re.groups:
        return [g or "" for g in match.groups()]
    return match.group(0)


def regex(pattern: str, text: str) -> Any:
    """The first match: the text matched, a list of its groups, or a map of its named groups."""
    match = re.search(_go_pattern(pattern), text)
    if match is None:
        raise BakeFunctionError(f"pattern {pattern!r} did not match {text!r}")
    return _match_value(match)


def regexall(pattern: str, text: str) -> list[Any]:
    return [_match_value(m) for m in re.finditer(_go_pattern(pattern), text)]


def substr(text: str, offset: int, length: int) -> str:
    if offset < 0:
        offset = max(len(text) + offset, 0)
    if length < 0:
        return text[offset:]
    return text[offset : offset + length]


_VERB = re.compile(r"%(?:%|[-+# 0]*(?:\d+)?(?:\.\d+)?([svdqtfbxXoeEgG]))")


def format(spec: str, *args: Any) -> str:
    """cty's format: `%s`, `%d`, `%v`, `%q`, `%t`, `%f`, `%%` (flags and widths as Python's %)."""
    position = 0

    def verb(match: re.Match[str]) -> str:
        nonlocal position
        if match.group(0) == "%%":
            return "%"
        if position >= len(args):
            raise BakeFunctionError(f"format {spec!r}: not enough arguments")
        value = args[position]
        position += 1
        kind = match.group(1)
        head = match.group(0)[:-1]
        if kind in ("s", "v"):
            return (head + "s") % tostring(value)
        if kind == "q":
            return '"' + tostring(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if kind == "t":
            return tostring(tobool(value))
        if kind in ("d", "x", "X", "o", "b"):
            number = tonumber(value)
            if kind == "b":
                return bin(int(number))[2:]
            return (head + kind) % int(number)
        return (head + kind) % float(tonumber(value))

    return _VERB.sub(verb, spec)


def formatlist(spec: str, *args: Any) -> list[str]:
    lengths = {len(a) for a in args if isinstance(a, list)}
    if len(lengths) > 1:
        raise BakeFunctionError("formatlist: lists of different lengths")
    count = lengths.pop() if lengths else 1
    return [format(spec, *(a[i] if isinstance(a, list) else a for a in args)) for i in range(count)]


# -- collections ---------------------------------------------------------------------------------------------


def length(value: Any) -> int:
    return len(value)


def concat(*lists: Iterable[Any]) -> list[Any]:
    return [v for items in lists for v in items]


def compact(items: Iterable[Any]) -> list[Any]:
    """The list without its empty strings (and nulls)."""
    return [v for v in items if v not in ("", None)]


def distinct(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        if not any(equal(v, seen) for seen in out):
            out.append(v)
    return out


def flatten(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        out += flatten(v) if isinstance(v, list | tuple) else [v]
    return out


def coalesce(*values: Any) -> Any:
    """The first argument that is not null (cty's: an empty string counts, unlike Terraform's)."""
    for v in values:
        if v is not None:
            return v
    raise BakeFunctionError("coalesce: no non-null argument")


def contains(items: Iterable[Any], value: Any) -> bool:
    return any(equal(v, value) for v in items)


def element(items: list[Any], position: int) -> Any:
    if not items:
        raise BakeFunctionError("element: empty list")
    return items[int(tonumber(position)) % len(items)]


def index(collection: Any, key: Any) -> Any:
    """cty's index: `index(list, 0)` is the list's first element, `index(map, "k")` the map's entry."""
    if isinstance(collection, dict):
        return collection[tostring(key)]
    position = tonumber(key)
    if position < 0 or position != int(position):
        raise BakeFunctionError(f"index: {key!r} is not a list index")
    return collection[int(position)]


def lookup(mapping: Mapping[str, Any], key: str, *default: Any) -> Any:
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise BakeFunctionError(f"lookup: no key {key!r}")


def merge(*maps: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        if m is not None:
            out.update(m)
    return out


def keys(mapping: Mapping[str, Any]) -> list[str]:
    return sorted(mapping)


def values(mapping: Mapping[str, Any]) -> list[Any]:
    return [mapping[k] for k in sorted(mapping)]


def reverse(items: Iterable[Any]) -> list[Any]:
    return list(items)[::-1]


def sethaselement(items: Iterable[Any], value: Any) -> bool:
    return contains(items, value)


def _set(items: Iterable[Any]) -> list[Any]:
    """A cty set as bake lists it: no repeats, strings (and numbers) in their sorted order."""
    out = distinct(items)
    if all(isinstance(v, str) for v in out) or all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in out
    ):
        return sorted(out)
    return out


def setsubtract(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    other = list(b)
    return _set(v for v in a if not contains(other, v))


def setunion(*sets: Iterable[Any]) -> list[Any]:
    return _set(v for s in sets for v in s)


# -- the clock -----------------------------------------------------------------------------------------------


def timestamp() -> str:
    """The time now, as bake's timestamp() gives it (RFC 3339, UTC, to the second): read at render."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: formatdate's tokens (Terraform's, which bake uses), longest first, each to a function of the time.
_DATE_TOKEN = re.compile(
    r"'[^']*'|''|YYYY|YY|MMMM|MMM|MM|M|DD|D|EEEE|EEE|hh|h|HH|H|AA|aa|mm|m|ss|s|ZZZZZ|ZZZZ|ZZZ|Z"
)


def formattimestamp(spec: str, time: str | int | float) -> str:
    """bake's formattimestamp(): formatdate() of an RFC 3339 time or of a Unix time (seconds)."""
    import datetime

    if isinstance(time, str):
        return formatdate(spec, time)
    when = datetime.datetime.fromtimestamp(tonumber(time), datetime.timezone.utc)
    return formatdate(spec, when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def formatdate(spec: str, time: str) -> str:
    """bake's formatdate(): an RFC 3339 time (`timestamp()`) written in `spec`'s tokens (`YYYYMMDDhhmm`)."""
    import datetime

    try:
        when = datetime.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        raise BakeFunctionError(f"formatdate: {time!r} is not an RFC 3339 time") from None
    offset = when.utcoffset() or datetime.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    hour12 = when.hour % 12 or 12
    tokens: dict[str, str] = {
        "YYYY": f"{when.year:04d}",
        "YY": f"{when.year % 100:02d}",
        "MMMM": when.strftime("%B"),
        "MMM": when.strftime("%b"),
        "MM": f"{when.month:02d}",
        "M": str(when.month),
        "DD": f"{when.day:02d}",
        "D": str(when.day),
        "EEEE": when.strftime("%A"),
        "EEE": when.strftime("%a"),
        "hh": f"{when.hour:02d}",
        "h": str(when.hour),
        "HH": f"{hour12:02d}",
        "H": str(hour12),
        "AA": "AM" if when.hour < 12 else "PM",
        "aa": "am" if when.hour < 12 else "pm",
        "mm": f"{when.minute:02d}",
        "m": str(when.minute),
        "ss": f"{when.second:02d}",
        "s": str(when.second),
        "ZZZZZ": f"{sign}{hours:02d}:{mins:02d}",
        "ZZZZ": f"{sign}{hours:02d}{mins:02d}",
        "ZZZ": "UTC" if minutes == 0 else f"{sign}{hours:02d}{mins:02d}",
        "Z": "Z" if minutes == 0 else f"{sign}{hours:02d}:{mins:02d}",
    }
    out: list[str] = []
    pos = 0
    for match in _DATE_TOKEN.finditer(spec):
        between = spec[pos : match.start()]
        if any(c.isalpha() for c in between):
            raise BakeFunctionError(f"formatdate: unknown token in {spec!r}")
        out.append(between)
        token = match.group(0)
        out.append("'" if token == "''" else token[1:-1] if token[0] == "'" else tokens[token])
        pos = match.end()
    if any(c.isalpha() for c in spec[pos:]):
        raise BakeFunctionError(f"formatdate: unknown token in {spec!r}")
    out.append(spec[pos:])
    return "".join(out)
