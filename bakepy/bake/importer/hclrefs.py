"""What the importer reads from the bake files' own text about variables: which ones bake *computes* with.

The probes (`resolve._probe_variables`) show where a variable's value lands as is, but not what a condition or a
function does with values never tried: `notequal("master", MAILU_VERSION) ? … : ""` gives the same answer for
every probe value and another for `master` (issue 24, item 2). bakepy.toml has no expressions, so a variable
that bake compares, passes to a function, indexes with or loops over must be frozen, and named as such. This
module finds them in the text, without evaluating anything:

- a reference is *verbatim* when it stands alone where a value goes (`tags = [TAG]`, `"${REPO}:${TAG}"` in a
  list, a map, an object, a branch of a condition, `concat(…)`), and *computed* anywhere else (an argument of
  a function, an operand of an operator, a condition, an index, a `for` expression, a `%{ }` directive, a key);
- a variable, a top-level attribute (`fullname = …`) or a function used in a computed way makes every variable
  its definition names computed too (`upper(FULL)` with `FULL = "${REPO}:${TAG}"` computes with REPO and TAG).

It also reads a variable default made only of text and `${NAME}` of other variables (`default =
"${REPO}:${TAG}"`), which bakepy can keep as it is. HCL is scanned, not evaluated (comments, strings, heredocs
and brackets as bake's parser reads them); JSON bake files are read as JSON, their strings as templates.
Compose files are left out: bake lists no variables for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bakepy.bake.importer.imported import Template, VarRef

# -- tokens ------------------------------------------------------------------------------------------------


@dataclass
class _Group:
    """A bracketed part `( … )`, `[ … ]`, `{ … }`, or a `${ … }` / `%{ … }` of a template, as tokens."""

    open: str
    items: list[_Token] = field(default_factory=list)


@dataclass
class _Template:
    """A quoted string or heredoc: literal text and `${ }` / `%{ }` groups."""

    parts: list[str | _Group] = field(default_factory=list)


_Token = str | _Group | _Template

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "=>", "...")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")
_CLOSE = {"(": ")", "[": "]", "{": "}", "${": "}", "%{": "}"}


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def tokens(self, close: str | None) -> list[_Token]:
        """Tokens up to the bracket `close` (or the end); newlines are kept as "\\n" tokens."""
        out: list[_Token] = []
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if close is not None and text.startswith(close, self.i):
                self.i += len(close)
                return out
            if c == "#" or text.startswith("//", self.i):
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                self.i = len(text) if end < 0 else end + 2
            elif c == "\n":
                out.append("\n")
                self.i += 1
            elif c in " \t\r":
                self.i += 1
            elif c == '"':
                self.i += 1
                out.append(self.template('"'))
            elif (heredoc := _HEREDOC.match(text, self.i)) is not None:
                marker = re.compile(rf"(?m)^[ \t]*{re.escape(heredoc.group(2))}[ \t]*$")
                found = marker.search(text, heredoc.end())
                end = len(text) if found is None else found.start()
                out.append(_Scanner(text[heredoc.end() : end]).template(None))
                self.i = len(text) if found is None else found.end()
            elif c in "([{":
                self.i += 1
                out.append(_Group(c, self.tokens(_CLOSE[c])))
            elif (ident := _IDENT.match(text, self.i)) is not None:
                out.append(ident.group(0))
                self.i = ident.end()
            elif (number := _NUMBER.match(text, self.i)) is not None:
                out.append("0")
                self.i = number.end()
            else:
                op = next((o for o in _OPERATORS if text.startswith(o, self.i)), c)
                out.append(op)
                self.i += len(op)
        return out

    def template(self, quote: str | None) -> _Template:
        """The parts of a template whose text starts here, up to `quote` (None: the end of the text)."""
        parts: list[str | _Group] = []
        literal: list[str] = []
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if quote is not None and c == quote:
                self.i += 1
                break
            if quote is not None and c == "\\":
                literal.append(text[self.i : self.i + 2])
                self.i += 2
            elif text.startswith(("$${", "%%{"), self.i):
                literal.append(text[self.i + 1 : self.i + 3])
                self.i += 3
            elif text.startswith(("${", "%{"), self.i):
                opener = text[self.i : self.i + 2]
                self.i += 2
                parts += ["".join(literal)] if literal else []
                literal = []
                tokens = [t for t in self.tokens("}") if t not in ("~", "\n")]
                parts.append(_Group(opener, tokens))
            else:
                literal.append(c)
                self.i += 1
        if literal:
            parts.append("".join(literal))
        return _Template(parts)


# -- references --------------------------------------------------------------------------------------------

#: Functions that hand their arguments' values on unchanged (a list joined, a map merged).
_PASS_THROUGH = frozenset({"concat", "tolist", "flatten", "merge"})


@dataclass
class VariableUse:
    """How the files use each name: `computed` maps a name to the first construct that computes with it;
    `deps` maps a definition (variable, top-level attribute, function) to the names it refers to."""

    computed: dict[str, str] = field(default_factory=dict)
    deps: dict[str, set[str]] = field(default_factory=dict)
    #: variable → its default as bakepy text, when it is only literal text and `${NAME}` of other variables
    derived: dict[str, Template] = field(default_factory=dict)


class _Walker:
    def __init__(self, names: set[str], use: VariableUse) -> None:
        self.names = names
        self.use = use

    def reference(self, owner: str, name: str, how: str | None, hidden: set[str]) -> None:
        if name in hidden or name not in self.names:
            return
        self.use.deps.setdefault(owner, set()).add(name)
        if how is not None:
            self.use.computed.setdefault(name, how)

    def expression(
        self, tokens: list[_Token], owner: str, how: str | None, hidden: set[str]
    ) -> None:
        """Walk the items of one expression list; `how` is set when the whole list is already computed."""
        for item, role in _items(tokens):
            if role == "a key" and len(item) == 1 and isinstance(item[0], str):
                continue  # `{ VERSION = TAG }`: a bare key is its own name, not a reference
            alone = how
            if alone is None and role != "value":
                alone = role
            self.item(item, owner, alone, hidden)

    def item(self, item: list[_Token], owner: str, how: str | None, hidden: set[str]) -> None:
        """One item: a value alone keeps `how`; anything combined with operators is computed."""
        head = item[0] if item else None
        if (
            len(item) == 2
            and isinstance(head, str)
            and _IDENT.fullmatch(head)
            and isinstance(item[1], _Group)
            and item[1].open == "("
        ):
            # a call of `head` standing alone: its value is used as `how` says; its arguments are computed,
            # unless it only hands them on
            self.reference(owner, head, how, hidden)
            inner = how if head in _PASS_THROUGH else f"an argument of {head}()"
            self.expression(item[1].items, owner, inner, hidden)
            return
        if len(item) > 1 and how is None:
            indexed = any(isinstance(t, _Group) and t.open == "[" for t in item[1:])
            how = "an index" if indexed else _operation(item)
        previous: _Token | None = None
        for token in item:
            if isinstance(token, str):
                if _IDENT.fullmatch(token) and previous != "." and token not in _KEYWORDS:
                    self.reference(owner, token, how, hidden)
            elif isinstance(token, _Template):
                self.template(token, owner, how, hidden)
            elif token.open == "[" and previous is not None and not _starts(previous):
                self.expression(token.items, owner, how or "an index", hidden)
            elif token.open in "[{" and token.items[:1] == ["for"]:
                self.loop(token.items, owner, hidden)
            elif token.open == "(" and isinstance(previous, str) and _IDENT.fullmatch(previous):
                self.reference(owner, previous, how, hidden)
                inner = (
                    how
                    if previous in _PASS_THROUGH and how is None
                    else (how or f"an argument of {previous}()")
                )
                self.expression(token.items, owner, inner, hidden)
            else:
                self.expression(token.items, owner, how, hidden)
            previous = token

    def loop(self, tokens: list[_Token], owner: str, hidden: set[str]) -> None:
        """`[for v in LIST : …]`: the loop's names are its own; everything in it is computed."""
        names = set()
        for token in tokens[1:]:
            if token == "in":
                break
            if isinstance(token, str) and _IDENT.fullmatch(token):
                names.add(token)
        self.expression(
            [t for t in tokens[1:] if t != "for"], owner, "a for expression", hidden | names
        )

    def template(self, template: _Template, owner: str, how: str | None, hidden: set[str]) -> None:
        for part in template.parts:
            if isinstance(part, str):
                continue
            if part.open == "%{":
                self.expression(part.items, owner, how or "a %{ } directive", hidden)
            else:
                self.expression(part.items, owner, how, hidden)


