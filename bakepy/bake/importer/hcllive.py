"""Variables that stay live in the Python form of an import (issue 24, item 2): the bake file's conditions and
functions, translated to Python, instead of a variable frozen at its value.

A variable the import froze (bake computes with it: `notequal("master", MAILU_VERSION) ? … : ""`) goes live
when every target attribute whose HCL expression depends on it, directly or through a function, a top-level
attribute or another variable, can be written as a Python expression on the imported target that holds it:

- the attribute is one a target states whole (tags, platforms, a string, a bool) or a map entry (args, labels,
  contexts, extra-hosts), in a target of the same name in the import, with no `matrix`;
- every target inheriting it (bake's merge: a child's own value replaces, maps merge entry by entry) gets the
  expression too, and so overrides whatever base the import's factoring gave it;
- the expression uses only what `bakepy.bakefuncs` has, and with the values in force it gives exactly what
  the import holds (the generated code is run, in the import, on those values).

Anything else (an appended list such as cache-from, a matrix, `inherits` or a group made from it, a clock,
a function bakepy does not have, a JSON bake file) keeps today's behaviour for the variables it touches:
frozen, with its one-line note. `LiveForm` is what the Python writer (`python.py`) needs to write the module.
"""

from __future__ import annotations

import contextlib
import keyword
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.imported import ImportedProject, ImportedTarget, Template, Value
from bakepy.bake.importer.mergerules import MAPS

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


# -- the result ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionCode:
    name: str
    hcl_name: str
    params: tuple[str, ...]
    variadic: str | None
    result: Any


@dataclass
class LiveForm:
    """What the Python writer adds for live variables."""

    live: tuple[str, ...]  # the variables no longer frozen
    reads: tuple[tuple[str, str, str], ...]  # (python name, variable, parse function or "")
    attributes: tuple[tuple[str, Any], ...]  # top-level attributes: (python name, code)
    functions: tuple[FunctionCode, ...]
    #: target → attribute → code (a map attribute: its entries that are code, the rest kept as imported)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    imports: tuple[str, ...] = ()  # from bakepy.bakefuncs
    added: tuple[tuple[str, str | None], ...] = ()  # variables to declare that the import did not


class _Untranslatable(Exception):
    """This expression has something bakepy cannot write as Python (the variables it reads stay frozen)."""


