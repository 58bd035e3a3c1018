"""Import step 3 (pure): an `ImportedProject` as a `bakefile.py`, written the way `ruff format` would write it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bakepy.bake.importer.imported import ImportedProject, ImportedVariable, Template, Value
from bakepy.bake.importer.text import LINE_LENGTH, _comment_lines, header_comment, template_text
from bakepy.model.attributes import ATTEST_KEYS, CACHE_KEYS, OUTPUT_KEYS

if TYPE_CHECKING:
    from bakepy.bake.importer.hcllive import LiveForm

# The live form's code (bakepy.bake.importer.hcllive, hclpython) is imported on first use: `bakepy render`
# imports this package (bakepy.bake.importer.imported), and only `bakepy import --python` needs the code.

# Python ----------------------------------------------------------------------------------------------------
#
# The module is written the way `ruff format` (and black) would write it, so a project can keep it under
# its formatter unchanged: a call or collection stays on one line when it fits in LINE_LENGTH, otherwise it
# is exploded one item per line with a trailing comma (a "magic" trailing comma keeps it exploded).
# Where that writes a long list an item (or a key) a line, a matrix's rows or a group's members, the list is
# a module-level constant between `# fmt: off` and `# fmt: on` instead, a row a line or the items packed,
# under the opening bracket where that is shorter (`_hoisted`): issue 24, every import at most 1.5 times its
# original's lines.

#: The model class each entry of a structured attribute is written with.
_ENTRY_CLASS = {
    "attest": "Attestation",
    "cache-from": "CacheEntry",
    "cache-to": "CacheEntry",
    "output": "Output",
    "secret": "Secret",
    "ssh": "SSH",
    "ulimits": "Ulimit",
    "policy": "Policy",
    "resources": "Resources",
}
#: Keys an entry class takes as keywords (`image-manifest` as `image_manifest=`); the rest (`annotation.*`, an
#: attribute bakepy does not know) go in its `attrs` (bakepy.model.attributes._AttrEntry).
_ENTRY_FIELDS = {
    "Attestation": ("type", "disabled", *ATTEST_KEYS),
    "CacheEntry": ("type", *CACHE_KEYS),
    "Output": ("type", "dest", *OUTPUT_KEYS),
}


def _is_code(node: Any) -> bool:
    return type(node).__module__ == "bakepy.bake.importer.hclpython"


def code_inline(node: Any) -> str:
    from bakepy.bake.importer.hclpython import inline

    return inline(node)


@dataclass(frozen=True)
class _Call:
    name: str
    kwargs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Dict:
    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Tuple:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Name:
    """A name the module defines (a list hoisted out of the project: see `_hoisted`)."""

    name: str


def _char_width(char: str) -> int:
    import unicodedata

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(c) for c in text) if not text.isascii() else len(text)


def py_string(text: str) -> str:
    """A Python string literal as ruff writes it: double quotes unless that needs more escapes."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def _py_inline(node: Any) -> str:
    if _is_code(node):
        return code_inline(node)
    if isinstance(node, _Call):
        return f"{node.name}(" + ", ".join(f"{k}={_py_inline(v)}" for k, v in node.kwargs) + ")"
    if isinstance(node, _Dict):
        return "{" + ", ".join(f"{py_string(k)}: {_py_inline(v)}" for k, v in node.items) + "}"
    if isinstance(node, _Tuple):
        if len(node.items) == 1:
            return f"({_py_inline(node.items[0])},)"
        return "(" + ", ".join(_py_inline(v) for v in node.items) + ")"
    if isinstance(node, _Name):
        return node.name
    if isinstance(node, bool):
        return "True" if node else "False"
    if isinstance(node, int | float):
        return repr(node)
    if isinstance(node, str):
        return py_string(node)
    raise TypeError(f"cannot write {node!r} as Python")


