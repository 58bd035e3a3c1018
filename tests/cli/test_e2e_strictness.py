"""CI strictness of the e2e suite (tests/e2e/conftest.py): with CI=true a skipped e2e test is a failure, so a CI
run that could not reach the stack never passes; elsewhere it stays a skip. Checked by running pytest on a copy of
the real conftest (and tests/stack.py, which it imports) with one e2e test that skips and one that passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    e2e = tmp_path / "tests" / "e2e"
    e2e.mkdir(parents=True)
    shutil.copy2(TESTS / "e2e" / "conftest.py", e2e / "conftest.py")
    shutil.copy2(TESTS / "stack.py", tmp_path / "tests" / "stack.py")
    (e2e / "test_strict_probe.py").write_text(
        "import pytest\n\n"
        "def test_skips() -> None:\n    pytest.skip('no stack here')\n\n"
        "def test_passes() -> None:\n    pass\n\n"
        "@pytest.mark.xfail(reason='expected')\ndef test_xfails() -> None:\n    raise AssertionError\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--rootdir", str(tmp_path), str(e2e)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_in_ci_a_skipped_e2e_test_fails_the_run(tmp_path: Path) -> None:
    run = _run(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "e2e test skipped in CI (CI=true), which counts as a failure" in run.stdout
    assert "1 failed, 1 passed, 1 xfailed" in run.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_it_stays_a_skip(tmp_path: Path, ci: str | None) -> None:
    run = _run(tmp_path, ci)
    assert run.returncode == 0, run.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in run.stdout
