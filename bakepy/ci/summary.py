"""The markdown summary a build or merge writes for the CI's job page (GitHub's step summary)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


# -- the job summary ------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def summary_markdown(
    published: Iterable[Any], missing: Sequence[Any] = (), title: str = "published"
) -> str:
    """A markdown table of what was published (for `$GITHUB_STEP_SUMMARY`), and what is missing."""
    rows = [
        f"### bakepy: {title}",
        "",
        "| target | registry | tags | index digest | platforms |",
        "|---|---|---|---|---|",
    ]
    for p in published:
        target, registry, tags, digest, platforms = p.summary_cells()
        cells = (target, registry, ", ".join(tags), f"`{digest}`", ", ".join(platforms))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if missing:
        rows += [
            "",
            "**Missing** (published without them, `--allow-partial`): "
            + ", ".join(f"{m.target} {m.platform}" for m in missing),
        ]
    return "\n".join(rows) + "\n"


def build_summary_markdown(platform: str, records: Iterable[Any]) -> str:
    """A markdown table of what one platform build pushed by digest."""
    rows = [
        f"### bakepy: built {platform} by digest",
        "",
        "| target | platform | image digest | pushed to |",
        "|---|---|---|---|",
    ]
    for r in records:
        rows.append(
            f"| {_cell(r.target)} | {_cell(r.platform)} | `{r.digest[:19]}…` | "
            f"{_cell(', '.join(r.repositories))} |"
        )
    return "\n".join(rows) + "\n"
