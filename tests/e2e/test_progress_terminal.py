"""What a person sees publishing a 2-target × 2-platform project on the stack: in a real terminal (tmux, its
screen captured as the issue's tester did, 80 columns) and in a CI log (no terminal, 80 columns).

Each target's RUN sleeps 3 s, and BuildKit runs the four side by side: the view's rows (recorded through
`BAKEPY_PROGRESS_TRACE`, each change of a row) must show them running at once, each done no sooner than the sleep,
as BuildKit reported, where the view of issue 24 showed "waiting" and then "done 0.9 s"."""

from __future__ import annotations

import json
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
        f"FROM busybox\nARG NONCE\nRUN echo $NONCE > /nonce && uname -m > /arch && sleep {SLEEP}\n",
    )


SLEEP = 3


def _side_by_side(trace: Path) -> None:
    """The rows as the view showed them: the two targets' RUNs running at once, every row done in no less than
    the RUN's sleep (BuildKit's time, first step to pushed)."""
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    most: set[tuple[str, str]] = set()
    for record in records:
        rows[(record["target"], record["platform"])] = (record["state"], record["step"])
        running = {
            k for k, (state, step) in rows.items() if state == "building" and " RUN " in f" {step}"
        }
        if len(running) > len(most):
            most = running
    assert {target for target, _ in most} == set(TARGETS), records  # both targets' RUNs at once
    done = {(r["target"], r["platform"]): r["took"] for r in records if r["state"] == "done"}
    assert set(done) == {(t, p) for t in TARGETS for p in PLATFORMS}, records
    assert all(took >= SLEEP for took in done.values()), done
    for record in records:  # a row never goes back to waiting, nor shows "done" before its push
        assert record["state"] != "waiting"


def _env(stack: object) -> dict[str, str]:
    env = env_for(stack)  # type: ignore[arg-type]
    for var in ("CI", "GITHUB_ACTIONS", "GITLAB_CI"):
        env.pop(var, None)
    return env


def _in_tmux(
    project: Path, env: dict[str, str], tmp_path: Path, interrupt: Path | None = None
) -> tuple[str, str]:
    """`bakepy publish` in a tmux terminal of 80 columns: its exit code and its screen. With `interrupt` (the
    trace), Ctrl-C is typed once the trace shows a RUN step running."""
    socket = f"bakepy-e2e-{uuid.uuid4().hex[:8]}"  # a tmux server of this test's own
    done = tmp_path / "done"
    command = (
        f"cd {shlex.quote(str(project))} && {shlex.quote(sys.executable)} -m bakepy publish; "
        f"echo $? > {shlex.quote(str(done))}; sleep 600"
    )
    tmux = ["tmux", "-L", socket]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "50", "-s", "p", command],
        env=env, check=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while interrupt is not None and time.monotonic() < deadline:
            if interrupt.exists() and '"2/2 RUN' in interrupt.read_text():
                subprocess.run([*tmux, "send-keys", "-t", "p", "C-c"], check=True)
                break
            time.sleep(0.2)
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "p", "-S", "-200"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    return done.read_text().strip(), screen


def _table(screen: str) -> list[str]:
    """The live table's lines on the screen: its title (`building`, …) to its last row."""
    lines = screen.splitlines()
    header = [i for i, line in enumerate(lines) if line.split()[:2] == ["target", "platform"]]
    assert len(header) == 1, screen  # the header once
    first = header[0] - 1
    last = max(i for i, line in enumerate(lines) if line.split()[:1] and line.split()[0] in TARGETS)
    return lines[first : last + 1]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_terminal_shows_one_line_per_target_and_platform_with_node_state_and_time(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, list(stack.registries), unique_repo)
    trace = tmp_path / "trace.jsonl"
    env = {**_env(stack), "TERM": "xterm-256color", "BAKEPY_PROGRESS_TRACE": str(trace)}
    code, screen = _in_tmux(project, env, tmp_path)
    assert code == "0", screen
    rows = {}
    for line in screen.splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] in TARGETS and words[1] in PLATFORMS:
            rows[(words[0], words[1])] = " ".join(words[2:])
    assert set(rows) == {(t, p) for t in TARGETS for p in PLATFORMS}, screen
    table = _table(screen)
    assert len(table) == 2 + len(rows), screen  # title, header, one line per row: no step wraps
    assert all(len(line.rstrip()) <= 78 for line in table), screen
    _side_by_side(trace)
    for (_, platform), rest in rows.items():
        emulated = platform == "linux/arm64"  # the stack's one node is this amd64 machine
        assert rest.startswith("(QEMU) " if emulated else stack.builder), screen
        assert re.search(rf"{re.escape(stack.builder)}0? +done +\d+\.\ds", rest), screen
    assert "+ docker" not in screen  # bakepy's command echo is not in the middle of the view
    for registry in stack.registries:
        for target in TARGETS:
            assert api.list_tags(registry, f"{unique_repo}-{target}") == ["1.0", "latest"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_ctrl_c_leaves_the_table_once_with_the_rows_interrupted(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    """Issue 24: after Ctrl-C the header was printed twice (the terminal's `^C` echo wrapped a full-width line,
    and the live display redrew one line too low)."""
    project = _project(tmp_path, list(stack.registries), unique_repo)
    trace = tmp_path / "trace.jsonl"
    env = {**_env(stack), "TERM": "xterm-256color", "BAKEPY_PROGRESS_TRACE": str(trace)}
    code, screen = _in_tmux(project, env, tmp_path, interrupt=trace)
    assert code == "130", screen
    table = _table(screen)  # the header once
    assert [line.strip() for line in screen.splitlines()].count("building") == 1, (
        screen
    )  # the title once
    assert len(table) == 2 + len(TARGETS) * len(PLATFORMS), screen
    assert sum("interrupted" in line.split() for line in table) >= 2, screen
    assert "no tag was created or moved" in screen
    for registry in stack.registries:
        for target in TARGETS:
            assert api.list_tags(registry, f"{unique_repo}-{target}") == [], screen


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