def _py_lines(node: Any, indent: int, prefix: str, suffix: str) -> list[str]:
    """`prefix + node + suffix` at `indent`: one line if it fits, else exploded."""
    pad = " " * indent
    inline = f"{pad}{prefix}{_py_inline(node)}{suffix}"
    if _is_code(node):
        return _code_lines(node, indent, prefix, suffix)
    items: Sequence[Any]
    if isinstance(node, _Call):
        opening, closing, items = f"{node.name}(", ")", node.kwargs
    elif isinstance(node, _Dict):
        opening, closing, items = "{", "}", node.items
    elif isinstance(node, _Tuple):
        opening, closing, items = "(", ")", node.items
    else:
        return [inline]
    if not items or _width(inline) <= LINE_LENGTH:
        return [inline]
    lines = [f"{pad}{prefix}{opening}"]
    for item in items:
        if isinstance(node, _Call):
            key, value = item
            lines += _py_lines(value, indent + 4, f"{key}=", ",")
        elif isinstance(node, _Dict):
            key, value = item
            lines += _py_lines(value, indent + 4, f"{py_string(key)}: ", ",")
        else:
            lines += _py_lines(item, indent + 4, "", ",")
    lines.append(f"{pad}{closing}{suffix}")
    return lines


def _code_lines(
    node: Any, indent: int, prefix: str, suffix: str, *, item: bool = False
) -> list[str]:
    """Translated bake code (`hcllive`, `hclwhole`) at `indent`: one line if it fits, else split the way ruff
    splits it (brackets one item per line with a trailing comma; a conditional or a chain of operators
    parenthesized, one part per line; a chain of conditionals, `a if x else b if y else c`, one part a line
    without nesting, and unparenthesized as an `item` of brackets)."""
    from bakepy.bake.importer.hclpython import (
        CallCode,
        Chain,
        Comprehension,
        DictCode,
        IfElse,
        ListCode,
    )

    pad = " " * indent
    one = f"{pad}{prefix}{code_inline(node)}{suffix}"
    if _width(one) <= LINE_LENGTH:
        return [one]
    inner = indent + 4
    if isinstance(node, CallCode | ListCode | DictCode):
        if isinstance(node, CallCode):
            opening, closing, items = f"{node.func}(", ")", node.args
        elif isinstance(node, ListCode):
            opening, closing, items = "[", "]", node.items
        else:
            opening, closing, items = "{", "}", node.items
        if not items:
            return [one]
        lines = [f"{pad}{prefix}{opening}"]
        for entry in items:
            if isinstance(node, DictCode):
                key, value = entry
                lines += _code_lines(value, inner, f"{code_inline(key)}: ", ",", item=True)
            else:
                lines += _code_lines(entry, inner, "", ",", item=True)
        return [*lines, f"{pad}{closing}{suffix}"]
    if isinstance(node, IfElse) and isinstance(node.orelse, IfElse):
        # ruff never nests a chain of conditionals: one part a line, parenthesized unless brackets hold it
        parts: list[tuple[Any, str]] = []
        part: Any = node
        while isinstance(part, IfElse):
            parts += [(part.body, "else " if parts else ""), (part.test, "if ")]
            part = part.orelse
        parts.append((part, "else "))
        at = indent if item else inner
        lines = [] if item else [f"{pad}{prefix}("]
        for i, (operand, word) in enumerate(parts):
            lines += _operand_lines(operand, at, prefix + word if item and i == 0 else word)
        return [*lines, f"{pad}){suffix}"] if not item else [*lines[:-1], lines[-1] + suffix]
    if isinstance(node, IfElse | Chain):
        within = f"{' ' * inner}{code_inline(node)}"
        if _width(within) <= LINE_LENGTH:  # parenthesized, it fits on a line of its own
            return [f"{pad}{prefix}(", within, f"{pad}){suffix}"]
    if isinstance(node, IfElse):
        lines = [f"{pad}{prefix}("]
        for part, word in ((node.body, ""), (node.test, "if "), (node.orelse, "else ")):
            lines += _operand_lines(part, inner, word)
        return [*lines, f"{pad}){suffix}"]
    if isinstance(node, Chain):
        lines = [f"{pad}{prefix}("]
        for i, operand in enumerate(node.operands):
            lines += _code_lines(operand, inner, "" if i == 0 else f"{node.op} ", "")
        return [*lines, f"{pad}){suffix}"]
    if isinstance(node, Comprehension):
        opening, closing = ("{", "}") if node.key is not None else ("[", "]")
        head = node.value if node.key is None else None
        lines = [f"{pad}{prefix}{opening}"]
        if head is not None:
            lines += _code_lines(head, inner, "", "")
        else:
            lines.append(f"{' ' * inner}{code_inline(node.key)}: {code_inline(node.value)}")
        lines.append(f"{' ' * inner}for {node.names} in {code_inline(node.source)}")
        if node.condition is not None:
            lines += _code_lines(node.condition, inner, "if ", "")
        return [*lines, f"{pad}{closing}{suffix}"]
    return [one]


