"""Tables whose cells hold image references (`bakepy status`, `bakepy plan`): a reference is never cut.

A reference is what people copy and pull, so a table never folds one mid-word (`…/multi-py311:la|test`). The
table is tried at the console's width with its reference column kept whole (rich shrinks the other columns
first); when even then a reference would not fit its cell, the rows are printed stacked instead: each reference
on a line of its own, whole (as the publish summary prints them), and the row's other cells on an indented line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod
    from rich.table import Table

Cell = str | Text


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    reference: int,
    title_justify: JustifyMethod,
) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify=title_justify)
    for i, column in enumerate(columns):
        if i == reference:
            table.add_column(column, no_wrap=True, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    return table


def fits(console: Console, table: Table, references: Sequence[str]) -> bool:
    """Whether `table`, printed at `console`'s width, shows every reference whole on one line and leaves every
    other column at least its longest word (rich would otherwise squeeze them to nothing to keep the
    references)."""
    from rich.console import Console
    from rich.measure import Measurement

    probe = Console(
        width=console.width, file=io.StringIO(), color_system=None, highlight=False, soft_wrap=False
    )
    unbounded = probe.options.update(width=10_000)  # measured as is, not clamped to the terminal
    if Measurement.get(probe, unbounded, table).minimum > console.width:
        return False
    probe.print(table)
    rendered = probe.file.getvalue()  # type: ignore[attr-defined]
    lines = rendered.splitlines()
    return all(any(ref in line for line in lines) for ref in references)


def print_reference_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    reference: int,
    title: str | None = None,
    title_justify: JustifyMethod = "center",
    references_first: bool = True,
) -> None:
    """Print `rows` as a table, or stacked where a reference would not fit its cell.

    Column `reference` holds references (several in one cell, one a line). Stacked, each row is its references
    on lines of their own, whole, and its other cells on an indented line: the references first
    (`references_first`, one reference per row: `status`) or after the cells (several per row: `plan`)."""
    references = [line for row in rows for line in _text(row[reference]).plain.splitlines() if line]
    table = _table(title, columns, rows, reference, title_justify)
    if fits(console, table, references):
        console.print(table)
        return
    if title:
        console.print(
            Text(title, style="italic"), justify=None if title_justify == "left" else title_justify
        )
    others = [i for i in range(len(columns)) if i != reference]
    widths = {i: max((_text(row[i]).cell_len for row in rows), default=0) for i in others}
    for row in rows:
        cells = Text("  " if references_first else "")
        for n, i in enumerate(others):
            cell = _text(row[i]).copy()
            if n < len(others) - 1:
                cell.pad_right(widths[i] - cell.cell_len)
                cell.append("  ")
            cells.append_text(cell)
        cells.rstrip()
        lines = [line for line in _text(row[reference]).plain.splitlines() if line]
        if not references_first and cells.plain.strip():
            console.print(cells)
        for line in lines:
            console.print(line if references_first else "  " + line, soft_wrap=True, markup=False)
        if references_first and cells.plain.strip():
            console.print(cells)
