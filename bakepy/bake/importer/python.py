"""Import step 3 (pure): an `ImportedProject` as a `bakefile.py`, written the way `ruff format` would write it."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bakepy.bake.importer.imported import ImportedProject, Template, Value
from bakepy.bake.importer.text import (
    LINE_LENGTH,
    _comment_lines,
    _notes_block,
    _summary,
    template_text,
)
from bakepy.model.attributes import ATTEST_KEYS, CACHE_KEYS, OUTPUT_KEYS

# Python ----------------------------------------------------------------------------------------------------
#
# The module is written the way `ruff format` (and black) would write it, so a project can keep it under
# its formatter unchanged: a call or collection stays on one line when it fits in LINE_LENGTH, otherwise it
# is exploded one item per line with a trailing comma (a "magic" trailing comma keeps it exploded).

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


@dataclass(frozen=True)
class _Call:
    name: str
    kwargs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Dict:
    items: tuple[tuple[str, Any], ...]
    explode: bool = False  # always one entry per line (the project's top-level tables)


@dataclass(frozen=True)
class _Tuple:
    items: tuple[Any, ...]


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
    if isinstance(node, _Call):
        return f"{node.name}(" + ", ".join(f"{k}={_py_inline(v)}" for k, v in node.kwargs) + ")"
    if isinstance(node, _Dict):
        return "{" + ", ".join(f"{py_string(k)}: {_py_inline(v)}" for k, v in node.items) + "}"
    if isinstance(node, _Tuple):
        if len(node.items) == 1:
            return f"({_py_inline(node.items[0])},)"
        return "(" + ", ".join(_py_inline(v) for v in node.items) + ")"
    if isinstance(node, bool):
        return "True" if node else "False"
    if isinstance(node, int | float):
        return repr(node)
    if isinstance(node, str):
        return py_string(node)
    raise TypeError(f"cannot write {node!r} as Python")


def _py_lines(
    node: Any, indent: int, prefix: str, suffix: str, *, explode: bool = False
) -> list[str]:
    """`prefix + node + suffix` at `indent`: one line if it fits (and need not explode), else exploded."""
    pad = " " * indent
    inline = f"{pad}{prefix}{_py_inline(node)}{suffix}"
    items: Sequence[Any]
    if isinstance(node, _Call):
        opening, closing, items = f"{node.name}(", ")", node.kwargs
    elif isinstance(node, _Dict):
        opening, closing, items = "{", "}", node.items
    elif isinstance(node, _Tuple):
        opening, closing, items = "(", ")", node.items
    else:
        return [inline]
    explode = explode or (isinstance(node, _Dict) and node.explode)
    if not items or (not explode and _width(inline) <= LINE_LENGTH):
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


def _py_project(project: ImportedProject) -> _Call:
    variables = tuple(
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
    targets = tuple(
        (
            target.name,
            _Call(
                "Target",
                tuple(
                    (key.replace("-", "_"), _py_attribute(key, value))
                    for key, value in target.attributes.items()
                ),
            ),
        )
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
    kwargs = [
        (key, _Dict(items, explode=True))
        for key, items in (("variables", variables), ("targets", targets), ("groups", groups))
        if items
    ]
    return _Call("Project", tuple(kwargs))


def to_python(project: ImportedProject, *, module: str = "bakepy") -> str:
    """A bakefile.py for `project` (step 3): the model built with the public API, `ruff format` clean."""
    doc = ["bakepy project, the Python form of a bakepy.toml.", ""]
    for paragraph in _summary(project, "bakepy import --python"):
        safe = paragraph.replace("\\", "\\\\").replace('"""', '\\"""')
        doc += _comment_lines(safe, prefix="")
    lines = ['"""' + doc[0], *doc[1:], '"""', ""]
    tree = _py_project(project)
    # isort (ruff's I001) puts CONSTANT_CASE names (SSH) before CamelCase ones.
    classes = sorted(_py_classes(tree), key=lambda n: (not n.isupper(), n))
    one_line = f"from {module} import {', '.join(classes)}"
    if len(one_line) <= LINE_LENGTH:
        lines.append(one_line)
    else:
        lines += [f"from {module} import (", *(f"    {c}," for c in classes), ")"]
    lines.append("")
    comments = _notes_block(project)
    for target in project.targets:
        for key, value in target.unsupported.items():
            comments += _comment_lines(
                f"not imported: target {target.name}: {key} = {json.dumps(value)}"
            )
    lines += [*comments, ""] if comments else []
    lines += _py_lines(tree, 0, "project = ", "", explode=True)
    return "\n".join(lines) + "\n"