def _operand_lines(node: Any, indent: int, prefix: str) -> list[str]:
    """One part of a split conditional: a chain of operators too long for its line continues on the next
    lines, an operator first, inside the conditional's parentheses (ruff adds none of its own)."""
    from bakepy.bake.importer.hclpython import Chain

    one = f"{' ' * indent}{prefix}{code_inline(node)}"
    if _width(one) <= LINE_LENGTH or not isinstance(node, Chain):
        return _code_lines(node, indent, prefix, "")
    lines: list[str] = []
    for i, operand in enumerate(node.operands):
        lines += _code_lines(operand, indent, prefix if i == 0 else f"{node.op} ", "")
    return lines


def _py_text(value: Value) -> Any:
    if isinstance(value, str | Template):
        return template_text(value)
    if isinstance(value, list):
        return _Tuple(tuple(_py_text(v) for v in value))
    if isinstance(value, dict):
        return _Dict(tuple((k, _py_text(v)) for k, v in value.items()))
    return value


def _py_entry(cls: str, entry: Value) -> Any:
    """One structured entry as its model class, e.g. CacheEntry(type="registry", ref="…", mode="max")."""
    if cls == "Ulimit" and isinstance(entry, str):
        match = re.fullmatch(r"([a-z]+)=(-?[0-9]+)(?::(-?[0-9]+))?", entry)
        if match is None:
            return template_text(entry)  # the model parses buildx's spelling too
        name, soft, hard = match.groups()
        kwargs: list[tuple[str, Any]] = [("name", name), ("soft", int(soft))]
        return _Call(cls, (*kwargs, *((("hard", int(hard)),) if hard is not None else ())))
    if not isinstance(entry, dict):
        return _py_text(entry)
    fields = _ENTRY_FIELDS.get(cls)
    kwargs = []
    attrs: list[tuple[str, Any]] = []
    for key, value in entry.items():
        if fields is None or key in fields:
            kwargs.append((key.replace("-", "_"), _py_text(value)))
        else:
            attrs.append((key, _py_text(value)))
    if attrs:
        kwargs.append(("attrs", _Dict(tuple(attrs))))
    return _Call(cls, tuple(kwargs))


def _py_attribute(key: str, value: Value) -> Any:
    cls = _ENTRY_CLASS.get(key)
    if cls is None:
        return _py_text(value)
    if isinstance(value, list):
        return _Tuple(tuple(_py_entry(cls, v) for v in value))
    return _py_entry(cls, value)


def _py_classes(node: Any) -> set[str]:
    """The model classes a node tree calls (what the module imports)."""
    if isinstance(node, _Call):
        return {node.name}.union(*(_py_classes(v) for _, v in node.kwargs))
    if isinstance(node, _Dict):
        return set().union(*(_py_classes(v) for _, v in node.items))
    if isinstance(node, _Tuple):
        return set().union(*(_py_classes(v) for v in node.items))
    return set()


