"""metadata-action's documented examples (tests/fixtures/tagging/metadata-action.toml), loaded for the unit
and git suites: each (case, run) with the `MetadataSettings` it describes and the tags it expects."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CASES_FILE = Path(__file__).parent / "fixtures" / "tagging" / "metadata-action.toml"
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
DEFAULT_BRANCH = "master"


@dataclass(frozen=True)
class Run:
    doc: str
    settings: dict[str, Any]
    event: str
    value: str
    tags: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.doc} @ {self.event}:{self.value}"

    def expected(self, sha: str = SHA) -> list[str]:
        return [t.replace("{sha_long}", sha).replace("{sha}", sha[:7]) for t in self.tags]


def runs() -> list[Run]:
    data = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))
    out = []
    for case in data["case"]:
        settings = {k: v for k, v in case.items() if k not in ("doc", "rules", "runs")}
        if "rules" in case:  # none: no tags input, so metadata-action's default rules
            settings["tags"] = case["rules"]
        for run in case["runs"]:
            event, _, value = run["context"].partition(":")
            out.append(Run(case["doc"], settings, event, value, tuple(run["tags"])))
    return out
