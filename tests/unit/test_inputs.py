"""bakepy/inputs.py: build inputs checked before a build, and buildx's input failures in bakepy's terms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakepy.config import load_toml
from bakepy.errors import BuildError, ConfigError
from bakepy.inputs import check_build_inputs, explain_build_failure
from bakepy.publish.build import run_bake


def _resolved(text: str) -> Any:
    return load_toml(text, env={}).resolved


def test_outside_context_is_fine_with_the_entitlement_check_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    resolved = _resolved('[target.app]\ncontext = ".."\n')
    with pytest.raises(ConfigError, match="outside the project directory"):
        check_build_inputs(resolved, project)
    monkeypatch.setenv("BUILDX_BAKE_ENTITLEMENTS_FS", "0")
    check_build_inputs(resolved, project)


def test_remote_inline_and_assembled_targets_are_not_looked_for(tmp_path: Path) -> None:
    resolved = _resolved(
        '[target.git]\ncontext = "https://example.org/repo.git#main"\n'
        '[target.inline]\ndockerfile-inline = "FROM scratch"\n'
        '[target.img]\ncontexts = { base = "docker-image://busybox" }\ndockerfile-inline = "FROM base"\n'
    )
    check_build_inputs(resolved, tmp_path)


# What buildx v0.36 prints for each mistake (captured on the e2e stack), as run_bake's BuildError carries it.
BUILDX_SAID = [
    (
        "docker buildx bake failed (exit 1): ERROR: additional privileges requested",
        "reads files outside the project directory",
        "BUILDX_BAKE_ENTITLEMENTS_FS=0",
    ),
    (
        "ERROR: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory",
        "has no Dockerfile where the target says",
        "create the Dockerfile",
    ),
    (
        'ERROR: unable to prepare context: path "nope" not found',
        "names a build context that does not exist",
        "fix `context`",
    ),
    (
        'ERROR: failed to evaluate path "afile/Dockerfile": not a directory',
        "names a build context that is a file",
        "set `context` to a folder",
    ),
]


@pytest.mark.parametrize(("said", "what", "fix"), BUILDX_SAID)
def test_buildx_input_failures_are_explained(said: str, what: str, fix: str) -> None:
    error = explain_build_failure(said, "app", "bakepy.toml")
    assert error is not None
    assert error.exit_code == 2
    assert error.message.startswith(f"bakepy.toml: target app {what}")
    assert "docker buildx bake failed" not in error.message
    assert error.hint is not None and fix in error.hint


def test_other_build_failures_stay_build_failures() -> None:
    assert explain_build_failure("process '/bin/sh -c make' did not complete", "app", "x") is None


class _FailingRunner:
    echo_output = False

    def __init__(self, message: str) -> None:
        self.message = message

    def bake(self, *args: Any, on_line: Any = None, **kwargs: Any) -> None:
        raise BuildError(f"docker buildx bake failed (exit 1): {self.message}", detail="...")


def test_run_bake_turns_them_into_config_errors(tmp_path: Path) -> None:
    runner: Any = _FailingRunner('ERROR: unable to prepare context: path "src" not found')
    with pytest.raises(ConfigError) as info:
        run_bake(runner, tmp_path / "b.json", ["app"], cwd=tmp_path, source="bakepy.toml")
    assert info.value.message.startswith("bakepy.toml: target app names a build context")
    assert info.value.detail == "..."
    runner = _FailingRunner("ERROR: process did not complete successfully: exit code: 2")
    with pytest.raises(BuildError):
        run_bake(runner, tmp_path / "b.json", ["app"], cwd=tmp_path, source="bakepy.toml")
