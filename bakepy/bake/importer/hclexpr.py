"""HCL bake files as data, for the Python form of an import (issue 24, item 2): every variable, function,
top-level attribute and target attribute with its expression as a small typed tree (`Expr`).

python-hcl2 parses (its lark grammar gives the precedence of the operators); this module only turns its parse
tree into the nodes below, and anything it does not know (a splat, a `%{ for }` directive, a grouping `...`
in a map `for`) into `Unsupported`, which the caller treats as "cannot translate": the variables it touches
stay frozen. python-hcl2 is imported only here, and only by `bakepy import --python`. Also the simple readings
of the trees the whole translation (`hclwhole`) needs: how bake reads a variable from the environment, a
default or a list item as plain text, whether a matrix key's values are all text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

# -- expressions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: str | bool | int | float | None


@dataclass(frozen=True)
class TemplateIf:
    """`%{ if cond }then%{ else }otherwise%{ endif }` in a template."""

    condition: Expr
    then: tuple[str | Expr | TemplateIf, ...]
    otherwise: tuple[str | Expr | TemplateIf, ...]


@dataclass(frozen=True)
class Template:
    """A quoted string or heredoc with `${ }` (and `%{ if }`) in it; literal parts are already unescaped."""

    parts: tuple[str | Expr | TemplateIf, ...]


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class GetAttr:
    value: Expr
    name: str


@dataclass(frozen=True)
class Index:
    value: Expr
    key: Expr


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    expand: bool = False  # the last argument is spread (`f(list...)`)


@dataclass(frozen=True)
class Conditional:
    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary:
    op: str
    value: Expr


@dataclass(frozen=True)
class Tuple:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Object:
    items: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class For:
    """`[for k, v in coll : value if cond]` (key is None) or `{for k, v in coll : key => value}`."""

    names: tuple[str, ...]  # one or two
    collection: Expr
    value: Expr
    key: Expr | None
    condition: Expr | None


@dataclass(frozen=True)
class Unsupported:
    what: str


Expr: TypeAlias = (
    Literal
    | Template
    | Name
    | GetAttr
    | Index
    | Call
    | Conditional
    | Binary
    | Unary
    | Tuple
    | Object
    | For
    | Unsupported
)

# -- files ---------------------------------------------------------------------------------------------------


@dataclass
class HclVariable:
    name: str
    default: Expr | None
    type: Expr | None = None
    #: `validation { condition = …, error_message = … }` blocks: bake refuses a value whose condition is false
    validations: tuple[tuple[Expr, Expr | None], ...] = ()


@dataclass
class HclFunction:
    name: str
    params: tuple[str, ...]
    variadic: str | None
    result: Expr


@dataclass
class HclTarget:
    name: str
    attributes: dict[str, Expr] = field(default_factory=dict)


@dataclass
class HclFiles:
    """The definitions of one or more HCL bake files, merged in -f order as bake merges them (a later file's
    attribute replaces an earlier one's, block by block)."""

    variables: dict[str, HclVariable] = field(default_factory=dict)
    functions: dict[str, HclFunction] = field(default_factory=dict)
    attributes: dict[str, Expr] = field(default_factory=dict)  # top-level `name = …`
    targets: dict[str, HclTarget] = field(default_factory=dict)
    groups: dict[str, dict[str, Expr]] = field(default_factory=dict)


class HclUnreadable(ValueError):
    """python-hcl2 could not parse the text (bake could: the caller keeps today's frozen variables)."""


def parse_files(texts: Mapping[str, str]) -> HclFiles:
    """Every HCL file of `texts` (name → text, in -f order) parsed and merged. Raises HclUnreadable."""
    files = HclFiles()
    for name, text in texts.items():
        for block in _blocks(_parse(text, name)):
            _add(files, block)
    return files


def _parse(text: str, where: str) -> Any:
    try:
        import hcl2  # only `bakepy import --python` needs it
        from lark.exceptions import LarkError
    except (
        ImportError
    ):  # a bakepy installed without its dependencies: variables stay frozen, as before
        raise HclUnreadable("python-hcl2 is not installed") from None

    try:
        return hcl2.parses_to_tree(text)
    except (LarkError, ValueError, RecursionError) as exc:
        raise HclUnreadable(f"{where}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None


def _children(tree: Any) -> list[Any]:
    """A node's children without the layout tokens (newlines, comments, brackets, commas)."""
    from lark import Token, Tree

    out: list[Any] = []
    for child in tree.children:
        if isinstance(child, Tree):
            if child.data == "new_line_or_comment":
                continue
            out.append(child)
        elif isinstance(child, Token) and child.type not in ("NL_OR_COMMENT",):
            out.append(child)
    return out


def _trees(tree: Any) -> list[Any]:
    from lark import Tree

    return [c for c in _children(tree) if isinstance(c, Tree)]


def _blocks(start: Any) -> Iterator[tuple[str, str | None, Any]]:
    """(kind, label, node) of each top-level block (`target "x" { }`) or attribute (`name = …`: kind "=")."""
    for body in _trees(start):
        for item in _trees(body):
            if item.data == "attribute":
                yield "=", _identifier(item.children[0]), item
            elif item.data == "block":
                parts = _trees(item)
                kind = _identifier(parts[0])
                labels = [p for p in parts[1:] if p.data in ("string", "identifier")]
                label = _label(labels[0]) if labels else None
                yield kind, label, item


def _identifier(node: Any) -> str:
    return str(node.children[0])


def _label(node: Any) -> str:
    if node.data == "identifier":
        return _identifier(node)
    return "".join(_unescape(str(p.children[0])) for p in _trees(node) if p.data == "string_part")


def _body_attributes(block: Any) -> dict[str, Any]:
    body = next(t for t in _trees(block) if t.data == "body")
    return {
        _identifier(item.children[0]): item for item in _trees(body) if item.data == "attribute"
    }


def _value_node(attribute: Any) -> Any:
    return _trees(attribute)[-1]


def _add(files: HclFiles, block: tuple[str, str | None, Any]) -> None:
    kind, label, node = block
    if kind == "=" and label is not None:
        files.attributes[label] = expression(_value_node(node))
        return
    if label is None:
        return
    attributes = _body_attributes(node)
    values = {k: expression(_value_node(v)) for k, v in attributes.items()}
    if kind == "variable":
        old = files.variables.get(label)
        files.variables[label] = HclVariable(
            label,
            values.get("default", old.default if old else None),
            values.get("type", old.type if old else None),
            (old.validations if old else ()) + _validations(node),
        )
    elif kind == "function":
        params = values.get("params")
        variadic = values.get("variadic_params")
        result = values.get("result")
        names = _names(params) if params is not None else ()
        if isinstance(variadic, Name):  # `variadic_params = rest`
            variadic = Tuple((variadic,))
        variadic_names = _names(variadic) if variadic is not None else ()
        if result is None or names is None or variadic_names is None or len(variadic_names) > 1:
            result = Unsupported(f'function "{label}"')
        files.functions[label] = HclFunction(
            label, names or (), variadic_names[0] if variadic_names else None, result
        )
    elif kind == "target":
        files.targets.setdefault(label, HclTarget(label)).attributes.update(values)
    elif kind == "group":
        files.groups.setdefault(label, {}).update(values)


def _validations(block: Any) -> tuple[tuple[Expr, Expr | None], ...]:
    """A variable block's `validation` blocks: (condition, error_message)."""
    body = next(t for t in _trees(block) if t.data == "body")
    out = []
    for item in _trees(body):
        if item.data == "block" and _identifier(_trees(item)[0]) == "validation":
            values = {k: expression(_value_node(v)) for k, v in _body_attributes(item).items()}
            condition = values.get("condition")
            if condition is not None:
                out.append((condition, values.get("error_message")))
    return tuple(out)


def _names(expr: Expr) -> tuple[str, ...] | None:
    if isinstance(expr, Tuple) and all(isinstance(i, Name) for i in expr.items):
        return tuple(i.name for i in expr.items if isinstance(i, Name))
    return None


# -- parse tree → Expr ---------------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    """An HCL quoted string's escapes undone (`\\"`, `\\n`, `\\u00e9`); `$${` and `%%{` are left as they are:
    they are bakepy's spelling of a literal `${` and `%{` too."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU":
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, match.group(0))

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", one, text)


def expression(node: Any) -> Expr:
    """One expression of the parse tree as an `Expr` (`Unsupported` for what this module does not know)."""
    try:
        return _expression(node)
    except (IndexError, ValueError, AttributeError) as exc:  # a shape of tree not foreseen
        return Unsupported(f"an expression ({exc})")


def _expression(node: Any) -> Expr:
    from lark import Token

    if isinstance(node, Token):
        return Unsupported(f"a token {node.type}")
    data = node.data
    kids = _trees(node)
    if data == "expr_term":
        tokens = [c for c in node.children if isinstance(c, Token)]
        if kids and not tokens:
            return _expression(kids[0])
        if tokens and str(tokens[0]) == "(":  # a parenthesized expression
            return _expression(kids[0])
        return _expression(kids[0]) if kids else Unsupported("an empty expression")
    if data == "identifier":
        return Name(_identifier(node))
    if data == "int_lit":
        return Literal(int(str(node.children[0])))
    if data == "float_lit":
        number = float(str(node.children[0]))
        return Literal(int(number) if number.is_integer() else number)
    if data == "literal_value":
        word = str(node.children[0])
        return Literal({"true": True, "false": False, "null": None}[word])
    if data == "string":
        return _template(node)
    if data in ("heredoc_template", "heredoc_template_trim"):
        return _heredoc(str(node.children[0]), trim=data == "heredoc_template_trim")
    if data == "tuple":
        return Tuple(tuple(_expression(k) for k in kids))
    if data == "object":
        items = []
        for elem in kids:
            key_node, value_node = _trees(elem)
            key = _expression(_trees(key_node)[0]) if key_node.data == "object_elem_key" else None
            if key is None:
                return Unsupported("an object key")
            if isinstance(key, Name):
                key = Literal(key.name)  # `{ A = 1 }`: a bare key is its own name
            elif isinstance(key, Template) and all(isinstance(p, str) for p in key.parts):
                key = Literal("".join(str(p) for p in key.parts))  # `{ "a.b" = 1 }`
            items.append((key, _expression(value_node)))
        return Object(tuple(items))
    if data == "function_call":
        name = _identifier(kids[0])
        args: list[Expr] = []
        expand = False
        for arguments in kids[1:]:
            args = [_expression(a) for a in _trees(arguments)]
            expand = any(isinstance(c, Token) and str(c) == "..." for c in arguments.children)
        return Call(name, tuple(args), expand)
    if data == "conditional":
        return Conditional(*(_expression(k) for k in kids))
    if data == "binary_op":
        left, term = kids[0], kids[1]
        op_node, right = _trees(term)
        return Binary(str(op_node.children[0]), _expression(left), _expression(right))
    if data == "unary_op":
        op = next(str(c) for c in node.children if isinstance(c, Token))
        return Unary(op, _expression(kids[0]))
    if data == "get_attr_expr_term":
        value, get_attr = kids
        return GetAttr(_expression(value), _identifier(_trees(get_attr)[0]))
    if data == "index_expr_term":
        value, index = kids
        if index.data == "braces_index":
            return Index(_expression(value), _expression(_trees(index)[0]))
        if index.data == "short_index":  # `list.0`
            return Index(_expression(value), Literal(int(str(index.children[-1]))))
        return Unsupported("an index")
    if data in ("for_tuple_expr", "for_object_expr"):
        return _for(node, kids, data == "for_object_expr")
    return Unsupported(data)


def _for(node: Any, kids: list[Any], is_map: bool) -> Expr:
    from lark import Token

    if any(isinstance(c, Token) and str(c) == "..." for c in node.children):
        return Unsupported("a grouping `...` in a for expression")
    intro = kids[0]
    names = tuple(_identifier(i) for i in _trees(intro) if i.data == "identifier")
    collection = _expression(next(i for i in _trees(intro) if i.data != "identifier"))
    rest = kids[1:]
    condition = None
    if rest and rest[-1].data == "for_cond":
        condition = _expression(_trees(rest[-1])[0])
        rest = rest[:-1]
    if is_map:
        key, value = (_expression(r) for r in rest)
        return For(names, collection, value, key, condition)
    return For(names, collection, _expression(rest[0]), None, condition)


def _template(node: Any) -> Expr:
    parts = _template_parts(_trees(node))
    if isinstance(parts, Unsupported):
        return parts
    return Template(parts)


def _template_parts(nodes: list[Any]) -> tuple[str | Expr | TemplateIf, ...] | Unsupported:
    """The parts of a quoted template, with `%{ if }…%{ else }…%{ endif }` folded into `TemplateIf`."""
    from lark import Token

    flat: list[Any] = []  # str | Expr | ("if", Expr) | ("else",) | ("endif",)
    for part in nodes:
        if part.data != "string_part":
            continue
        child = part.children[0]
        if isinstance(child, Token):
            flat.append(_unescape(str(child)))
            continue
        inner = _trees(child)
        if child.data == "interpolation":
            flat.append(_expression(inner[0]))
        elif child.data == "template_if_start":
            flat.append(("if", _expression(inner[0])))
        elif child.data == "template_else":
            flat.append(("else",))
        elif child.data == "template_endif":
            flat.append(("endif",))
        else:
            return Unsupported(f"a template directive ({child.data})")
    stack: list[tuple[Expr | None, list[Any], list[Any] | None]] = [(None, [], None)]
    for p in flat:
        if isinstance(p, tuple):
            if p[0] == "if":
                stack.append((p[1], [], None))
            elif p[0] == "else" and len(stack) > 1:
                cond, then, _ = stack.pop()
                stack.append((cond, then, []))
            elif p[0] == "endif" and len(stack) > 1:
                cond, then, otherwise = stack.pop()
                assert cond is not None
                folded = TemplateIf(cond, tuple(then), tuple(otherwise or ()))
                _current(stack).append(folded)
            else:
                return Unsupported("an unbalanced %{ } directive")
        else:
            _current(stack).append(p)
    if len(stack) != 1:
        return Unsupported("an unbalanced %{ } directive")
    return tuple(_merge_text(stack[0][1]))


def _current(stack: list[tuple[Expr | None, list[Any], list[Any] | None]]) -> list[Any]:
    _, then, otherwise = stack[-1]
    return otherwise if otherwise is not None else then


def _merge_text(parts: list[Any]) -> Iterator[Any]:
    text: list[str] = []
    for p in parts:
        if isinstance(p, str):
            text.append(p)
            continue
        if text:
            yield "".join(text)
            text = []
        yield p
    if text:
        yield "".join(text)


def _heredoc(raw: str, *, trim: bool) -> Expr:
    """`<<EOT … EOT` (`<<-EOT`: with the common indentation removed): its text parsed as a template."""
    lines = raw.split("\n")
    while (
        len(lines) > 1 and lines[-1].strip() == ""
    ):  # the token may end with the newline after EOT
        lines = lines[:-1]
    body = lines[1:-1]
    if trim:
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in body if ln.strip()]
        cut = min(indents, default=0)
        body = [ln[cut:] for ln in body]
    text = "\n".join(body) + "\n" if body else ""
    if "${" not in text and "%{" not in text:
        return Template((text,) if text else ())
    # The heredoc's text as one quoted string (escaped back), parsed again for its ${ } and %{ }.
    quoted = json.dumps(text)
    try:
        tree = _parse(f"x = {quoted}\n", "heredoc")
    except HclUnreadable:
        return Unsupported("a heredoc")
    (_, _, node), *_ = list(_blocks(tree))
    return expression(_value_node(node))


