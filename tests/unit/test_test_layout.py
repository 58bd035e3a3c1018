"""The test tree itself: pytest imports test modules by basename (no packages here), so two test files of one
name in different folders stop the whole run at collection (it happened: tests/unit and tests/e2e both had a
test_changed.py and a test_gc.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "fixtures" not in p.parts)
    assert [n for n, count in names.items() if count > 1] == []