_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if"})
#: Tokens after which `[` opens a list rather than an index.
_STARTS = frozenset(
    {"=", ",", "(", "[", "{", "?", ":", "\n", "=>", "==", "!=", "&&", "||", "!", "+", "-"}
)


def _starts(token: _Token) -> bool:
    return isinstance(token, str) and token in _STARTS


def _operation(item: list[_Token]) -> str:
    ops = [t for t in item if isinstance(t, str) and not _IDENT.fullmatch(t) and t != "."]
    if any(t in ("==", "!=", "<", ">", "<=", ">=") for t in ops):
        return "a comparison"
    if any(t in ("&&", "||", "!") for t in ops):
        return "a logical operator"
    if ops:
        return f"the operator {ops[0]}"
    return "an expression"


def _items(tokens: list[_Token]) -> Iterable[tuple[list[_Token], str]]:
    """The items of a list, call, object or attribute value, each with its role: "value", or what it is
    otherwise ("a condition" before `?`, "a key" before `=` / `:` in an object)."""
    item: list[_Token] = []
    ternary = 0
    for token in [*tokens, ","]:
        if token in (",", "\n"):
            if item:
                yield item, "value"
            item = []
        elif token == "?":
            yield item, "a condition"
            ternary += 1
            item = []
        elif token == ":" and ternary:
            ternary -= 1
            yield item, "value"
            item = []
        elif token in ("=", ":", "=>"):
            yield item, "a key"
            item = []
        else:
            item.append(token)


