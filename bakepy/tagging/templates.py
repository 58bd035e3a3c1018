"""The `{{…}}` expressions of tag rules and the `enable` conditions, as metadata-action spells them.

Owns three small languages, each checked when the project is loaded so a typo fails before any build:

* `{{name}}` expressions: a rule's own (`{{version}}`, `{{major}}`, … for semver and pep440) and the global
  ones (`{{branch}}`, `{{tag}}`, `{{sha}}`, `{{base_ref}}`, `{{is_default_branch}}`,
  `{{date 'YYYYMMDD' tz='Asia/Tokyo'}}`, `{{commit_date 'YYYYMMDD'}}`);
* moment.js date formats (`YYYYMMDD-HHmmss`, `dddd, MMMM Do YYYY, h:mm:ss a`, `[literal]`);
* `enable` conditions: `true`, `false`, `{{is_default_branch}}`, or an expression in GitHub's expression
  syntax over the context: `!startsWith(ref, 'refs/tags/v0.')`, `event == 'tag' && branch != 'main'`.
Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bakepy.tagging.context import BuildContext

__all__ = [
    "CONDITION_NAMES",
    "GLOBAL_NAMES",
    "check_condition",
    "check_template",
    "evaluate_condition",
    "format_date",
    "render_template",
]

GLOBAL_NAMES = ("branch", "tag", "sha", "base_ref", "is_default_branch", "date", "commit_date")
CONDITION_NAMES = (
    "ref",
    "event",
    "event_name",
    "branch",
    "tag",
    "pr",
    "sha",
    "base_ref",
    "default_branch",
    "is_default_branch",
    "source",
)
_EXPR = re.compile(
    r"\{\{\s*([A-Za-z_]+)((?:\s+(?:'[^']*'|\"[^\"]*\"|[A-Za-z_]+=(?:'[^']*'|\"[^\"]*\")))*)\s*\}\}"
)
_ARG = re.compile(r"""\s+(?:([A-Za-z_]+)=)?(?:'([^']*)'|"([^"]*)")""")

