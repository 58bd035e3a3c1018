"""HCL expressions as Python code, for the Python form of an import (`hcllive` decides where): the code as a
small tree that `python.py` lays out the way ruff formats it, and the translation of `hclexpr` trees into it,
with bake's functions from `bakepy.bakefuncs` and cty's semantics where Python's differ (a condition that is
not a bool goes through `tobool`, text meets a number through `tostring`, `==` of two things that may differ
in type is `equal`).
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bakepy.bake.importer import hclexpr as h

# -- Python code as a tree (laid out by python.py the way ruff formats it) ------------------------------------


@dataclass(frozen=True)
class Code:
    """An atom: a name, a literal, an f-string, or anything already parenthesized."""

    text: str


@dataclass(frozen=True)
class CallCode:
    func: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class ListCode:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class DictCode:
    items: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class IfElse:
    body: Any
    test: Any
    orelse: Any


@dataclass(frozen=True)
class Chain:
    """`a and b and c`, `a == b`, `a + b`: operands joined by one operator."""

    op: str
    operands: tuple[Any, ...]


@dataclass(frozen=True)
class Prefix:
    op: str  # "not ", "-", "lambda: ", "*"
    operand: Any


@dataclass(frozen=True)
class Subscript:
    value: Any
    key: Any


@dataclass(frozen=True)
class Comprehension:
    """`[value for names in source if condition]` or `{key: value for …}`."""

    key: Any | None
    value: Any
    names: str
    source: Any
    condition: Any | None


# Binding strength, as Python's grammar has it.
_LAMBDA, _IF, _OR, _AND, _NOT, _COMPARE, _ADD, _MUL, _NEG, _ATOM = range(10)
_OP_LEVEL = {
    "or": _OR,
    "and": _AND,
    "==": _COMPARE,
    "!=": _COMPARE,
    "<": _COMPARE,
    ">": _COMPARE,
    "<=": _COMPARE,
    ">=": _COMPARE,
    "is": _COMPARE,
    "is not": _COMPARE,
    "+": _ADD,
    "-": _ADD,
    "*": _MUL,
    "/": _MUL,
    "%": _MUL,
}


def level(node: Any) -> int:
    if isinstance(node, IfElse):
        return _IF
    if isinstance(node, Chain):
        return _OP_LEVEL[node.op]
    if isinstance(node, Prefix):
        return {"not ": _NOT, "-": _NEG, "lambda: ": _LAMBDA, "*": _ATOM}[node.op]
    return _ATOM


def paren(node: Any, at_least: int) -> Any:
    """`node` parenthesized when it binds less tightly than `at_least`."""
    return Code(f"({inline(node)})") if level(node) < at_least else node


def inline(node: Any) -> str:
    """The code on one line."""
    if isinstance(node, Code):
        return node.text
    if isinstance(node, CallCode):
        return f"{node.func}({', '.join(inline(a) for a in node.args)})"
    if isinstance(node, ListCode):
        return f"[{', '.join(inline(a) for a in node.items)}]"
    if isinstance(node, DictCode):
        return "{" + ", ".join(f"{inline(k)}: {inline(v)}" for k, v in node.items) + "}"
    if isinstance(node, IfElse):
        return f"{inline(node.body)} if {inline(node.test)} else {inline(node.orelse)}"
    if isinstance(node, Chain):
        return f" {node.op} ".join(inline(o) for o in node.operands)
    if isinstance(node, Prefix):
        return f"{node.op}{inline(node.operand)}"
    if isinstance(node, Subscript):
        return f"{inline(node.value)}[{inline(node.key)}]"
    if isinstance(node, Comprehension):
        head = (
            f"{inline(node.key)}: {inline(node.value)}"
            if node.key is not None
            else inline(node.value)
        )
        tail = f" if {inline(node.condition)}" if node.condition is not None else ""
        body = f"{head} for {node.names} in {inline(node.source)}{tail}"
        return f"{{{body}}}" if node.key is not None else f"[{body}]"
    raise TypeError(f"not code: {node!r}")


class Untranslatable(Exception):
    """This expression has something bakepy cannot write as Python (the variables it reads stay frozen)."""


#: bake's functions bakepy.bakefuncs has, by bake's name → Python name, and the type each returns.
FUNCTIONS: dict[str, tuple[str, str]] = {
    "and": ("and_", "bool"),
    "or": ("or_", "bool"),
    "not": ("not_", "bool"),
    "can": ("can", "bool"),
    "coalesce": ("coalesce", "any"),
    "compact": ("compact", "list"),
    "concat": ("concat", "list"),
    "contains": ("contains", "bool"),
    "distinct": ("distinct", "list"),
    "element": ("element", "any"),
    "equal": ("equal", "bool"),
    "flatten": ("flatten", "list"),
    "format": ("format", "str"),
    "formatlist": ("formatlist", "list"),
    "index": ("index", "any"),
    "join": ("join", "str"),
    "keys": ("keys", "list"),
    "length": ("length", "number"),
    "lookup": ("lookup", "any"),
    "lower": ("lower", "str"),
    "md5": ("md5", "str"),
    "merge": ("merge", "map"),
    "notequal": ("notequal", "bool"),
    "regex": ("regex", "any"),
    "regex_replace": ("regex_replace", "str"),
    "regexall": ("regexall", "list"),
    "replace": ("replace", "str"),
    "reverse": ("reverse", "list"),
    "sethaselement": ("sethaselement", "bool"),
    "setsubtract": ("setsubtract", "set"),
    "setunion": ("setunion", "set"),
    "sha1": ("sha1", "str"),
    "sha256": ("sha256", "str"),
    "split": ("split", "list"),
    "substr": ("substr", "str"),
    "title": ("title", "str"),
    "tobool": ("tobool", "bool"),
    "tolist": ("tolist", "list"),
    "tonumber": ("tonumber", "number"),
    "tostring": ("tostring", "str"),
    "trim": ("trim", "str"),
    "trimprefix": ("trimprefix", "str"),
    "trimspace": ("trimspace", "str"),
    "trimsuffix": ("trimsuffix", "str"),
    "upper": ("upper", "str"),
    "values": ("values", "list"),
}

#: The clock: only the whole translation (`hclwhole`) calls it, at render; the patched form (`hcllive`) checks
#: its code against the import's values, which the clock has moved on from.
CLOCK_FUNCTIONS: dict[str, tuple[str, str]] = {
    "timestamp": ("timestamp", "str"),
    "formatdate": ("formatdate", "str"),
    "formattimestamp": ("formattimestamp", "str"),
}

#: Names the module already uses.
_RESERVED = (
    frozenset({"project", "variables", "value", "bakepy", "Project", "Target", "Group", "Variable"})
    | frozenset(f for f, _ in FUNCTIONS.values())
    | frozenset(f for f, _ in CLOCK_FUNCTIONS.values())
    | {"each", "pairs", "parse_bool", "parse_number", "bake_target", "targets", "groups", "names"}
)


def python_name(name: str, taken: set[str]) -> str:
    out = name.replace("-", "_")
    if keyword.iskeyword(out) or out in _RESERVED or out in dir(builtins) or out in taken:
        out += "_"
    while out in taken:
        out += "_"
    return out


# -- translation: Expr → code ------------------------------------------------------------------------------


class Translator:
    def __init__(
        self,
        files: h.HclFiles,
        names: Mapping[str, tuple[str, str]],
        builtins: Mapping[str, tuple[str, str]] = FUNCTIONS,
    ) -> None:
        self.files = files
        self.builtins = (
            builtins  # bake's functions it may call: FUNCTIONS, with the clock's for hclwhole
        )
        self.names = names  # HCL name → (python name, type) of variables and top-level attributes
        self.functions: dict[str, str] = {}  # user function → python name
        self.used_stdlib: set[str] = set()
        self.used_names: set[str] = set()  # HCL global names read
        self.used_functions: set[str] = set()
        self.reasons: dict[str, str] = {}  # a function or attribute → why it cannot be written
        self.scope_kinds: dict[
            str, str
        ] = {}  # a local's python name → its type, where known (a matrix's)

    def expr(self, e: h.Expr, scope: Mapping[str, str]) -> tuple[Any, str]:
        """(code, type): type is str, bool, number, list, set, map or any."""
        if isinstance(e, h.Unsupported):
            raise Untranslatable(e.what)
        if isinstance(e, h.Literal):
            return self.literal(e.value)
        if isinstance(e, h.Template):
            return self.template(e.parts, scope)
        if isinstance(e, h.Name):
            if e.name in scope:
                return Code(scope[e.name]), self.scope_kinds.get(scope[e.name], "any")
            if e.name in self.names:
                self.used_names.add(e.name)
                return Code(self.names[e.name][0]), self.names[e.name][1]
            raise Untranslatable(f"the name {e.name}")
        if isinstance(e, h.GetAttr):
            value, _ = self.expr(e.value, scope)
            return Subscript(paren(value, _ATOM), Code(py_str(e.name))), "any"
        if isinstance(e, h.Index):
            value, _ = self.expr(e.value, scope)
            if isinstance(e.key, h.Literal) and type(e.key.value) is int and e.key.value >= 0:
                return Subscript(paren(value, _ATOM), Code(str(e.key.value))), "any"
            key, _ = self.expr(e.key, scope)
            return self.stdlib("index", value, key), "any"
        if isinstance(e, h.Call):
            return self.call(e, scope)
        if isinstance(e, h.Conditional):
            test = self.boolean(e.condition, scope)
            body, tb = self.expr(e.then, scope)
            orelse, to = self.expr(e.otherwise, scope)
            if tb != to and "str" in (tb, to) and {tb, to} <= {"str", "number", "bool"}:
                # cty unifies the two results: a number or bool beside text becomes text
                body = body if tb == "str" else self.stdlib("tostring", body)
                orelse = orelse if to == "str" else self.stdlib("tostring", orelse)
                tb = to = "str"
            if tb != to and "set" in (tb, to) and {tb, to} <= {"set", "list", "any"}:
                # cty unifies a set and a list (a parameter: one at run time) into a set: no repeats,
                # in order (bake prints it sorted)
                body = body if tb == "set" else self.stdlib("setunion", body)
                orelse = orelse if to == "set" else self.stdlib("setunion", orelse)
                tb = to = "set"
            node = IfElse(paren(body, _OR), paren(test, _OR), paren(orelse, _IF))
            if "null" in (tb, to) and tb != to:
                # `cond ? "-cover" : null`: text or nothing (a map entry bake leaves out, as bakepy does)
                return node, to if tb == "null" else tb
            return node, tb if tb == to else "any"
        if isinstance(e, h.Binary):
            return self.binary(e, scope)
        if isinstance(e, h.Unary):
            if e.op == "!":
                return Prefix("not ", paren(self.boolean(e.value, scope), _NOT)), "bool"
            return Prefix("-", paren(self.number(e.value, scope), _NEG)), "number"
        if isinstance(e, h.Tuple):
            return ListCode(tuple(self.expr(i, scope)[0] for i in e.items)), "list"
        if isinstance(e, h.Object):
            items = []
            for key, value in e.items:
                items.append((self.text(key, scope), self.expr(value, scope)[0]))
            return DictCode(tuple(items)), "map"
        if isinstance(e, h.For):
            return self.loop(e, scope)
        raise Untranslatable(type(e).__name__)

    def literal(self, value: str | bool | int | float | None) -> tuple[Any, str]:
        if value is None:
            return Code("None"), "null"
        if isinstance(value, bool):
            return Code("True" if value else "False"), "bool"
        if isinstance(value, int | float):
            return Code(repr(value)), "number"
        if "${" in value or "%{" in value:
            raise Untranslatable("a literal ${ or %{")  # bakepy would read it as its own template
        return Code(py_str(value)), "str"

    def stdlib(self, name: str, *args: Any) -> CallCode:
        python, _ = FUNCTIONS.get(name, (name, "any"))
        self.used_stdlib.add(python)
        return CallCode(python, args)

    def text(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        code, kind = self.expr(e, scope)
        return code if kind == "str" else self.stdlib("tostring", code)

    def boolean(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        code, kind = self.expr(e, scope)
        return code if kind == "bool" else self.stdlib("tobool", code)

    def number(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        code, kind = self.expr(e, scope)
        return code if kind == "number" else self.stdlib("tonumber", code)

    def template(
        self, parts: Sequence[str | h.Expr | h.TemplateIf], scope: Mapping[str, str]
    ) -> tuple[Any, str]:
        if len(parts) == 1 and not isinstance(parts[0], str | h.TemplateIf):
            return self.expr(parts[0], scope)  # "${x}" alone is x itself, of its own type
        pieces: list[Any] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(self.literal(part)[0])
            elif isinstance(part, h.TemplateIf):
                then, _ = self.template(part.then, scope) if part.then else (Code('""'), "str")
                other, _ = (
                    self.template(part.otherwise, scope) if part.otherwise else (Code('""'), "str")
                )
                test = self.boolean(part.condition, scope)
                pieces.append(Code(f"({inline(IfElse(then, paren(test, _OR), other))})"))
            else:
                pieces.append(self.text(part, scope))
        if not pieces:
            return Code('""'), "str"
        return _fstring(pieces), "str"

    def call(self, e: h.Call, scope: Mapping[str, str]) -> tuple[Any, str]:
        if e.name == "can" and len(e.args) == 1 and not e.expand:
            inner, _ = self.expr(e.args[0], scope)
            return self.stdlib("can", Prefix("lambda: ", inner)), "bool"
        args = [self.expr(a, scope)[0] for a in e.args]
        if e.expand and args:
            args[-1] = Prefix("*", paren(args[-1], _ATOM))
        if e.name in self.files.functions:
            self.used_functions.add(e.name)
            return CallCode(self.functions[e.name], tuple(args)), "any"
        if e.name in self.builtins:
            python, kind = self.builtins[e.name]
            self.used_stdlib.add(python)
            return CallCode(python, tuple(args)), kind
        raise Untranslatable(f"the function {e.name}()")

    def binary(self, e: h.Binary, scope: Mapping[str, str]) -> tuple[Any, str]:
        if e.op in ("==", "!="):
            left, lk = self.expr(e.left, scope)
            right, rk = self.expr(e.right, scope)
            if "null" in (lk, rk):
                other = right if lk == "null" else left
                op = "is" if e.op == "==" else "is not"
                return Chain(op, (paren(other, _COMPARE + 1), Code("None"))), "bool"
            if lk == rk and lk in ("str", "bool"):
                return Chain(e.op, (paren(left, _COMPARE + 1), paren(right, _COMPARE + 1))), "bool"
            name = "equal" if e.op == "==" else "notequal"
            return self.stdlib(name, left, right), "bool"
        if e.op in ("&&", "||"):
            op = "and" if e.op == "&&" else "or"
            lev = _OP_LEVEL[op]
            left = paren(self.boolean(e.left, scope), lev)
            right = paren(self.boolean(e.right, scope), lev + 1)
            operands = left.operands if isinstance(left, Chain) and left.op == op else (left,)
            return Chain(op, (*operands, right)), "bool"
        if e.op in ("<", ">", "<=", ">="):
            left = paren(self.number(e.left, scope), _COMPARE + 1)
            right = paren(self.number(e.right, scope), _COMPARE + 1)
            return Chain(e.op, (left, right)), "bool"
        if e.op in ("+", "-", "*", "/", "%"):
            lev = _OP_LEVEL[e.op]
            left = paren(self.number(e.left, scope), lev)
            right = paren(self.number(e.right, scope), lev + 1)
            return Chain(e.op, (left, right)), "number"
        raise Untranslatable(f"the operator {e.op}")

    def loop(self, e: h.For, scope: Mapping[str, str]) -> tuple[Any, str]:
        taken = set(scope.values()) | {n for n, _ in self.names.values()}
        local = {name: python_name(name, taken) for name in e.names}
        inner = {**scope, **local}
        source, _ = self.expr(e.collection, scope)
        if len(e.names) == 2:
            names = f"{local[e.names[0]]}, {local[e.names[1]]}"
            source = self.stdlib("pairs", source)
        else:
            names = local[e.names[0]]
            source = self.stdlib("each", source)
        value, _ = self.expr(e.value, inner)
        key = self.text(e.key, inner) if e.key is not None else None
        condition = self.boolean(e.condition, inner) if e.condition is not None else None
        node = Comprehension(
            key,
            paren(value, _IF + 1),
            names,
            paren(source, _OR),
            paren(condition, _OR) if condition is not None else None,
        )
        return node, "map" if key is not None else "list"


def py_str(text: str) -> str:
    from bakepy.bake.importer.python import py_string  # python.py imports this module

    return py_string(text)


def _fstring(pieces: Sequence[Any]) -> Any:
    """Text and code pieces as one f-string, or `"".join([...])` when a piece has quotes, backslashes or
    braces (which an f-string cannot hold before Python 3.12)."""
    if len(pieces) == 1 and isinstance(pieces[0], Code) and _is_str_literal(pieces[0].text):
        return pieces[0]
    codes = [inline(p) for p in pieces if not (isinstance(p, Code) and _is_str_literal(p.text))]
    if any(("'" in c or '"' in c or "\\" in c or "{" in c or "}" in c) for c in codes):
        return CallCode('"".join', (ListCode(tuple(pieces)),))
    out: list[str] = []
    for p in pieces:
        if isinstance(p, Code) and _is_str_literal(p.text):
            out.append(_literal_value(p.text).replace("{", "{{").replace("}", "}}"))
        else:
            out.append("{" + inline(p) + "}")
    return Code("f" + py_str("".join(out)))


def _is_str_literal(text: str) -> bool:
    return len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and not text.startswith("f")


def _literal_value(text: str) -> str:
    import ast

    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


# -- statements of the whole translation (`hclwhole`), laid out by python.py -----------------------------


def py_key(name: str) -> str:
    from bakepy.bake.importer.python import py_string

    return py_string(name)


class KwCall:
    """`name(key=code, …)`, written by python.py's line writer."""

    def __init__(self, name: str, kwargs: tuple[tuple[str, Any], ...]) -> None:
        self.name = name
        self.kwargs = kwargs


def call_lines(call: KwCall, indent: int, prefix: str) -> list[str]:
    from bakepy.bake.importer.python import _Call, _py_lines

    return _py_lines(_Call(call.name, call.kwargs), indent, prefix, "")


def dict_lines(opening: str, items: list[tuple[str, KwCall]]) -> list[str]:
    from bakepy.bake.importer.python import _Call, _Dict, _py_lines

    node = _Dict(tuple((k, _Call(c.name, c.kwargs)) for k, c in items))
    return _py_lines(node, 0, opening[: -len("{")], "")