# -- files -------------------------------------------------------------------------------------------------


def _statements(tokens: list[_Token]) -> Iterable[list[_Token]]:
    line: list[_Token] = []
    for token in [*tokens, "\n"]:
        if token == "\n":
            if line:
                yield line
            line = []
        else:
            line.append(token)


def _label(token: _Token) -> str | None:
    if isinstance(token, _Template) and all(isinstance(p, str) for p in token.parts):
        return "".join(str(p) for p in token.parts)
    if isinstance(token, str) and _IDENT.fullmatch(token):
        return token
    return None


def _hcl(text: str, variables: set[str], use: VariableUse) -> None:
    tokens = _Scanner(text).tokens(None)
    top: list[tuple[str, list[_Token], set[str]]] = []  # (owner, value tokens, hidden names)
    locals_: set[str] = set()
    defaults: dict[str, list[_Token]] = {}
    for statement in _statements(tokens):
        head = statement[0]
        if len(statement) >= 2 and statement[1] == "=" and isinstance(head, str):
            locals_.add(head)
            top.append((head, statement[2:], set()))
            continue
        body = statement[-1]
        if not isinstance(head, str) or not isinstance(body, _Group) or body.open != "{":
            continue
        label = _label(statement[1]) if len(statement) > 2 else None
        attributes = list(_attributes(body.items))
        if head == "variable" and label:
            for key, value in attributes:
                if key == "default":
                    defaults[label] = value
                    top.append((label, value, set()))
        elif head == "function" and label:
            params: set[str] = set()
            for key, value in attributes:
                if key == "params":
                    params = {t for t in _flat(value) if isinstance(t, str) and _IDENT.fullmatch(t)}
            locals_.add(label)
            for key, value in attributes:
                if key == "result":
                    top.append((label, value, params))
        else:
            owner = f"{head} {label or ''}".strip()
            for _, value in attributes:
                top.append((owner, value, set()))
    walker = _Walker(variables | locals_, use)
    for owner, value, hidden in top:
        walker.expression(value, owner, None, hidden)
    for name, value in defaults.items():
        text_default = _plain_template(value, variables)
        if text_default is not None:
            use.derived[name] = text_default