#: bake's functions bakepy.bakefuncs has, by bake's name → Python name, and the type each returns.
_FUNCTIONS: dict[str, tuple[str, str]] = {
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
    "merge": ("merge", "map"),
    "notequal": ("notequal", "bool"),
    "regex": ("regex", "any"),
    "regex_replace": ("regex_replace", "str"),
    "regexall": ("regexall", "list"),
    "replace": ("replace", "str"),
    "reverse": ("reverse", "list"),
    "sethaselement": ("sethaselement", "bool"),
    "setsubtract": ("setsubtract", "list"),
    "setunion": ("setunion", "list"),
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

#: Attributes a target states whole (bake's merge replaces them): text, bools, lists of text, and the entries
#: bakepy's model parses from buildx's CSV spelling (`type=registry,ref=…`).
_WHOLE = frozenset(
    {
        "description",
        "context",
        "dockerfile",
        "dockerfile-inline",
        "target",
        "call",
        "pull",
        "no-cache",
        "network",
        "shm-size",
        "tags",
        "platforms",
        "cache-to",
        "output",
    }
)
#: Lists bake appends to a parent's: code only where nothing is inherited to append to.
_APPENDED = frozenset(
    {"cache-from", "secret", "ssh", "attest", "annotations", "no-cache-filter", "entitlements"}
)
#: Lists bake drops empty entries from (and tags: repeats too).
_LISTS = frozenset({"tags", "platforms", "cache-to", "output", *_APPENDED})
#: The model class that reads an entry of a structured list (to compare code's CSV with bake's print).
_ENTRY_CLASSES = {
    "cache-from": "CacheEntry",
    "cache-to": "CacheEntry",
    "output": "Output",
    "secret": "Secret",
    "ssh": "SSH",
    "attest": "Attestation",
}
#: Names the module already uses.
_RESERVED = (
    frozenset({"project", "variables", "value", "bakepy", "Project", "Target", "Group", "Variable"})
    | frozenset(f for f, _ in _FUNCTIONS.values())
    | {"each", "pairs", "parse_bool", "parse_number"}
)


def _python_name(name: str, taken: set[str]) -> str:
    out = name.replace("-", "_")
    if keyword.iskeyword(out) or out in _RESERVED or out in dir(__builtins__) or out in taken:
        out += "_"
    while out in taken:
        out += "_"
    return out


# -- translation: Expr → code ------------------------------------------------------------------------------


class _Translator:
    def __init__(self, files: h.HclFiles, names: Mapping[str, tuple[str, str]]) -> None:
        self.files = files
        self.names = names  # HCL name → (python name, type) of variables and top-level attributes
        self.functions: dict[str, str] = {}  # user function → python name
        self.used_stdlib: set[str] = set()
        self.used_names: set[str] = set()  # HCL global names read
        self.used_functions: set[str] = set()
        self.reasons: dict[str, str] = {}  # a function or attribute → why it cannot be written

    def expr(self, e: h.Expr, scope: Mapping[str, str]) -> tuple[Any, str]:
        """(code, type): type is str, bool, number, list, map or any."""
        if isinstance(e, h.Unsupported):
            raise _Untranslatable(e.what)
        if isinstance(e, h.Literal):
            return self.literal(e.value)
        if isinstance(e, h.Template):
            return self.template(e.parts, scope)
        if isinstance(e, h.Name):
            if e.name in scope:
                return Code(scope[e.name]), "any"
            if e.name in self.names:
                self.used_names.add(e.name)
                return Code(self.names[e.name][0]), self.names[e.name][1]
            raise _Untranslatable(f"the name {e.name}")
        if isinstance(e, h.GetAttr):
            value, _ = self.expr(e.value, scope)
            return Subscript(paren(value, _ATOM), Code(_py_str(e.name))), "any"
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
            node = IfElse(paren(body, _OR), paren(test, _OR), paren(orelse, _IF))
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
        raise _Untranslatable(type(e).__name__)

    def literal(self, value: str | bool | int | float | None) -> tuple[Any, str]:
        if value is None:
            return Code("None"), "null"
        if isinstance(value, bool):
            return Code("True" if value else "False"), "bool"
        if isinstance(value, int | float):
            return Code(repr(value)), "number"
        if "${" in value or "%{" in value:
            raise _Untranslatable("a literal ${ or %{")  # bakepy would read it as its own template
        return Code(_py_str(value)), "str"

    def stdlib(self, name: str, *args: Any) -> CallCode:
        python, _ = _FUNCTIONS.get(name, (name, "any"))
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
        if e.name in _FUNCTIONS:
            python, kind = _FUNCTIONS[e.name]
            self.used_stdlib.add(python)
            return CallCode(python, tuple(args)), kind
        raise _Untranslatable(f"the function {e.name}()")

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
        raise _Untranslatable(f"the operator {e.op}")

    def loop(self, e: h.For, scope: Mapping[str, str]) -> tuple[Any, str]:
        taken = set(scope.values()) | {n for n, _ in self.names.values()}
        local = {name: _python_name(name, taken) for name in e.names}
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


def _py_str(text: str) -> str:
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
    return Code("f" + _py_str("".join(out)))


def _is_str_literal(text: str) -> bool:
    return len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and not text.startswith("f")


def _literal_value(text: str) -> str:
    import ast

    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


# -- dependencies ----------------------------------------------------------------------------------------------


def _free(e: Any, bound: frozenset[str] = frozenset()) -> Iterator[tuple[str, bool]]:
    """Names an expression reads: (name, is a function call)."""
    if isinstance(e, h.Name):
        if e.name not in bound:
            yield e.name, False
    elif isinstance(e, h.Call):
        yield e.name, True
        for a in e.args:
            yield from _free(a, bound)
    elif isinstance(e, h.For):
        yield from _free(e.collection, bound)
        inner = bound | set(e.names)
        for part in (e.value, e.key, e.condition):
            if part is not None:
                yield from _free(part, inner)
    elif isinstance(e, h.Template | h.TemplateIf | h.Tuple):
        children: Sequence[Any] = (
            e.parts
            if isinstance(e, h.Template)
            else e.items
            if isinstance(e, h.Tuple)
            else (e.condition, *e.then, *e.otherwise)
        )
        for c in children:
            if not isinstance(c, str):
                yield from _free(c, bound)
    elif isinstance(e, h.Object):
        for k, v in e.items:
            yield from _free(k, bound)
            yield from _free(v, bound)
    elif isinstance(e, h.GetAttr):
        yield from _free(e.value, bound)
    elif isinstance(e, h.Index):
        yield from _free(e.value, bound)
        yield from _free(e.key, bound)
    elif isinstance(e, h.Conditional):
        for c in (e.condition, e.then, e.otherwise):
            yield from _free(c, bound)
    elif isinstance(e, h.Binary):
        yield from _free(e.left, bound)
        yield from _free(e.right, bound)
    elif isinstance(e, h.Unary):
        yield from _free(e.value, bound)


class _Reach:
    """The bake variables each definition reads, through functions, top-level attributes and other variables."""

    def __init__(self, files: h.HclFiles) -> None:
        self.files = files
        self.memo: dict[tuple[str, str], frozenset[str]] = {}

    def of(self, e: h.Expr, bound: frozenset[str] = frozenset()) -> frozenset[str]:
        out: set[str] = set()
        for name, is_call in _free(e, bound):
            out |= self.name(name, is_call, ())
        return frozenset(out)

    def name(self, name: str, is_call: bool, stack: tuple[str, ...]) -> frozenset[str]:
        key = ("f" if is_call else "n", name)
        if key in self.memo:
            return self.memo[key]
        if name in stack:
            return frozenset()
        out: set[str] = set()
        files = self.files
        if is_call:
            fn = files.functions.get(name)
            if fn is not None:
                bound = frozenset((*fn.params, *((fn.variadic,) if fn.variadic else ())))
                for n, c in _free(fn.result, bound):
                    out |= self.name(n, c, (*stack, name))
        elif name in files.variables:
            out.add(name)
            default = files.variables[name].default
            if default is not None:
                for n, c in _free(default):
                    out |= self.name(n, c, (*stack, name))
        elif name in files.attributes:
            for n, c in _free(files.attributes[name]):
                out |= self.name(n, c, (*stack, name))
        self.memo[key] = frozenset(out)
        return self.memo[key]


# -- which attributes, which variables -----------------------------------------------------------------------


def _string_list(
    e: h.Expr | None, values: Mapping[str, str | None] | None = None
) -> tuple[str, ...] | None:
    """A list of text (`inherits = ["base"]`), with `values` for variables in it (`"test-${TYPE}"`: its
    variables are frozen, since `inherits` computes with them, so their values in force are the values)."""
    if e is None:
        return ()
    if not isinstance(e, h.Tuple):
        return None
    out = []
    for item in e.items:
        if not isinstance(item, h.Template):
            return None
        text = []
        for part in item.parts:
            if isinstance(part, str):
                text.append(part)
            elif (
                isinstance(part, h.Name)
                and values is not None
                and values.get(part.name) is not None
            ):
                text.append(str(values[part.name]))
            else:
                return None
        out.append("".join(text))
    return tuple(out)


def _plain_default(var: h.HclVariable, names: set[str]) -> str | None:
    """A variable default as bakepy text (`"1.0"`, `"${REPO}:x"`), or None when it computes something."""
    default = var.default
    if isinstance(default, h.Literal) and default.value is not None:
        value = default.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return None if ("${" in value or "%{" in value) else value
        return str(value)
    if isinstance(default, h.Template):
        out = []
        for p in default.parts:
            if isinstance(p, str):
                if "${" in p or "%{" in p:
                    return None
                out.append(p)
            elif isinstance(p, h.Name) and p.name in names:
                out.append(f"${{{p.name}}}")
            else:
                return None
        return "".join(out)
    return None


def _null(var: h.HclVariable) -> bool:
    """`default = null` (or none): bakepy's Variable without a default, None in the code."""
    return var.default is None or (isinstance(var.default, h.Literal) and var.default.value is None)


def _kind_of(var: h.HclVariable) -> str:
    declared = var.type
    if isinstance(declared, h.Name) and declared.name in ("bool", "number", "string"):
        return {"bool": "bool", "number": "number", "string": "str"}[declared.name]
    if isinstance(var.default, h.Literal):
        value = var.default.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            return "number"
    return "str"


def live_form(
    project: ImportedProject, texts: Mapping[str, str], why: dict[str, str] | None = None
) -> LiveForm | None:
    """The live variables of `project` (imported from the HCL files `texts`, name → text in -f order) and the
    Python that keeps them live; None when no frozen variable can go live. `why` (when given) gets, for each
    frozen variable that stays frozen, the first reason found."""
    reasons: dict[str, str] = {} if why is None else why
    frozen = [v.name for v in project.variables if v.frozen]

    def drop(names: Iterable[str], reason: str) -> None:
        for name in names:
            if name in candidates:
                reasons.setdefault(name, reason)
                candidates.discard(name)

    if not frozen or not texts or any(not _is_hcl(name) for name in texts):
        return None
    try:
        files = h.parse_files(texts)
    except h.HclUnreadable:
        return None
    blocked: set[str] = set()
    for note in project.notes:
        name = note.where.removeprefix("variable.")
        if note.where.startswith("variable.") and any(
            why in note.message for why in ("built-in", "clock")
        ):
            blocked.add(name)
    candidates = {n for n in frozen if n in files.variables}
    drop(blocked, "a built-in, the clock or null")
    var_names = set(files.variables)
    for name in list(candidates):
        if (
            not _null(files.variables[name])
            and _plain_default(files.variables[name], var_names) is None
        ):
            drop([name], "its default is computed")
    if not candidates:
        return None
    reach = _Reach(files)

    # Places bake uses a candidate where no Python can go: variable defaults, groups, matrix/name/inherits.
    for name, var in files.variables.items():
        if var.default is not None and not _null(var) and _plain_default(var, var_names) is None:
            drop(reach.of(var.default) - {name}, f"the default of {name} computes with it")
    for group in files.groups.values():
        for value in group.values():
            drop(reach.of(value), "a group computes with it")
    parents: dict[str, tuple[str, ...]] = {}
    values_in_force = _values_in_force(project, files)
    for target in files.targets.values():
        inherits = _string_list(target.attributes.get("inherits"), values_in_force)
        if inherits is None:
            reasons.update(dict.fromkeys(candidates, f"target.{target.name}.inherits is computed"))
            return None
        parents[target.name] = inherits
        for key in ("inherits", "matrix", "name"):
            if key in target.attributes:
                drop(
                    reach.of(target.attributes[key]), f"target.{target.name}.{key} computes with it"
                )
    if not candidates:
        return None

    # Global Python names: variables (and top-level attributes) the code reads.
    taken: set[str] = set()
    names: dict[str, tuple[str, str]] = {}
    for name, var in files.variables.items():
        names[name] = (_python_name(name, taken), _kind_of(var))
        taken.add(names[name][0])
    for name in files.attributes:
        names[name] = (_python_name(name, taken), "any")
        taken.add(names[name][0])
    translator = _Translator(files, names)
    for name in files.functions:
        translator.functions[name] = _python_name(name, taken)
        taken.add(translator.functions[name])
    for _ in range(2):  # a top-level attribute's type, for the code that reads it (`f"{repo}:x"`)
        for name, attribute in files.attributes.items():
            with contextlib.suppress(_Untranslatable):
                names[name] = (names[name][0], translator.expr(attribute, {})[1])

    imported = {t.name: t for t in project.targets}
    jobs: list[tuple[str, str, str | None, h.Expr]] = []  # (target, key, map entry, expression)
    for target in files.targets.values():
        chain = _chain(target.name, parents, ())
        if chain is None:
            return None
        matrix = any("matrix" in files.targets[t].attributes for t in chain if t in files.targets)
        for key in sorted(
            {k for t in chain if t in files.targets for k in files.targets[t].attributes}
        ):
            if key in ("inherits", "matrix", "name"):
                continue
            providers = [
                files.targets[t].attributes[key]
                for t in chain
                if t in files.targets and key in files.targets[t].attributes
            ]
            dirty = frozenset().union(*(reach.of(p) for p in providers)) & candidates
            if not dirty:
                continue
            if matrix or (key not in _WHOLE and key not in MAPS and key not in _APPENDED):
                drop(
                    dirty,
                    f"target.{target.name}.{key} ({'a matrix' if matrix else 'not written as code'})",
                )
                continue
            if key in _APPENDED and (
                len(providers) > 1
                or target.name not in imported
                or any(
                    _imported_value(project, imported, str(parent), key, {}) is not None
                    for parent in _inherits(imported[target.name])
                )
            ):
                drop(dirty, f"target.{target.name}.{key} (a list bake appends to an inherited one)")
                continue
            if target.name not in imported:
                continue  # folded into its children, which carry the expression themselves
            if "matrix" in imported[target.name].attributes:
                drop(dirty, f"target.{target.name}.{key} (a matrix in the import)")
                continue
            if key in _WHOLE or key in _APPENDED:
                jobs.append((target.name, key, None, providers[-1]))
                continue
            entries: dict[str, h.Expr] = {}
            for p in providers:
                if not isinstance(p, h.Object):
                    drop(reach.of(p), f"target.{target.name}.{key} is not a map written out")
                    break
                for k, v in p.items:
                    if not isinstance(k, h.Literal) or not isinstance(k.value, str):
                        drop(reach.of(p), f"target.{target.name}.{key} has a computed key")
                        break
                    entries[k.value] = v
            for entry, value in entries.items():
                if reach.of(value) & candidates:
                    jobs.append((target.name, key, entry, value))

    for (heir, place_key, _), expr in _leaks(jobs, imported):
        drop(
            reach.of(expr) & candidates,
            f"target.{heir}.{place_key} would inherit code the bake file does not give it",
        )
    jobs = [j for j in jobs if reach.of(j[3]) & candidates]
    jobs = _inherited_jobs_left_out(jobs, imported)

    # Translate; a job that cannot be written, or that does not give what the import holds, freezes its
    # variables again, until nothing changes.
    while True:
        live = frozenset(candidates)
        if not live:
            return None
        todo = [j for j in jobs if reach.of(j[3]) & live]
        translator.used_names.clear()
        translator.used_functions.clear()
        translator.used_stdlib.clear()
        codes: list[tuple[tuple[str, str, str | None, h.Expr], Any]] = []
        failed: set[str] = set()
        for job in todo:
            try:
                code, kind = translator.expr(job[3], {})
                if job[2] is not None:  # a map entry is text (`true`, `8` as bake prints them)
                    code = code if kind == "str" else translator.stdlib("tostring", code)
                elif job[1] in _LISTS:
                    code = translator.stdlib("compact", code)  # bake drops empty entries
                else:
                    code = code if kind in ("str", "bool") else translator.stdlib("tostring", code)
                codes.append((job, code))
            except _Untranslatable as exc:
                failed |= reach.of(job[3]) & live
                for name in reach.of(job[3]) & live:
                    reasons.setdefault(name, f"target.{job[0]}.{job[1]}: {exc}")
        functions, attrs = _definitions(translator, files, failed, reach, live)
        if not failed:
            form = _form(translator, files, names, functions, attrs, codes, live, project)
            mismatched = _check(form, project, values_in_force, imported)
            if mismatched is None:
                reasons.update(dict.fromkeys(live, "the code does not run"))
                return None
            failed = {
                v
                for j, _ in codes
                if (j[0], j[1], j[2]) in mismatched
                for v in reach.of(j[3]) & live
            }
            for j, _ in codes:
                if (j[0], j[1], j[2]) in mismatched:
                    for name in reach.of(j[3]) & live:
                        reasons.setdefault(
                            name, f"target.{j[0]}.{j[1]}: the code gives another value"
                        )
            if not failed:
                return form
        drop(failed, "; ".join(translator.reasons.values()) or "not translatable")


def _leaks(
    jobs: list[tuple[str, str, str | None, h.Expr]], imported: Mapping[str, ImportedTarget]
) -> list[tuple[tuple[str, str, str | None], h.Expr]]:
    """Places where a target would get code from a base the import gave it that bake does not compute for
    it: the import's factoring makes a target inherit another that holds all its values (at import), which
    the bake file may not say (`lint` inheriting `build` because both print `output = cacheonly`)."""
    by_place = {(t, k, e): x for t, k, e, x in jobs}
    places = {(k, e) for _, k, e, _ in jobs}

    def holds(name: str, key: str, entry: str | None) -> bool:
        value = imported[name].attributes.get(key)
        return value is not None and (entry is None or (isinstance(value, dict) and entry in value))

    def first(name: str, key: str, entry: str | None, depth: int = 0) -> h.Expr | None:
        """The code the nearest base of `name` that sets the place has, or None (a plain value, or none)."""
        if depth > 20 or name not in imported:
            return None
        for parent in reversed(_inherits(imported[name])):
            if (parent, key, entry) in by_place:
                return by_place[(parent, key, entry)]
            if parent in imported and holds(parent, key, entry):
                return None
            found = first(parent, key, entry, depth + 1)
            if found is not None:
                return found
        return None

    out = []
    for name in imported:
        for key, entry in sorted(places, key=lambda p: (p[0], p[1] or "")):
            if (name, key, entry) in by_place or holds(name, key, entry):
                continue
            expr = first(name, key, entry)
            if expr is not None:
                out.append(((name, key, entry), expr))
    return out


def _inherited_jobs_left_out(
    jobs: list[tuple[str, str, str | None, h.Expr]], imported: Mapping[str, ImportedTarget]
) -> list[tuple[str, str, str | None, h.Expr]]:
    """The jobs without those a target gets from a base the import gives it: a child that holds nothing of its
    own there, whose last base providing the attribute (or map entry) gets the same expression as code."""
    by_place = {(t, k, e): x for t, k, e, x in jobs}

    def holds(name: str, key: str, entry: str | None) -> bool:
        value = imported[name].attributes.get(key) if name in imported else None
        return value is not None and (entry is None or (isinstance(value, dict) and entry in value))

    def provider(name: str, key: str, entry: str | None, expr: h.Expr, depth: int = 0) -> str:
        """What the bases of `name` give it there: "code" (this expression), "other" or "none"."""
        if name not in imported or depth > 20:
            return "other"
        for parent in reversed(_inherits(imported[name])):
            if by_place.get((parent, key, entry)) is expr:
                return "code"
            if holds(parent, key, entry):
                return "other"
            found = provider(parent, key, entry, expr, depth + 1)
            if found != "none":
                return found
        return "none"

    return [(t, k, e, x) for t, k, e, x in jobs if holds(t, k, e) or provider(t, k, e, x) != "code"]


def _is_hcl(name: str) -> bool:
    return not name.endswith((".json", ".yml", ".yaml")) and name != "-"


def _chain(
    name: str, parents: Mapping[str, tuple[str, ...]], stack: tuple[str, ...]
) -> list[str] | None:
    """The targets bake merges for `name`, first to last (parents in order, then the target itself)."""
    if name in stack:
        return None
    out: list[str] = []
    for parent in parents.get(name, ()):
        sub = _chain(parent, parents, (*stack, name))
        if sub is None:
            return None
        out += sub
    return [*out, name]


def _definitions(
    translator: _Translator,
    files: h.HclFiles,
    failed: set[str],
    reach: _Reach,
    live: frozenset[str],
) -> tuple[list[FunctionCode], list[tuple[str, Any]]]:
    """The user functions and top-level attributes the code calls, translated (transitively)."""
    functions: dict[str, FunctionCode] = {}
    attributes: dict[str, Any] = {}
    while True:
        pending_f = [f for f in sorted(translator.used_functions) if f not in functions]
        pending_a = [
            a
            for a in sorted(translator.used_names)
            if a in files.attributes and a not in attributes
        ]
        if not pending_f and not pending_a:
            break
        for name in pending_f:
            fn = files.functions[name]
            taken = {n for n, _ in translator.names.values()} | set(translator.functions.values())
            scope = {
                p: _python_name(p, taken)
                for p in (*fn.params, *((fn.variadic,) if fn.variadic else ()))
            }
            try:
                result, _ = translator.expr(fn.result, scope)
            except _Untranslatable as exc:
                failed |= reach.name(name, True, ()) & live
                translator.reasons.setdefault(name, f'function "{name}": {exc}')
                result = Code("None")
            functions[name] = FunctionCode(
                translator.functions[name],
                name,
                tuple(scope[p] for p in fn.params),
                scope[fn.variadic] if fn.variadic else None,
                result,
            )
        for name in pending_a:
            try:
                code, _ = translator.expr(files.attributes[name], {})
            except _Untranslatable as exc:
                failed |= reach.name(name, False, ()) & live
                translator.reasons.setdefault(name, f"{name}: {exc}")
                code = Code("None")
            attributes[name] = code
    # Attributes in the order they depend on each other (a reads b: b first).
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order or name in stack:
            return
        for dep, is_call in _free(files.attributes[name]):
            if not is_call and dep in attributes:
                visit(dep, (*stack, name))
        order.append(name)

    for name in sorted(attributes):
        visit(name, ())
    return [functions[f] for f in sorted(functions)], [
        (translator.names[a][0], attributes[a]) for a in order
    ]


def _form(
    translator: _Translator,
    files: h.HclFiles,
    names: Mapping[str, tuple[str, str]],
    functions: list[FunctionCode],
    attributes: list[tuple[str, Any]],
    codes: list[tuple[tuple[str, str, str | None, h.Expr], Any]],
    live: frozenset[str],
    project: ImportedProject,
) -> LiveForm:
    read = sorted(n for n in translator.used_names if n in files.variables)
    declared = {v.name for v in project.variables}
    reads = []
    for name in read:
        kind = names[name][1]
        parse = {"bool": "parse_bool", "number": "parse_number"}.get(kind, "")
        if parse:
            translator.used_stdlib.add(parse)
        reads.append((names[name][0], name, parse))
    added: dict[str, str | None] = {}
    todo = [n for n in read if n not in declared]
    var_names = set(files.variables)
    while (
        todo
    ):  # a variable the code reads that the import did not declare, and the ones its default names
        name = todo.pop()
        if name in added or name in declared:
            continue
        added[name] = _plain_default(files.variables[name], var_names)
        for dep, _ in _free(files.variables[name].default) if files.variables[name].default else ():
            if dep in files.variables:
                todo.append(dep)
    values: dict[str, dict[str, Any]] = {}
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    for (target, key, entry, _), code in codes:
        if entry is None:
            values.setdefault(target, {})[key] = code
        else:
            entries.setdefault(target, {}).setdefault(key, {})[entry] = code
    return LiveForm(
        live=tuple(sorted(live)),
        reads=tuple(reads),
        attributes=tuple(attributes),
        functions=tuple(functions),
        values=values,
        entries=entries,
        imports=tuple(sorted(translator.used_stdlib)),
        added=tuple(sorted(added.items())),
    )


def _values_in_force(project: ImportedProject, files: h.HclFiles) -> dict[str, str | None]:
    """Every variable's value at import: the imported default (templates filled in), else the HCL default."""
    raw: dict[str, str | Template | None] = {v.name: v.default for v in project.variables}
    var_names = set(files.variables)
    for name, var in files.variables.items():
        if name not in raw:
            raw[name] = _plain_default(var, var_names)
    out: dict[str, str | None] = {}

    def value(name: str, stack: tuple[str, ...]) -> str | None:
        if name in out:
            return out[name]
        found = raw.get(name)
        result: str | None
        if isinstance(found, Template):
            if name in stack:
                return None
            result = "".join(
                p if isinstance(p, str) else (value(p.name, (*stack, name)) or "")
                for p in found.parts
            )
        elif isinstance(found, str) and "${" in found:
            from bakepy.model.interpolate import interpolate

            result = interpolate(found, lambda n: value(n, (*stack, name)) or "")
        else:
            result = found
        out[name] = result
        return result

    for name in raw:
        value(name, ())
    return out


def module_code(form: LiveForm) -> str:
    """The definitions as one-line Python source, to run them in the check (not the written layout)."""
    lines = []
    for python, variable, parse in form.reads:
        read = f"value[{_py_str(variable)}]"
        lines.append(f"{python} = {parse}({read})" if parse else f"{python} = {read}")
    for fn in form.functions:
        params = [*fn.params, *((f"*{fn.variadic}",) if fn.variadic else ())]
        lines.append(f"def {fn.name}({', '.join(params)}):")
        if fn.variadic:
            lines.append(f"    {fn.variadic} = list({fn.variadic})")
        lines.append(f"    return {inline(fn.result)}")
    for name, code in form.attributes:
        lines.append(f"{name} = {inline(code)}")
    return "\n".join(lines)


def _check(
    form: LiveForm,
    project: ImportedProject,
    values: Mapping[str, str | None],
    imported: Mapping[str, ImportedTarget],
) -> set[tuple[str, str, str | None]] | None:
    """Run the code with the values in force: the (target, key, entry) whose value differs from the import's;
    None when the code cannot run at all."""
    from bakepy import bakefuncs

    namespace: dict[str, Any] = {n: getattr(bakefuncs, n) for n in bakefuncs.__all__}
    namespace["value"] = dict(values)
    try:
        exec(compile(module_code(form), "<bakefile.py>", "exec"), namespace)
    except Exception:
        return None
    bad: set[tuple[str, str, str | None]] = set()
    cases: list[tuple[str, str, str | None, Any]] = [
        (t, k, None, c) for t, attrs in form.values.items() for k, c in attrs.items()
    ] + [
        (t, k, e, c)
        for t, attrs in form.entries.items()
        for k, es in attrs.items()
        for e, c in es.items()
    ]
    for target, key, entry, code in cases:
        try:
            got = eval(compile(inline(code), "<bakefile.py>", "eval"), namespace)
        except Exception:
            bad.add((target, key, entry))
            continue
        want = _imported_value(project, imported, target, key, values)
        if entry is not None:
            want = want.get(entry) if isinstance(want, dict) else None
        if _normal(key, got) != _normal(key, want):
            bad.add((target, key, entry))
    return bad


def _normal(key: str, value: Any) -> Any:
    """A value as bake prints it: lists without empty entries (tags without repeats either), no list as an
    empty one, structured entries (`type=registry,ref=…`) read by bakepy's model."""
    if value is None and key in _LISTS:
        return []
    if isinstance(value, list | tuple):
        items = [v for v in value if v != ""]
        if key == "tags":
            items = list(dict.fromkeys(items))
        if key in _ENTRY_CLASSES:
            import bakepy.model as model

            cls = getattr(model, _ENTRY_CLASSES[key])
            try:
                items = [cls.model_validate(v).bake_value() for v in items]
            except ValueError:
                return ("unreadable", items)
        return items
    return value


def _inherits(target: ImportedTarget) -> list[str]:
    inherits = target.attributes.get("inherits")
    return [str(p) for p in inherits] if isinstance(inherits, list) else []


def _resolved(value: Value, values: Mapping[str, str | None]) -> Any:
    if isinstance(value, Template):
        return "".join(p if isinstance(p, str) else (values.get(p.name) or "") for p in value.parts)
    if isinstance(value, list):
        return [_resolved(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _resolved(v, values) for k, v in value.items()}
    return value


def _imported_value(
    project: ImportedProject,
    imported: Mapping[str, ImportedTarget],
    name: str,
    key: str,
    values: Mapping[str, str | None],
    stack: tuple[str, ...] = (),
) -> Any:
    """What the import resolves `key` of target `name` to (own value, else its bases', maps merged)."""
    target = imported.get(name)
    if target is None or name in stack:
        return None
    inherits = target.attributes.get("inherits")
    merged: Any = None
    for parent in inherits if isinstance(inherits, list) else ():
        got = _imported_value(project, imported, str(parent), key, values, (*stack, name))
        if got is None:
            continue
        merged = {**merged, **got} if isinstance(merged, dict) and isinstance(got, dict) else got
    own = target.attributes.get(key)
    if own is None:
        return merged
    own = _resolved(own, values)
    if isinstance(own, dict) and isinstance(merged, dict):
        return {**merged, **own}
    return own
