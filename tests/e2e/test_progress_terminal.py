"""What a person sees publishing a 2-target × 2-platform project on the stack: in a real terminal (tmux, its
screen captured as the issue's tester did) and in a CI log (no terminal, 80 columns)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import env_for, small_project

TARGETS = ("web", "api")
PLATFORMS = ("linux/amd64", "linux/arm64")


def _project(tmp_path: Path, registries: list[str], repo: str) -> Path:
    return small_project(
        tmp_path / "proj",
        f"""
        [project]
        registries = {registries!r}
        platforms = {list(PLATFORMS)!r}
        tags = ["latest", "1.0"]

        [target.web]
        image = "{repo}-web"
        args = {{ NONCE = "{uuid.uuid4().hex}" }}

        [target.api]
        image = "{repo}-api"
        args = {{ NONCE = "{uuid.uuid4().hex}" }}
        """,
        "FROM busybox\nARG NONCE\nRUN echo $NONCE > /nonce && uname -m > /arch\n",
    )


def _env(stack: object) -> dict[str, str]:
    env = env_for(stack)  # type: ignore[arg-type]
    for var in ("CI", "GITHUB_ACTIONS", "GITLAB_CI"):
        env.pop(var, None)
    return env


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_terminal_shows_one_line_per_target_and_platform_with_node_state_and_time(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, list(stack.registries), unique_repo)
    env = {**_env(stack), "TERM": "xterm-256color"}
    socket = f"bakepy-e2e-{uuid.uuid4().hex[:8]}"  # a tmux server of this test's own
    done = tmp_path / "done"
    command = (
        f"cd {shlex.quote(str(project))} && {shlex.quote(sys.executable)} -m bakepy publish; "
        f"echo $? > {shlex.quote(str(done))}; sleep 600"
    )
    tmux = ["tmux", "-L", socket]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "50", "-s", "p", command],
        env=env, check=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "p", "-S", "-200"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert done.read_text().strip() == "0", screen
    rows = {}
    for line in screen.splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] in TARGETS and words[1] in PLATFORMS:
            rows[(words[0], words[1])] = " ".join(words[2:])
    assert set(rows) == {(t, p) for t in TARGETS for p in PLATFORMS}, screen
    for (_, platform), rest in rows.items():
        emulated = platform == "linux/arm64"  # the stack's one node is this amd64 machine
        assert rest.startswith("(QEMU) " if emulated else stack.builder), screen
        assert re.search(rf"{re.escape(stack.builder)}0? +done +\d+\.\ds", rest), screen
    assert "+ docker" not in screen  # bakepy's command echo is not in the middle of the view
    for registry in stack.registries:
        for target in TARGETS:
            assert api.list_tags(registry, f"{unique_repo}-{target}") == ["1.0", "latest"]


def test_a_ci_log_has_state_lines_and_never_breaks_a_reference(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, list(stack.registries), unique_repo)
    env = {**_env(stack), "CI": "true", "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-m", "bakepy", "publish"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for target in TARGETS:
        node = f"{stack.builder}0"
        assert f"[{target} linux/arm64] emulated (QEMU) on node {node}" in result.stderr
        assert f"[{target} linux/amd64] native on node {node}" in result.stderr
        assert f"[{target} linux/arm64 (QEMU)] pushing: pushing by digest" in result.stderr
    lines = result.stdout.splitlines()
    for registry in stack.registries:
        for target in TARGETS:
            for tag in ("latest", "1.0"):
                reference = f"{registry}/{unique_repo}-{target}:{tag}"
                assert any(line.startswith(reference + " ") for line in lines), result.stdout