# -- readings of the trees, for the whole translation (`hclwhole`) -------------------------------------------


def env_kind(var: HclVariable) -> str | None:
    """How bake reads the variable from the environment: "bool", "number", "str"; None for a type bakepy does
    not read (a list or map variable)."""
    declared = var.type
    if declared is not None:
        if isinstance(declared, Name) and declared.name in ("bool", "number", "string"):
            return {"bool": "bool", "number": "number", "string": "str"}[declared.name]
        return None
    if isinstance(var.default, Literal):
        value = var.default.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            return "number"
    if isinstance(var.default, Tuple | Object | For):
        return None
    return "str"


def plain_default(default: Expr | None) -> tuple[str | None, tuple[str, ...]] | None:
    """A default bakepy's `Variable(default=…)` can hold (text, `${NAME}` of other variables), with the names
    it reads; None when it computes something."""
    if default is None:
        return "", ()  # `variable "X" {}`: bake's value is "" (null only with `default = null`)
    if isinstance(default, Literal) and default.value is None:
        return None, ()
    if isinstance(default, Literal):
        value = default.value
        if isinstance(value, bool):
            return ("true" if value else "false"), ()
        if isinstance(value, str):
            return None if "$" in value or "%{" in value else (value, ())
        from bakepy.bakefuncs import tostring

        return (None if value is None else tostring(value)), ()
    if isinstance(default, Name):
        return f"${{{default.name}}}", (default.name,)
    if isinstance(default, Template):
        out, names = [], []
        for part in default.parts:
            if isinstance(part, str):
                if "$" in part or "%{" in part:
                    return None
                out.append(part)
            elif isinstance(part, Name):
                out.append(f"${{{part.name}}}")
                names.append(part.name)
            else:
                return None
        return "".join(out), tuple(names)
    return None


def literal_item(e: Expr) -> str | dict[str, str] | None:
    """A list item written out: text, or a map of text (`{type = "registry", ref = "x"}`)."""
    if isinstance(e, Literal) and isinstance(e.value, str) and "$" not in e.value:
        return e.value
    if isinstance(e, Template) and all(isinstance(p, str) for p in e.parts):
        text = "".join(str(p) for p in e.parts)
        return None if "$" in text else text
    if isinstance(e, Object):
        out = {}
        for k, v in e.items:
            key, value = literal_item(k), literal_item(v)
            if not isinstance(key, str) or not isinstance(value, str):
                if isinstance(k, Name) and isinstance(value, str):
                    out[k.name] = value
                    continue
                return None
            out[key] = value
        return out
    return None


def all_text(values: Expr) -> bool:
    """Whether a matrix key's values are all text: a list of quoted strings, or split()'s."""
    if isinstance(values, Call):
        return values.name == "split"
    return isinstance(values, Tuple) and all(
        isinstance(i, Template) or (isinstance(i, Literal) and isinstance(i.value, str))
        for i in values.items
    )
