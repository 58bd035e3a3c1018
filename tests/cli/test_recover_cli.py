"""`bakepy recover` through typer's CliRunner: nothing to do, a bad journal (one line, exit 2, no traceback),
and a killed run's journal finished against an in-memory registry (the e2e cases are
tests/e2e/test_nothing_lost.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bakepy.cli.recover  # noqa: F401  (registers the command)
from bakepy.cli.app import app
from bakepy.engine import registry
from bakepy.publish import journal
from bakepy.publish.index import ImageIndex

cli = CliRunner()
REPO = "127.0.0.1:5000/app"
OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_nothing_to_recover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["recover"])
    assert result.exit_code == 0, result.output
    assert "nothing to recover: no unfinished run in" in result.output


def test_a_journal_that_is_not_one_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / ".bakepy" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / journal.JOURNAL).write_text("{not json")
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["recover"])
    assert result.exit_code == 2, result.output
    assert "is not a journal bakepy wrote" in result.output
    assert "Traceback" not in result.output


def test_a_killed_runs_moves_are_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / ".bakepy" / "runs" / "r1"
    run.mkdir(parents=True)
    tag, later = f"{REPO}:1.0", f"{REPO}:latest"
    moves = [journal.Move(tag, REPO, NEW, OLD), journal.Move(later, REPO, NEW, OLD)]
    live = journal.Journal.begin(run, moves)
    live.mark(tag, "sending", OLD)  # killed before `latest` was written
    live.release()
    tags = {tag: NEW, later: OLD}
    old = ImageIndex(OLD, "application/vnd.oci.image.index.v1+json", (), raw=b"{}")
    monkeypatch.setenv("BAKEPY_REGISTRY_TIMEOUT", "2")
    monkeypatch.setattr(registry, "head_digest", lambda ref, **kw: tags.get(ref))
    monkeypatch.setattr(registry, "read", lambda ref, **kw: old)
    monkeypatch.setattr(registry, "put_tag", lambda ref, body, mt, **kw: tags.__setitem__(ref, OLD))
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["recover", "--json"])
    assert result.exit_code == 0, result.output
    (done,) = json.loads(result.stdout)["runs"]
    assert done["clean"] and not done["committed"]
    assert "put back 1 tag(s)" in done["said"]
    assert tags == {tag: OLD, later: OLD}
    assert not (run / journal.JOURNAL).exists()
