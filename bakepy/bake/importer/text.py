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
    """The paragraphs of the Python form's docstring: where the project came from, then the remarks."""
    sources = ", ".join(project.sources) or "the bake files of the current directory"
    # Only what the reader must act on: how the import reads bake files is docs/import.md's to say.
    return [
        f"Imported by `{command}` from {sources}: bake prints the same for it (docs/import.md).",
        *project.remarks,
    ]


def grouped_notes(project: ImportedProject) -> list[str]:
    """The notes as the header lists them: notes that say the same of several variables or values are one
    item naming them all (a file whose 13 variables are null and shape the definition gets one item, not 13;
    the warnings on stderr stay one line each)."""
    by_message: dict[str, list[str]] = {}
    for note in project.notes:
        by_message.setdefault(note.message, []).append(note.where)
    return [f"{', '.join(wheres)}: {message}" for message, wheres in by_message.items()]


def header_comment(project: ImportedProject, command: str, prefix: str = "# ") -> list[str]:
    """The comment a written project starts with, holding only what the reader must act on: the notes (what
    is frozen or not carried over, also printed as warnings), introduced by the command and its sources on
    one line, and the remarks (which private targets were folded, where to run from). Nothing at all when there
    is nothing to act on: where the file came from is its history's to say, and the header of a one-target
    file would double it (issue 24: every import at most 1.5 times the original's lines)."""
    notes = grouped_notes(project)
    if not notes and not project.remarks:
        return []
    sources = ", ".join(project.sources) or "the bake files of the current directory"
    if notes:
        lines = _comment_lines(
            f"`{command}` of {sources} froze or could not carry over:", prefix=prefix
        )
        for note in notes:
            lines += _comment_lines(f"- {note}", prefix=prefix)
    else:
        lines = _comment_lines(f"Imported by `{command}` from {sources}.", prefix=prefix)
    for remark in project.remarks:  # each a sentence of its own, after the items
        lines += _comment_lines(remark, prefix=prefix)
    return lines


def _notes_block(project: ImportedProject, prefix: str = "# ") -> list[str]:
    if not project.notes:
        return []
    lines = [f"{prefix}Frozen or not carried over (also printed as warnings):".rstrip()]
    for note in grouped_notes(project):
        lines += _comment_lines(f"- {note}", prefix=prefix)
    return lines