def _py_variables(project: ImportedProject) -> _Dict:
    return _Dict(
        tuple(
            (
                var.name,
                _Call(
                    "Variable",
                    ((("default", template_text(var.default)),) if var.default is not None else ())
                    + ((("description", var.description),) if var.description else ())
                    + ((("frozen", True),) if var.frozen else ()),
                ),
            )
            for var in project.variables
        )
    )


def _py_target_attributes(
    name: str, attributes: Any, live: LiveForm | None
) -> tuple[tuple[str, Any], ...]:
    """A target's keywords; with `live`, the attributes (and map entries) bake computes as Python code."""
    values = live.values.get(name, {}) if live else {}
    pinned = live.pinned.get(name, {}) if live else {}
    entries = live.entries.get(name, {}) if live else {}
    out: dict[str, Any] = {}
    for key, value in {**attributes, **pinned}.items():
        out[key] = _py_attribute(key, value)
    for key, code in values.items():
        out[key] = code
    for key, codes in entries.items():
        node = out.get(key)
        items = dict(node.items) if isinstance(node, _Dict) else {}
        for entry, code in codes.items():
            items[entry] = code
        out[key] = _Dict(tuple(sorted(items.items())))
    return tuple((key.replace("-", "_"), node) for key, node in out.items())


def _py_project(project: ImportedProject, live: LiveForm | None = None) -> _Call:
    variables = _py_variables(project)
    targets = tuple(
        (target.name, _Call("Target", _py_target_attributes(target.name, target.attributes, live)))
        for target in project.targets
    )
    groups = tuple(
        (
            group.name,
            _Call(
                "Group",
                (("targets", _Tuple(group.targets)),)
                + ((("description", group.description),) if group.description else ()),
            ),
        )
        for group in project.groups
    )
    kwargs: list[tuple[str, Any]] = []
    if live is not None:
        from bakepy.bake.importer.hclpython import Code

        kwargs.append(("variables", Code("variables")))
    elif variables.items:
        kwargs.append(("variables", variables))
    kwargs += [
        (key, _Dict(items)) for key, items in (("targets", targets), ("groups", groups)) if items
    ]
    return _Call("Project", tuple(kwargs))