def _attributes(tokens: list[_Token]) -> Iterable[tuple[str, list[_Token]]]:
    """`key = value` statements of a block body (nested blocks, such as `validation { }`, are skipped: they
    check values, they do not make them)."""
    for statement in _statements(tokens):
        if len(statement) >= 2 and statement[1] == "=" and isinstance(statement[0], str):
            yield statement[0], statement[2:]


def _flat(tokens: list[_Token]) -> Iterable[_Token]:
    for token in tokens:
        if isinstance(token, _Group):
            yield from _flat(token.items)
        else:
            yield token


def _plain_template(
    value: list[_Token], variables: set[str], *, quoted: bool = True
) -> Template | None:
    """A default written as text and `${NAME}` of variables only (`quoted`: an HCL string, whose backslash
    escapes are undone); None otherwise."""
    if len(value) != 1 or not isinstance(value[0], _Template):
        return None
    out: list[str | VarRef] = []
    for part in value[0].parts:
        if isinstance(part, str):
            out.append(_unescape(part) if quoted else part)
        elif part.open == "${" and len(part.items) == 1 and part.items[0] in variables:
            out.append(VarRef(str(part.items[0])))
        else:
            return None
    template = Template(tuple(out))
    return template if template.variables else None


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def _json(text: str, variables: set[str], use: VariableUse) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    walker = _Walker(set(variables), use)

    def walk(value: object, owner: str) -> None:
        if isinstance(value, str):
            walker.template(_Scanner(value).template(None), owner, None, set())
        elif isinstance(value, dict):
            for v in value.values():
                walk(v, owner)
        elif isinstance(value, list):
            for v in value:
                walk(v, owner)

    for kind, entries in data.items():
        if not isinstance(entries, dict):
            continue
        for name, body in entries.items():
            if kind == "variable" and isinstance(body, dict):
                default = body.get("default")
                walk(default, name)
                if isinstance(default, str):
                    template = _Scanner(default).template(None)
                    found = _plain_template([template], set(variables), quoted=False)
                    if found is not None:
                        use.derived[name] = found
            elif kind != "function":
                walk(body, f"{kind} {name}")


def variable_use(texts: Mapping[str, str], variables: Iterable[str]) -> VariableUse:
    """How the bake files (name → text) use the variables named: which ones bake computes with (directly,
    or through another variable, a top-level attribute or a function whose value it computes with), and
    which defaults are only text and other variables."""
    names = set(variables)
    use = VariableUse()
    for name, text in texts.items():
        if name.endswith((".yml", ".yaml")):
            continue
        if name.endswith(".json"):
            _json(text, names, use)
        else:
            _hcl(text, names, use)
    # A definition used in a computed way computes with everything it names.
    changed = True
    while changed:
        changed = False
        for owner, deps in use.deps.items():
            how = use.computed.get(owner)
            if how is None:
                continue
            for dep in deps:
                if dep not in use.computed:
                    use.computed[dep] = f"{how} (through {owner})"
                    changed = True
    use.computed = {k: v for k, v in use.computed.items() if k in names}
    use.derived = {k: v for k, v in use.derived.items() if k not in use.computed}
    return use
