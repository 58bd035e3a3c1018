"""Import step 3 (pure), shared by both writers: text escaping, templates, the header comment and the notes."""

from bakepy.bake.importer.imported import ImportedProject, Template

# -- step 3: write (pure) ----------------------------------------------------------------------------------

LINE_LENGTH = 100


def escape_text(value: str) -> str:
    """A literal string as bakepy text: `${` is written `$${` and `%{` is written `%%{` (as in bake), since
    bakepy interpolates `${NAME}` in bakepy.toml and in the strings a bakefile.py passes to the model."""
    return value.replace("${", "$${").replace("%{", "%%{")


def template_text(value: str | Template) -> str:
    """A value as bakepy text: literal parts escaped, variable references as `${NAME}`."""
    if isinstance(value, str):
        return escape_text(value)
    return "".join(escape_text(p) if isinstance(p, str) else f"${{{p.name}}}" for p in value.parts)


def _comment_lines(text: str, *, prefix: str = "# ", width: int = LINE_LENGTH) -> list[str]:
    """`text` as comment lines of at most `width` characters (words longer than a line are kept whole)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(prefix) + len(line) + 1 + len(word) > width:
            lines.append(prefix + line)
            line = "  " + word if prefix.strip() else word
            continue
        line = f"{line} {word}" if line else word
    lines.append((prefix + line).rstrip())
    return lines


def _summary(project: ImportedProject, command: str) -> list[str]:
    sources = ", ".join(project.sources) or "the bake files of the current directory"
    # Only what the reader must act on: how the import reads bake files is docs/import.md's to say.
    return [
        f"Imported by `{command}` from {sources}: bake prints the same for it (docs/import.md).",
        *project.remarks,
    ]


def _notes_block(project: ImportedProject, prefix: str = "# ") -> list[str]:
    if not project.notes:
        return []
    lines = [f"{prefix}Frozen or not carried over (also printed as warnings):".rstrip()]
    for note in project.notes:
        lines += _comment_lines(f"- {note}", prefix=prefix)
    return lines
