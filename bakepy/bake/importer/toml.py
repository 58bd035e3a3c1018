"""Import step 3 (pure): an `ImportedProject` as bakepy.toml text, deterministic, with the notes as comments."""

import json
import re
from collections.abc import Mapping, Sequence

from bakepy.bake.importer.imported import ImportedProject, Template, Value
from bakepy.bake.importer.text import LINE_LENGTH, _comment_lines, header_comment, template_text

# TOML ------------------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's; DEL and C1 controls must be escaped too."""
    out = json.dumps(text, ensure_ascii=False)
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group(0)):04x}", out)


def _toml_block(text: str) -> str | None:
    """A multi-line literal string (for Dockerfiles), when `text` can be written as one exactly."""
    if (
        "\n" not in text
        or "'''" in text
        or text.endswith("'")
        or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    ):
        return None
    return "'''\n" + text + "'''"  # TOML drops the newline right after the opening '''


def _toml_inline(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str | Template):
        return toml_string(template_text(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    if not value:
        return "{}"
    return "{ " + ", ".join(f"{toml_key(k)} = {_toml_inline(v)}" for k, v in value.items()) + " }"


def _toml_pair(key: str, value: Value) -> list[str] | None:
    """`key = value` on one line if it fits, a list over several lines, or None for a long table."""
    inline = f"{toml_key(key)} = {_toml_inline(value)}"
    if isinstance(value, str | Template) and key == "dockerfile-inline":
        block = _toml_block(template_text(value))
        if block is not None:
            return [f"{toml_key(key)} = {block}"]
    if len(inline) <= LINE_LENGTH:
        return [inline]
    if isinstance(value, list) and all(isinstance(v, str | Template) for v in value):
        return _packed(key, value)
    if isinstance(value, list):
        return [f"{toml_key(key)} = [", *(f"  {_toml_inline(v)}," for v in value), "]"]
    if isinstance(value, dict):
        return None  # TOML 1.0 inline tables are one line: the caller writes a sub-table
    return [inline]


def to_toml(project: ImportedProject) -> str:
    """bakepy.toml text for `project` (step 3): deterministic, every note as a comment."""
    lines = header_comment(project, "bakepy import")
    for var in project.variables:
        lines += ["", f"[variable.{toml_key(var.name)}]"]
        if var.default is not None:
            lines.append(f"default = {toml_string(template_text(var.default))}")
        if var.description:
            lines.append(f"description = {toml_string(var.description)}")
        if var.frozen:
            lines.append("frozen = true")
    for target in project.targets:
        table = f"target.{toml_key(target.name)}"
        lines += ["", f"[{table}]"]
        for key, unsupported in target.unsupported.items():
            lines += _comment_lines(f"not imported: {key} = {json.dumps(unsupported)}")
        subtables: list[tuple[str, Mapping[str, Value]]] = []
        for key, value in target.attributes.items():
            pair = _toml_pair(key, value)
            if pair is None:
                assert isinstance(value, dict)
                subtables.append((key, value))
            else:
                lines += pair
        for key, mapping in subtables:
            lines += ["", f"[{table}.{toml_key(key)}]"]
            lines += [line for k, v in mapping.items() for line in (_toml_pair(k, v) or [])]
    for group in project.groups:
        lines += ["", f"[group.{toml_key(group.name)}]"]
        # bakepy takes group (and variable) descriptions literally: no escaping.
        if group.description:
            lines.append(f"description = {toml_string(group.description)}")
        lines += _packed("targets", list(group.targets))
    if lines and not lines[0]:
        del lines[0]  # no header: the file starts with its first table
    return "\n".join(lines) + "\n"


def _packed(key: str, items: Sequence[Value]) -> list[str]:
    """`key = [...]` on one line if it fits, else as many items a line as fit: a matrix's 54 members, or a
    dozen platforms, are a paragraph, not a line each (a list of tables keeps one entry a line)."""
    one = f"{toml_key(key)} = {_toml_inline(list(items))}"
    if len(one) <= LINE_LENGTH:
        return [one]
    lines = [f"{toml_key(key)} = ["]
    line = " "
    for value in items:
        item = f" {_toml_inline(value)},"
        if len(line) + len(item) > LINE_LENGTH and line.strip():
            lines.append(line)
            line = " "
        line += item
    if line.strip():
        lines.append(line)
    return [*lines, "]"]
