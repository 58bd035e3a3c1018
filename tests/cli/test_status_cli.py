"""`bakepy status` through typer's CliRunner, the registry replaced by a table of what each reference holds:
drift between registries is its own state (exit 5), the tags of a git context are those `plan` shows, and no
reference in its table (nor in `plan`'s) is ever cut at 80 or 100 columns.

The same drift, made through the registry HTTP API on the real stack, is tests/e2e/test_assemble.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app
from bakepy.publish import status as status_module
from bakepy.publish.index import ImageIndex, ManifestEntry

cli = CliRunner()
R1 = "127.0.0.1:5000/acme"
R2 = "registry.example.com:5443/acme-corporation"
IMAGE = "multi-py311-a-rather-long-service-name"
SHA = "c" * 40
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_IMAGE = "application/vnd.oci.image.manifest.v1+json"

PROJECT = f"""\
[project]
registries = ["{R1}", "{R2}"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["latest", "1.0"]

[target.app]
image = "{IMAGE}"
"""


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def index(n: int, images: dict[str, int]) -> ImageIndex:
    manifests = tuple(ManifestEntry(digest(d), OCI_IMAGE, 500, p) for p, d in images.items())
    return ImageIndex(digest(n), OCI_INDEX, manifests)


BUILT = {"linux/amd64": 1, "linux/arm64": 2}
EVERY = [f"{r}/{IMAGE}:{t}" for r in (R1, R2) for t in ("latest", "1.0")]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ImageIndex]:
    """What each reference holds (all four tags: one complete index); edit it in a test."""
    held = {ref: index(9, BUILT) for ref in EVERY}

    def inspect_many(runner: Any, refs: list[str]) -> dict[str, ImageIndex | None]:
        return {ref: held.get(ref) for ref in refs}

    monkeypatch.setattr(status_module, "inspect_many", inspect_many)
    (tmp_path / "bakepy.toml").write_text(PROJECT)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAKEPY_REVISION", SHA)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    return held


def states(result: Any) -> dict[str, str]:
    return {row["tag"]: row["state"] for row in json.loads(result.stdout)}


def test_every_tag_complete_and_alike_is_exit_0(registry: dict[str, ImageIndex]) -> None:
    result = cli.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert set(states(result).values()) == {"complete"}


def test_latest_on_another_complete_index_in_one_registry_is_drift(
    registry: dict[str, ImageIndex],
) -> None:
    moved = f"{R2}/{IMAGE}:latest"
    registry[moved] = index(8, {"linux/amd64": 3, "linux/arm64": 4})  # complete, but other images
    result = cli.invoke(app, ["status", "--json"])
    assert result.exit_code == 5
    assert states(result) == {
        f"{R1}/{IMAGE}:latest": "drift",
        f"{R1}/{IMAGE}:1.0": "complete",
        f"{R2}/{IMAGE}:latest": "drift",
        f"{R2}/{IMAGE}:1.0": "complete",
    }
    rows = {row["tag"]: row for row in json.loads(result.stdout)}
    assert rows[moved]["drift"] == [f"{R1}/{IMAGE}:latest"]
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == [
        f"error: 2 tag(s) not complete: {R1}/{IMAGE}:latest (drift: {moved} holds another index), "
        f"{moved} (drift: {R1}/{IMAGE}:latest holds another index)"
    ]
    assert "one index under a tag in every registry" in result.stderr


def test_the_same_images_under_another_index_digest_are_no_drift(
    registry: dict[str, ImageIndex],
) -> None:
    """An index re-serialised by another tool: another digest, the same image for every platform."""
    registry[f"{R2}/{IMAGE}:latest"] = index(7, BUILT)
    result = cli.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output


def test_an_incomplete_copy_is_incomplete_and_makes_no_drift(
    registry: dict[str, ImageIndex],
) -> None:
    registry[f"{R2}/{IMAGE}:latest"] = index(6, {"linux/amd64": 1})  # a one-platform push over it
    result = cli.invoke(app, ["status", "--json"])
    assert result.exit_code == 5
    assert states(result)[f"{R2}/{IMAGE}:latest"] == "incomplete"
    assert states(result)[f"{R1}/{IMAGE}:latest"] == "complete"


def test_status_takes_plans_context_var_and_metadata_bake(
    registry: dict[str, ImageIndex], tmp_path: Path
) -> None:
    """Tags from git: without --context (no git here) the target would publish nowhere; status reads the
    context as plan does."""
    (tmp_path / "bakepy.toml").write_text(
        PROJECT.replace('tags = ["latest", "1.0"]\n', "")
        + '\n[project.metadata]\ntags = ["type=ref,event=branch"]\n'
        + '\n[variable.SUFFIX]\ndefault = ""\n'
    )
    main = [f"{r}/{IMAGE}:main" for r in (R1, R2)]
    registry.update({ref: index(9, BUILT) for ref in main})
    result = cli.invoke(app, ["status", "--json", "--context", "branch=main", "--var", "SUFFIX=x"])
    assert result.exit_code == 0, result.output
    assert sorted(states(result)) == sorted(main)

    # tags from metadata-action's bake file, merged into the target the others inherit
    (tmp_path / "bakepy.toml").write_text(
        '[project]\nplatforms = ["linux/amd64", "linux/arm64"]\n\n[target.docker-metadata-action]\n\n'
        '[target.app]\ninherits = ["docker-metadata-action"]\n\n[group.default]\ntargets = ["app"]\n'
    )
    nowhere = cli.invoke(app, ["status"])
    assert nowhere.exit_code == 2 and "publishes nowhere" in nowhere.stderr
    overlay = tmp_path / "meta.json"
    overlay.write_text(
        json.dumps({"target": {"docker-metadata-action": {"tags": [f"{R1}/{IMAGE}:main"]}}})
    )
    result = cli.invoke(app, ["status", "--json", "--metadata-bake", str(overlay)])
    assert result.exit_code == 0, result.output
    assert states(result) == {f"{R1}/{IMAGE}:main": "complete"}


# -- tables: no reference is ever cut -------------------------------------------------------------------
@pytest.mark.parametrize("columns", ["80", "100"])
def test_no_reference_in_the_status_table_is_cut(
    registry: dict[str, ImageIndex], columns: str
) -> None:
    registry[f"{R2}/{IMAGE}:latest"] = index(8, {"linux/amd64": 3, "linux/arm64": 4})
    result = cli.invoke(app, ["status"], env={"COLUMNS": columns})
    assert result.exit_code == 5
    lines = result.stdout.splitlines()
    # the other cells fit; a reference longer than the terminal is one line all the same (soft-wrapped)
    assert all(len(line) <= int(columns) for line in lines if IMAGE not in line), result.stdout
    for ref in EVERY:
        assert any(ref in line for line in lines), (
            f"{ref} is cut at {columns} columns:\n{result.stdout}"
        )
    assert "drift" in result.stdout and "complete" in result.stdout


@pytest.mark.parametrize("columns", ["80", "100"])
def test_no_reference_in_the_plan_table_is_cut(
    registry: dict[str, ImageIndex], columns: str
) -> None:
    result = cli.invoke(app, ["plan"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    table, _ = result.stdout.split("Commands:")  # the commands name the references too
    lines = table.splitlines()
    assert all(len(line) <= int(columns) for line in lines if IMAGE not in line), table
    for ref in EVERY:
        assert any(ref in line for line in lines), (
            f"{ref} is cut at {columns} columns:\n{result.stdout}"
        )


def test_a_wide_terminal_keeps_the_table(registry: dict[str, ImageIndex]) -> None:
    result = cli.invoke(app, ["status"], env={"COLUMNS": "200"})
    lines = result.stdout.splitlines()
    assert any(line.startswith("┃ tag") for line in lines), result.stdout
    for ref in EVERY:
        assert any(f"│ {ref}" in line for line in lines)
