"""The live view of a publish, rendered with rich's recording console (no terminal, no timing)."""

from __future__ import annotations

import pytest
from rich.console import Console

from bakepy.cli import progress
from bakepy.cli.progress import ProgressView
from bakepy.publish.build import BuildEvent, BuildLog, observe


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(float(t) for t in range(1000))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


def view(live: bool) -> tuple[ProgressView, Console]:
    console = Console(record=True, width=100, force_terminal=live, color_system=None)
    units = [
        ("web", "linux/amd64"),
        ("web", "linux/arm64"),
        ("api", "linux/amd64"),
        ("api", "linux/arm64"),
    ]
    table = {(t, p): progress.Unit(t, p, emulated=p == "linux/arm64") for t, p in units}
    return ProgressView(table, live=live, console=console), console


BUILDX = [
    "#5 [web linux/amd64 1/2] FROM docker.io/library/busybox:latest",
    "#6 [web linux/arm64 2/2] RUN make",
    "#7 [api linux/amd64 2/2] RUN make",
    "#8 [api] exporting to image",
    "#6 ERROR: process did not complete successfully: exit code: 2",
]


def test_one_line_per_target_and_platform_with_state_time_and_emulation() -> None:
    shown, console = view(live=True)
    log = BuildLog(shown.line, ["web", "api"])
    with observe(shown.event):
        for line in BUILDX:
            log(line)
    console.print(shown.table())
    text = console.export_text()
    rows = [line.split() for line in text.splitlines()[2:]]
    assert rows[0][:3] == ["web", "linux/amd64", "building"] and rows[0][3].endswith("s")
    assert rows[1][:5] == ["web", "linux/arm64", "(QEMU)", "failed", "3.0s"]
    assert "exit code: 2" in text
    assert rows[2][:3] == ["api", "linux/amd64", "pushing"] and "pushing by digest" in text
    assert rows[3][:4] == ["api", "linux/arm64", "(QEMU)", "pushing"]


def test_plain_lines_name_target_platform_and_state(capsys: pytest.CaptureFixture[str]) -> None:
    shown, console = view(live=False)
    log = BuildLog(shown.line, ["web", "api"])
    with observe(shown.event):
        for line in BUILDX:
            log(line)
        shown.event(BuildEvent("", None, "merging"))
    text = console.export_text()
    assert "[web linux/arm64 (QEMU)] building: 2/2 RUN make" in text
    assert "[web linux/arm64 (QEMU)] failed: process did not complete successfully" in text
    assert "[api linux/amd64] pushing: pushing by digest" in text
    assert "moving tags…" in text
    assert shown.failure_tail()[-1].startswith("#6 ERROR")