def _read_sources(project: ImportedProject) -> dict[str, str]:
    """The bake files the import read, again, from the directory it ran in (where bake ran too)."""
    from pathlib import Path

    texts: dict[str, str] = {}
    for name in project.sources:
        try:
            texts[name] = Path(name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
    return texts


def live_project(
    project: ImportedProject, texts: dict[str, str] | None = None
) -> tuple[ImportedProject, LiveForm | None]:
    """`project` as the Python form writes it: the variables it keeps live (`hcllive`) no longer frozen nor
    noted, the variables their code reads declared; and the code. `texts` are the bake files (name → text;
    None: read `project.sources` from the current directory, where the import ran)."""
    if not any(v.frozen for v in project.variables):
        return project, None
    from bakepy.bake.importer.hcllive import live_form

    form = live_form(project, _read_sources(project) if texts is None else texts)
    if form is None:
        return project, None
    live = set(form.live)
    variables = [
        ImportedVariable(v.name, v.default, v.description, frozen=v.frozen and v.name not in live)
        for v in project.variables
    ]
    variables += [ImportedVariable(name, default) for name, default in form.added]
    notes = tuple(
        n
        for n in project.notes
        if n.where.removeprefix("variable.") not in live or "." not in n.where
    )
    return (
        replace(project, variables=tuple(sorted(variables, key=lambda v: v.name)), notes=notes),
        form,
    )


def _def_lines(name: str, params: Sequence[str]) -> list[str]:
    """`def name(params) -> Any:` as ruff writes it: on one line, else the parameters on one line of their
    own, else one a line."""
    one = f"def {name}({', '.join(params)}) -> Any:"
    if _width(one) <= LINE_LENGTH:
        return [one]
    if _width(f"    {', '.join(params)}") <= LINE_LENGTH:
        return [f"def {name}(", f"    {', '.join(params)}", ") -> Any:"]
    return [f"def {name}(", *(f"    {p}," for p in params), ") -> Any:"]


def _live_lines(form: LiveForm, defaulted: set[str]) -> list[str]:
    """The module's code between the variables and the project: the values read, the functions, the
    top-level attributes."""
    lines = [
        "",
        "# Each variable's value as bakepy sees it (the environment or --var, else its default).",
        "value = variable_values(variables)",
    ]
    for python, variable, parse in form.reads:
        read = f"value[{py_string(variable)}]"
        if parse:
            read = f"{parse}({read})"
        elif (
            variable in defaulted
        ):  # never None, which `mypy --strict` cannot know (variable_values)
            read += ' or ""'
        lines.append(f"{python} = {read}")
    for fn in form.functions:
        # Typed Any, as bake's values are (bakepy.bakefuncs): the module passes `mypy --strict` and pyright's
        # strict mode; the variadic parameter, a tuple, is read as the list bake makes of it.
        params = [f"{p}: Any" for p in fn.params]
        params += [f"*{fn.variadic}_: Any"] if fn.variadic else []
        lines += ["", "", *_def_lines(fn.name, params)]
        lines.append(f'    """bake\'s function "{fn.hcl_name}"."""')
        if fn.variadic:
            lines.append(f"    {fn.variadic} = list({fn.variadic}_)")
        lines += _code_lines(fn.result, 4, "return ", "")
    if form.functions and form.attributes:
        lines += ["", ""]
    for name, code in form.attributes:
        lines += _code_lines(code, 0, f"{name} = ", "")
    return lines


def to_python(
    project: ImportedProject, *, module: str = "bakepy", texts: dict[str, str] | None = None
) -> str:
    """A bakefile.py for `project` (step 3): the model built with the public API, `ruff format` clean; the
    variables bake computes with kept live as Python where `hcllive` can (`texts`: see `live_project`)."""
    return python_form(project, module=module, texts=texts)[0]


def python_form(
    project: ImportedProject, *, module: str = "bakepy", texts: dict[str, str] | None = None
) -> tuple[str, ImportedProject]:
    """`to_python`'s text, and the project it wrote: its notes are what the user is warned of (a variable kept
    live is not frozen, and not noted). A translation of the HCL file itself (`hclwhole`) where it is proven;
    else the printed import, its variables kept live where `hcllive` can."""
    sources = _read_sources(project) if texts is None else texts
    frozen = any(v.frozen for v in project.variables)
    if sources and (frozen or any("timestamp()" in n.message for n in project.notes)):
        from bakepy.bake.importer.hclwhole import whole_form

        whole = whole_form(project, sources, module=module)
        if whole is not None:
            return whole
    project, live = live_project(project, sources)  # the files read once, for either form
    # Only what the reader must act on, as `#` comments (the TOML form's header): none at all when there is
    # nothing, since where the file came from is its history's to say (issue 24: at most 1.5x the lines).
    lines = header_comment(project, "bakepy import --python")
    for target in project.targets:
        for key, value in target.unsupported.items():
            lines += _comment_lines(
                f"not imported: target {target.name}: {key} = {json.dumps(value)}"
            )
    used: set[str] = set()  # the module's names a hoisted list must not take
    if live is not None:
        used = {python for python, _, _ in live.reads} | {n for n, _ in live.attributes}
        used |= {fn.name for fn in live.functions}
    tree, constants = _hoisted(_py_project(project, live), used)
    # isort (ruff's I001) puts CONSTANT_CASE names (SSH) before CamelCase ones.
    names = _py_classes(tree) | ({"Variable", "variable_values"} if live else set())
    classes = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    if live is not None and live.functions:  # isort: the standard library first, then a blank line
        lines += ["from typing import Any", ""]
    lines += _import_lines(module, classes)
    if live is not None and live.imports:
        lines += _import_lines(f"{module}.bakefuncs", sorted(live.imports))
    lines.append("")
    if live is not None:
        lines += _py_lines(_py_variables(project), 0, "variables = ", "")
        lines += _live_lines(live, {v.name for v in project.variables if v.default is not None})
        lines += ["", ""]
    if constants:  # one block: ruff honours `# fmt: off` and `# fmt: on` around whole statements
        lines += ["# fmt: off", *constants, "# fmt: on", ""]
    lines += _py_lines(tree, 0, "project = ", "")
    return "\n".join(lines) + "\n", project


#: Where a target's keywords are written in the project (`targets={` at 4, `"name": Target(` at 8), and a
#: matrix's keys within them.
_KEYWORD_INDENT = 12
_MATRIX_KEY_INDENT = 16
#: The lines the block of hoisted lists costs besides them: `# fmt: off`, `# fmt: on` and a blank line.
_BLOCK_COST = 3


@dataclass
class _Hoist:
    """A list the project could name instead of writing it in place."""

    name: str
    items: tuple[str, ...]  # each item as Python
    in_place: int  # the lines it takes in place (with the lines around it that a name would fold)
    packed: bool  # several items a line (text), or one a line (matrix rows)
    needed: bool = False  # rows that do not fit on a line: hoisted whatever it costs
    shared: _Hoist | None = None  # the same list, hoisted once for an earlier target

    def lines(self) -> list[str]:
        """The statement: on one line if it fits, else the items under its opening bracket (PEP 8's aligned
        form) where that takes fewer lines, else from the next line on, four spaces in."""
        one = f"{self.name} = ({', '.join(self.items)}{',' * (len(self.items) == 1)})"
        if _width(one) <= LINE_LENGTH:
            return [one]
        opening = f"{self.name} = ("
        indented = [opening, *self._filled("    ", "    ", ","), ")"]
        end = ",)" if len(self.items) == 1 else ")"
        aligned = self._filled(opening, " " * len(opening), end)
        if len(aligned) < len(indented) and all(_width(line) <= LINE_LENGTH for line in aligned):
            return aligned
        return indented

    def _filled(self, first: str, indent: str, end: str) -> list[str]:
        """The items from `first` on, each further line at `indent`: as many a line as fit when packed, else
        one a line; `end` after the last."""
        lines: list[str] = []
        line, empty = first, True
        for i, item in enumerate(self.items):
            text = item + (end if i == len(self.items) - 1 else ",")
            if not empty and (not self.packed or _width(line) + 1 + _width(text) > LINE_LENGTH):
                lines.append(line)
                line, empty = indent, True
            line += text if empty else f" {text}"
            empty = False
        return [*lines, line]

    def saving(self) -> int:
        """The lines saved by naming it (its line in the project stays)."""
        return self.in_place - 1 - (0 if self.shared else len(self.lines()))


def _hoisted(tree: _Call, used: set[str]) -> tuple[_Call, list[str]]:
    """`tree` with long lists ruff would write an item (or a key) a line named instead, and the statements
    defining them, which the module writes between `# fmt: off` and `# fmt: on` (ruff honours these around
    whole statements only): a matrix's rows that do not fit on a line each, one row a line (cloudnative-pg's
    8-key rows: 620 lines to 246), and any matrix's rows or list of text where naming it saves lines, text
    packed several items a line (a group of 54 members; the same list on several targets is named once). None
    at all when that saves no more than the block costs."""
    hoists: dict[tuple[str, str, str], _Hoist] = {}  # (target, matrix or group, key): its list
    by_items: dict[tuple[str, ...], _Hoist] = {}
    names = set(used)

    def name_for(*parts: str) -> str:
        name = re.sub(r"\W+", "_", "_".join(parts)).strip("_").upper() or "LIST"
        if name[0].isdigit() or name in names:
            name = f"{parts[-1].upper()}_{name}"
        while name in names:
            name += "_"
        names.add(name)
        return name

    def consider(
        where: tuple[str, str, str], value: Any, indent: int, prefix: str, around: int
    ) -> None:
        """`value` at `indent` after `prefix`; `around`: the lines about it that a name folds onto one (a
        group's `Group(` and `)`, a matrix of one key's `matrix={` and `}`)."""
        if not isinstance(value, _Tuple) or not value.items:
            return
        text = all(isinstance(v, str) for v in value.items)
        if not text and not all(isinstance(v, _Dict) for v in value.items):
            return
        in_place = len(_py_lines(value, indent, prefix, ","))
        if in_place == 1:
            return
        items = tuple(_py_inline(v) for v in value.items)
        needed = not text and any(indent + 4 + _width(i) + 1 > LINE_LENGTH for i in items)
        hoist = _Hoist(name_for(where[0], where[2]), items, in_place + around, text, needed)
        if text and items in by_items:
            hoist.shared = by_items[items]
        elif text:
            by_items[items] = hoist
        hoists[where] = hoist

    targets = dict(tree.kwargs).get("targets")
    groups = dict(tree.kwargs).get("groups")
    for name, call in targets.items if isinstance(targets, _Dict) else ():
        for key, value in call.kwargs if isinstance(call, _Call) else ():
            if key == "matrix" and isinstance(value, _Dict):
                one = 2 if len(value.items) == 1 else 0
                for k, v in value.items:
                    consider((name, "matrix", k), v, _MATRIX_KEY_INDENT, f"{py_string(k)}: ", one)
            elif key in ("platforms", "tags"):
                consider((name, "", key), value, _KEYWORD_INDENT, f"{key}=", 0)
    for name, call in groups.items if isinstance(groups, _Dict) else ():
        for key, value in call.kwargs if isinstance(call, _Call) else ():
            if key == "targets":
                consider((name, "group", key), value, _KEYWORD_INDENT, "targets=", 2)

    # Name what saves lines (a shared list: where its first use does), then only if that beats the block.
    chosen = {w: h for w, h in hoists.items() if h.needed or (h.shared or h).saving() > 0}
    if (
        not any(h.needed for h in chosen.values())
        and sum(h.saving() for h in chosen.values()) <= _BLOCK_COST
    ):
        chosen = {}
    statements = [
        line
        for h in chosen.values()
        if h.shared is None or h.shared not in chosen.values()
        for line in h.lines()
    ]

    def named(where: tuple[str, str, str], value: Any) -> Any:
        hoist = chosen.get(where)
        if hoist is None:
            return value
        first = (
            hoist.shared if hoist.shared is not None and hoist.shared in chosen.values() else hoist
        )
        return _Name(first.name)

    def entry(group: bool, name: str, call: Any) -> Any:
        if not isinstance(call, _Call):
            return call
        kwargs = []
        for key, value in call.kwargs:
            if group:
                value = named((name, "group", key), value)
            elif key == "matrix" and isinstance(value, _Dict):
                value = _Dict(tuple((k, named((name, "matrix", k), v)) for k, v in value.items))
            else:
                value = named((name, "", key), value)
            kwargs.append((key, value))
        return replace(call, kwargs=tuple(kwargs))

    kwargs = tuple(
        (k, _Dict(tuple((n, entry(k == "groups", n, c)) for n, c in v.items)))
        if isinstance(v, _Dict) and k in ("targets", "groups")
        else (k, v)
        for k, v in tree.kwargs
    )
    return replace(tree, kwargs=kwargs), statements


def _import_lines(module: str, names: Sequence[str]) -> list[str]:
    one_line = f"from {module} import {', '.join(names)}"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    return [f"from {module} import (", *(f"    {c}," for c in names), ")"]