# moment.js display tokens, longest first
_TOKENS = (
    "YYYY", "YY", "MMMM", "MMM", "MM", "M", "Do", "DD", "D", "dddd", "ddd", "d",
    "HH", "H", "hh", "h", "mm", "m", "ss", "s", "SSS", "SS", "S", "A", "a", "ZZ", "Z", "X", "x",
)  # fmt: skip
_TOKEN_RE = re.compile(r"\[([^\]]*)\]|" + "|".join(_TOKENS))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_date(when: datetime, fmt: str, tz: str | None = None) -> str:
    """`when` in moment.js format `fmt`, in time zone `tz` (default UTC). ValueError for an unknown zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz) if tz else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Paris'"
        ) from None
    t = when.astimezone(zone)
    offset = t.strftime("%z") or "+0000"

    def token(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        tok = m.group(0)
        hour12 = t.hour % 12 or 12
        values: dict[str, str] = {
            "YYYY": f"{t.year:04d}", "YY": f"{t.year % 100:02d}",
            "MMMM": t.strftime("%B"), "MMM": t.strftime("%b"), "MM": f"{t.month:02d}", "M": str(t.month),
            "Do": _ordinal(t.day), "DD": f"{t.day:02d}", "D": str(t.day),
            "dddd": t.strftime("%A"), "ddd": t.strftime("%a"), "d": str((t.weekday() + 1) % 7),
            "HH": f"{t.hour:02d}", "H": str(t.hour), "hh": f"{hour12:02d}", "h": str(hour12),
            "mm": f"{t.minute:02d}", "m": str(t.minute), "ss": f"{t.second:02d}", "s": str(t.second),
            "SSS": f"{t.microsecond // 1000:03d}", "SS": f"{t.microsecond // 10000:02d}",
            "S": str(t.microsecond // 100000),
            "A": "AM" if t.hour < 12 else "PM", "a": "am" if t.hour < 12 else "pm",
            "ZZ": offset, "Z": f"{offset[:3]}:{offset[3:]}",
            "X": str(int(t.timestamp())), "x": str(int(t.timestamp() * 1000)),
        }  # fmt: skip
        return values[tok]

    return _TOKEN_RE.sub(token, fmt)


def _parse_args(text: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    named: dict[str, str] = {}
    for m in _ARG.finditer(text):
        value = m.group(2) if m.group(2) is not None else m.group(3) or ""
        if m.group(1):
            named[m.group(1)] = value
        else:
            positional.append(value)
    return positional, named


def check_template(template: str, own: tuple[str, ...] = ()) -> None:
    """ValueError naming the first unknown `{{expression}}` of `template`, a bad date format or time zone."""
    for m in _EXPR.finditer(template):
        name = m.group(1)
        known = (*own, *GLOBAL_NAMES)
        if name not in known:
            from bakepy.model.base import did_you_mean

            hint = did_you_mean(name, known, show=lambda c: "{{" + c + "}}")
            raise ValueError(
                f"unknown expression {{{{{name}}}}}" + (hint or f" (known: {', '.join(known)})")
            )
        if name in ("date", "commit_date"):
            positional, named = _parse_args(m.group(2))
            if not positional:
                raise ValueError(f"{{{{{name}}}}} needs a format, e.g. {{{{{name} 'YYYYMMDD'}}}}")
            format_date(datetime.now(timezone.utc), positional[0], named.get("tz"))
    leftover = _EXPR.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise ValueError(
            f"unfinished expression in {template!r}; write {{{{name}}}} or {{{{date 'FORMAT' tz='ZONE'}}}}"
        )


def render_template(template: str, context: BuildContext, own: Mapping[str, str] = {}) -> str:
    """`template` with every expression replaced (a rule's own values first, then the global ones)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in own:
            return own[name]
        if name in ("date", "commit_date"):
            positional, named = _parse_args(m.group(2))
            when = context.now if name == "date" else context.created
            return format_date(when, positional[0] if positional else "YYYYMMDD", named.get("tz"))
        return _global(context, name)

    return _EXPR.sub(one, template)


def _global(context: BuildContext, name: str) -> str:
    if name == "branch":
        return context.branch or "" if context.event in ("branch", "schedule") else ""
    if name == "tag":
        return context.tag or "" if context.event == "tag" else ""
    if name == "sha":
        return (context.sha or "")[:7]
    if name == "base_ref":
        return context.base_ref or ""
    if name == "is_default_branch":
        return "true" if context.is_default_branch else "false"
    return ""


# -- enable conditions ------------------------------------------------------------------------------
_COND_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": lambda a, b: a.lower().startswith(b.lower()),
    "endsWith": lambda a, b: a.lower().endswith(b.lower()),
    "contains": lambda a, b: b.lower() in a.lower(),
}
Value = str | bool


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _COND_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r} in condition {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    """Recursive descent over GitHub's expression syntax (the subset conditions need)."""

    def __init__(self, text: str, lookup: Callable[[str], Value]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.lookup = lookup

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ValueError(
                f"expected {value or 'a value'} in condition {self.text!r}"
                + (f", found {tok[1]!r}" if tok else " at its end")
            )
        self.pos += 1
        return tok

    def parse(self) -> Value:
        value = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()[1]!r} in condition {self.text!r}")  # type: ignore[index]
        return value

    def or_(self) -> Value:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = _truthy(value) or _truthy(right)
        return value

    def and_(self) -> Value:
        value = self.unary()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.unary()
            value = _truthy(value) and _truthy(right)
        return value

    def unary(self) -> Value:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.comparison()

    def comparison(self) -> Value:
        left = self.primary()
        tok = self.peek()
        if tok in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.primary()
            same = _text(left).lower() == _text(right).lower()
            return same if tok == ("op", "==") else not same
        return left

    def primary(self) -> Value:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ValueError(f"unexpected {text!r} in condition {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if self.peek() == ("op", "("):
            if text not in _FUNCTIONS:
                raise ValueError(
                    f"unknown function {text!r} in condition {self.text!r}; use {', '.join(_FUNCTIONS)}"
                )
            self.take("(")
            first = self.or_()
            self.take(",")
            second = self.or_()
            self.take(")")
            return _FUNCTIONS[text](_text(first), _text(second))
        return self.lookup(text)


def _text(value: Value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _truthy(value: Value) -> bool:
    return value if isinstance(value, bool) else value not in ("", "false", "0")


def _check_name(name: str) -> Value:
    if name not in CONDITION_NAMES:
        from bakepy.model.base import did_you_mean

        raise ValueError(
            f"unknown name {name!r} in condition"
            + (did_you_mean(name, CONDITION_NAMES) or f" (known: {', '.join(CONDITION_NAMES)})")
        )
    return ""


def check_condition(text: str) -> None:
    """ValueError for a condition that does not parse or names something unknown."""
    check_template(text)
    _Parser(_EXPR.sub("true", text), _check_name).parse()


def evaluate_condition(text: str, context: BuildContext) -> bool:
    """Whether `text` holds in `context` (its `{{…}}` expressions expanded first, as metadata-action does)."""

    def lookup(name: str) -> Value:
        _check_name(name)
        if name == "ref":
            return context.ref
        if name == "event":
            return context.event
        if name == "event_name":
            return context.event_name
        if name == "pr":
            return str(context.pr) if context.pr is not None else ""
        if name == "sha":
            return context.sha or ""
        if name == "default_branch":
            return context.default_branch or ""
        if name == "source":
            return context.source
        return _global(context, name)

    rendered = render_template(text, context)
    return _truthy(_Parser(rendered, lookup).parse())
