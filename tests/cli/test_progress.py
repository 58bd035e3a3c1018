"""The live view of a publish, rendered with rich's recording console (no terminal, no timing)."""

from __future__ import annotations

import pytest
from rich.console import Console

from bakepy import doctor
from bakepy.cli import progress
from bakepy.cli.progress import ProgressView
from bakepy.doctor import BuilderInfo, NodeInfo
from bakepy.publish.build import BuildEvent, BuildLog, observe


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(float(t) for t in range(1000))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


UNITS = [
    ("web", "linux/amd64"),
    ("web", "linux/arm64"),
    ("api", "linux/amd64"),
    ("api", "linux/arm64"),
]
# The stack's builder as `docker buildx inspect` describes it: one local BuildKit, arm64 under QEMU.
LOCAL = BuilderInfo(
    "bakepy-stack",
    "remote",
    True,
    [
        NodeInfo(
            "bakepy-stack0", "unix:///run/buildkitd.sock", "running", ["linux/amd64", "linux/arm64"]
        )
    ],
)


def view(
    live: bool, builder: BuilderInfo = LOCAL, monkeypatch: pytest.MonkeyPatch | None = None
) -> tuple[ProgressView, Console]:
    console = Console(record=True, width=120, force_terminal=live, color_system=None)
    shown = ProgressView.for_units(UNITS, builder, debug=False, console=console)
    shown.live = live  # whatever CI variables the test run has
    return shown, console


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local (unix://) node runs natively what this machine runs: pin it, so the tests read the same on an
    arm64 machine."""
    monkeypatch.setattr(doctor, "host_arch", lambda: "amd64")


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
    assert rows[0][:4] == ["web", "linux/amd64", "bakepy-stack0", "building"]
    assert rows[0][4].endswith("s")
    assert rows[1][:6] == ["web", "linux/arm64", "(QEMU)", "bakepy-stack0", "failed", "3.0s"]
    assert "exit code: 2" in text
    assert rows[2][:4] == ["api", "linux/amd64", "bakepy-stack0", "pushing"]
    assert "pushing by digest" in text
    assert rows[3][:5] == ["api", "linux/arm64", "(QEMU)", "bakepy-stack0", "pushing"]


def test_plain_lines_name_target_platform_and_state(capsys: pytest.CaptureFixture[str]) -> None:
    shown, console = view(live=False)
    log = BuildLog(shown.line, ["web", "api"])
    with shown.shown(), observe(shown.event):
        for line in BUILDX:
            log(line)
        shown.event(BuildEvent("", None, "merging"))
    text = console.export_text()
    assert "[web linux/arm64] emulated (QEMU) on node bakepy-stack0" in text
    assert "[web linux/amd64] native on node bakepy-stack0" in text
    assert "[web linux/arm64 (QEMU)] building: 2/2 RUN make" in text
    assert "[web linux/arm64 (QEMU)] failed: process did not complete successfully" in text
    assert "[api linux/amd64] pushing: pushing by digest" in text
    assert "moving tags…" in text
    assert shown.failure_tail()[-1].startswith("#6 ERROR")


def rows_of(builder: BuilderInfo) -> dict[tuple[str, str], list[str]]:
    shown, console = view(live=True, builder=builder)
    console.print(shown.table())
    rows = [line.split() for line in console.export_text().splitlines()[2:]]
    return {(r[0], r[1]): r[2:] for r in rows}


def test_the_qemu_mark_and_node_come_from_the_node_buildx_routes_the_platform_to() -> None:
    # Two nodes, one per platform (`bakepy builder create`): arm64 goes to the remote arm64 machine, natively,
    # although this machine is amd64.
    two = BuilderInfo(
        "multi",
        "remote",
        True,
        [
            NodeInfo(
                "linux-amd64", "unix:///run/a.sock", "running", ["linux/amd64", "linux/arm64"]
            ),
            NodeInfo(
                "linux-arm64", "tcp://arm-host:1234", "running", ["linux/arm64", "linux/arm/v7"]
            ),
        ],
    )
    rows = rows_of(two)
    assert rows[("web", "linux/amd64")][:2] == ["linux-amd64", "waiting"]
    assert rows[("web", "linux/arm64")][:2] == ["linux-arm64", "waiting"]  # no (QEMU)

    # One remote arm64 node: amd64 is the emulated one there, whatever this machine is.
    arm = BuilderInfo(
        "arm",
        "remote",
        True,
        [NodeInfo("arm0", "tcp://arm-host:1234", "running", ["linux/arm64", "linux/amd64"])],
    )
    rows = rows_of(arm)
    assert rows[("api", "linux/amd64")][:3] == ["(QEMU)", "arm0", "waiting"]
    assert rows[("api", "linux/arm64")][:2] == ["arm0", "waiting"]


def test_a_builder_that_cannot_say_marks_nothing() -> None:
    rows = rows_of(BuilderInfo("gone", "remote", True, []))
    assert all(r[:2] == ["-", "waiting"] for r in rows.values())


def test_marks_that_come_while_the_state_lines_show_are_said_once() -> None:
    """publish reads the builder beside the work: the view shows first, the marks come when the read is done."""
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    shown = ProgressView.for_units(UNITS, None, debug=False, console=console)
    shown.live = False
    log = BuildLog(shown.line, ["web", "api"])
    with shown.shown(), observe(shown.event):
        log(BUILDX[0])  # before the read is done: no mark, nothing invented
        shown.use_builder(LOCAL)
        log(BUILDX[1])
    text = console.export_text()
    assert "[web linux/amd64] building: 1/2 FROM" in text
    assert text.count("[web linux/arm64] emulated (QEMU) on node bakepy-stack0") == 1
    assert text.count("[api linux/amd64] native on node bakepy-stack0") == 1
    assert "[web linux/arm64 (QEMU)] building: 2/2 RUN make" in text


def test_marks_that_come_while_the_live_table_shows_appear_in_it() -> None:
    console = Console(record=True, width=120, force_terminal=True, color_system=None)
    shown = ProgressView.for_units(UNITS, None, debug=False, console=console)
    shown.live = True
    before = shown.table()
    shown.use_builder(LOCAL)
    console.print(before)
    console.print(shown.table())
    first, second = console.export_text().split("target", 2)[1:]
    assert "(QEMU)" not in first and "bakepy-stack0" not in first
    assert "linux/arm64 (QEMU)" in second and "bakepy-stack0" in second
