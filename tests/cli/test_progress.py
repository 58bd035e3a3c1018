"""The live view of a publish, fed with buildx rawjson streams recorded on the stack (tests/fixtures/buildx/*.rawjson)
and rendered with rich's recording console (no terminal, no timing).

The recordings (buildx v0.36.1, BuildKit v0.32.2; `docker buildx bake --progress rawjson`, stderr):
* bake-side-by-side: targets web and api, linux/amd64 + linux/arm64 (QEMU), each `RUN echo NONCE && sleep 3`,
  pushed by digest: the four RUNs ran at once.
* bake-shared-steps: the same, one NONCE for both: BuildKit shares the vertices, buildx names them per target.
* bake-fail-arm64: targets ok and bad; bad's RUN exits 3 on arm64 after 2 s, ok's RUNs are canceled.
* bake-push-refused: one target, pushed to a port nothing listens on.
* bake-one-platform: web and api for linux/arm64 alone, as publish bakes each platform on a builder of several
  nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from bakepy import doctor
from bakepy.cli import progress
from bakepy.cli.progress import ProgressView
from bakepy.doctor import BuilderInfo, NodeInfo
from bakepy.errors import BuildError
from bakepy.publish import build
from bakepy.publish.build import BuildEvent, BuildLog, buildkit_time, observe, run_bake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "buildx"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(float(t) for t in range(100000))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


PLATFORMS = ("linux/amd64", "linux/arm64")
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
    live: bool,
    builder: BuilderInfo | None = LOCAL,
    units: list[tuple[str, str | None]] | None = None,
    width: int = 120,
) -> tuple[ProgressView, Console]:
    console = Console(record=True, width=width, force_terminal=live, color_system=None)
    shown = ProgressView.for_units(units or UNITS, builder, debug=False, console=console)
    shown.live = live  # whatever CI variables the test run has
    return shown, console


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local (unix://) node runs natively what this machine runs: pin it, so the tests read the same on an
    arm64 machine."""
    monkeypatch.setattr(doctor, "host_arch", lambda: "amd64")


def replay(
    name: str,
    shown: ProgressView,
    targets: list[str],
    after: Callable[[BuildEvent], None] | None = None,
) -> BuildLog:
    """Feed a recorded stream through BuildLog to the view, as run_bake does; `after` sees each event once the
    view has taken it in."""

    def both(event: BuildEvent) -> None:
        shown.event(event)
        if after is not None:
            after(event)

    log = BuildLog(shown.line, targets)
    with observe(both):
        for line in (FIXTURES / name).read_text().splitlines():
            log(line)
    return log


def states(shown: ProgressView) -> dict[tuple[str, str | None], tuple[str, str]]:
    return {key: (u.state, u.step) for key, u in shown.units.items()}


def test_rows_follow_buildkit_when_steps_run_side_by_side() -> None:
    """The issue's view said "waiting" for a target whose RUN ran beside others, and left arm64 rows on
    `1/2 FROM` while the RUN ran: each row now shows the step BuildKit runs for it, all four at once."""
    shown, _ = view(live=True)
    seen: list[dict[tuple[str, str | None], tuple[str, str]]] = []
    replay("bake-side-by-side.rawjson", shown, ["web", "api"], lambda _: seen.append(states(shown)))
    running_runs = [
        sum(state == "building" and step.startswith("2/2 RUN") for state, step in snapshot.values())
        for snapshot in seen
    ]
    assert max(running_runs) == 4  # the four RUNs, each on its row, at once
    at_once = seen[running_runs.index(4)]
    assert at_once[("web", "linux/arm64")] == (
        "building",
        "2/2 RUN echo web-4d85f613 > /nonce && sleep 3",
    )
    assert at_once[("api", "linux/arm64")] == (
        "building",
        "2/2 RUN echo api-4d85f613 > /nonce && sleep 3",
    )
    # never "waiting" once BuildKit began the target, never back to FROM once the RUN began
    for key in shown.units:
        steps = [snapshot[key] for snapshot in seen]
        began = next(i for i, s in enumerate(steps) if s[0] != "waiting")
        assert all(s[0] != "waiting" for s in steps[began:])
        run = next(i for i, s in enumerate(steps) if s[1].startswith("2/2 RUN"))
        assert not any(s[1].startswith("1/2 FROM") for s in steps[run:])
        order = list(dict.fromkeys(s[0] for s in steps[began:]))
        assert order == ["building", "built", "pushing", "done"], (key, order)
    # BuildKit's own times: from the target's first step to the end of its push, never less than the sleep
    durations = shown.durations()
    assert set(durations) == set(UNITS)
    assert all(3.0 <= took < 5.0 for took in durations.values()), durations
    assert round(durations[("web", "linux/arm64")], 2) == round(
        buildkit_time("2026-12-06T03:18:28.345Z")  # web's push ended
        - buildkit_time("2026-12-06T03:18:24.426951289Z"),  # web's Dockerfile load began
        2,
    )


def test_a_vertex_two_targets_share_moves_both_rows() -> None:
    """One NONCE for both targets: BuildKit runs each step once, buildx names it for each target."""
    shown, _ = view(live=True)
    seen: list[int] = []
    replay(
        "bake-shared-steps.rawjson",
        shown,
        ["web", "api"],
        lambda _: seen.append(
            sum(
                u.step.startswith("2/2 RUN") and u.state == "building" for u in shown.units.values()
            )
        ),
    )
    assert max(seen) == 4
    assert {u.state for u in shown.units.values()} == {"done"}


def test_one_line_per_target_and_platform_with_node_state_and_time() -> None:
    shown, console = view(live=True)
    replay("bake-side-by-side.rawjson", shown, ["web", "api"])
    console.print(shown.table())
    rows = [line.split() for line in console.export_text().splitlines()[2:]]
    assert rows[0] == ["web", "linux/amd64", "bakepy-stack0", "done", "3.9s"]
    assert rows[1] == ["web", "linux/arm64", "(QEMU)", "bakepy-stack0", "done", "3.9s"]
    assert rows[3][:5] == ["api", "linux/arm64", "(QEMU)", "bakepy-stack0", "done"]


def test_a_failure_names_its_row_and_the_rows_buildkit_stopped() -> None:
    shown, _ = view(live=True, units=[(t, p) for t in ("ok", "bad") for p in PLATFORMS])
    log = replay("bake-fail-arm64.rawjson", shown, ["ok", "bad"])
    rows = states(shown)
    assert rows[("bad", "linux/arm64")][0] == "failed"
    assert "exit code: 3" in rows[("bad", "linux/arm64")][1]
    assert rows[("bad", "linux/amd64")][0] == "built"  # its RUN ended well; no export came
    assert rows[("ok", "linux/amd64")][0] == rows[("ok", "linux/arm64")][0] == "canceled"
    failed = shown.units[("bad", "linux/arm64")]
    assert failed.took is not None and 2.0 <= failed.took < 3.0  # `sleep 2`, then exit 3
    message = log.describe()
    assert message is not None
    assert message.startswith("build of target bad for linux/arm64 failed: process ")
    assert message.endswith("exit code: 3")  # the canceled steps are not failures
    assert not log.push_failed
    tail = shown.failure_tail()
    assert not any(line.startswith("{") for line in tail)  # readable lines, not JSON
    assert any(line.endswith(" boom") for line in tail)
    assert any(" ERROR: process " in line for line in tail)
    assert tail[-1].startswith("ERROR: target bad: failed to solve")


def test_a_refused_push_is_a_push_failure_of_every_row_of_its_target() -> None:
    shown, _ = view(live=True, units=[("hello", p) for p in PLATFORMS])
    log = replay("bake-push-refused.rawjson", shown, ["hello"])
    assert log.push_failed
    message = log.describe()
    assert message is not None
    assert message.startswith(
        "push of target hello failed: failed to push 127.0.0.1:5999/pvrec/hello"
    )
    for unit in shown.units.values():
        assert unit.state == "failed"
        assert unit.step.startswith("failed to push")


def test_plain_lines_name_target_platform_and_state() -> None:
    shown, console = view(live=False)
    with shown.shown():
        replay("bake-side-by-side.rawjson", shown, ["web", "api"])
        shown.event(BuildEvent("", None, "merging"))
    text = console.export_text()
    assert "[web linux/arm64] emulated (QEMU) on node bakepy-stack0" in text
    assert "[web linux/amd64] native on node bakepy-stack0" in text
    assert (
        "[web linux/arm64 (QEMU)] building: 2/2 RUN echo web-4d85f613 > /nonce && sleep 3" in text
    )
    assert "[web linux/arm64 (QEMU)] built: 2/2 RUN echo web-4d85f613 > /nonce && sleep 3" in text
    assert "[api linux/amd64] pushing: pushing by digest" in text
    assert "[api linux/amd64] done in 3.9s" in text
    assert "moving tags…" in text
    # a line for each new state or Dockerfile step of a row, not for BuildKit's loads in between
    said = [line for line in text.splitlines() if line.startswith("[web linux/arm64 (QEMU)] ")]
    assert [line.split("] ", 1)[1].split(" > ")[0] for line in said] == [
        "building: load build definition from Dockerfile",
        "building: 1/2 FROM docker.io/library/busybox:latest@sha256:9af3ccab93176199d0f010bf7616aeed3cc30aa30e2afd54ba378a5aa1496be3",
        "building: 2/2 RUN echo web-4d85f613",
        "built: 2/2 RUN echo web-4d85f613",
        "pushing: pushing by digest",
        "done in 3.9s",
    ]


def test_a_step_line_never_wraps_at_80_columns() -> None:
    """The issue's 80-column terminal showed a step over four lines: each row is one line, two columns short of
    the terminal (a ^C echo would otherwise push the live display down a line, and its header reprinted)."""
    shown, _ = view(live=True, width=80)
    seen: list[list[str]] = []

    def frame(_: BuildEvent) -> None:
        rendered = Console(width=80, record=True, color_system=None, file=_Null())
        rendered.print(shown)
        seen.append(rendered.export_text().splitlines())

    replay("bake-side-by-side.rawjson", shown, ["web", "api"], frame)
    for lines in seen:
        assert len(lines) == 2 + len(UNITS)  # title, header, one line per row
        assert all(len(line.rstrip()) <= 78 for line in lines)
        for line, (target, platform) in zip(lines[2:], UNITS, strict=True):
            assert line.split()[:2] == [target, platform]  # names whole
    long_steps = [line for lines in seen for line in lines if "1/2 FROM" in line]
    assert long_steps and all(line.rstrip().endswith("…") for line in long_steps)


@pytest.mark.parametrize(
    ("width", "columns"),
    [
        (120, ["target", "platform", "node", "state", "time", "step"]),
        (80, ["target", "platform", "node", "state", "time", "step"]),
        (70, ["target", "platform", "state", "time", "step"]),
        (60, ["target", "platform", "state", "step"]),
        (45, ["target", "platform", "state"]),
    ],
)
def test_a_narrow_terminal_cuts_the_step_never_a_name(width: int, columns: list[str]) -> None:
    """Too narrow for the step: the node goes first, then the time, then the step; names stay whole."""
    shown, _ = view(live=True)
    shown.event(BuildEvent("web", "linux/arm64", "step", "2/2 RUN " + "x" * 200, 7, 100.0))
    console = Console(width=width, record=True, color_system=None, file=_Null())
    console.print(shown)
    lines = console.export_text().splitlines()
    assert lines[1].split() == columns
    assert len(lines) == 2 + len(UNITS)
    assert all(len(line.rstrip()) <= width - 2 for line in lines)
    assert lines[3].split()[:3] == ["web", "linux/arm64", "(QEMU)"]
    if "step" in columns:
        assert lines[3].rstrip().endswith("x…")


def test_ctrl_c_marks_the_rows_under_way_and_lets_it_through() -> None:
    shown, _ = view(live=True, width=80)
    with pytest.raises(KeyboardInterrupt), shown.shown():
        shown.event(BuildEvent("web", "linux/amd64", "step", "2/2 RUN sleep 3", 8, 100.0))
        shown.event(BuildEvent("api", "linux/amd64", "error", "exit code: 2", 9, 100.0, 101.0))
        raise KeyboardInterrupt
    assert states(shown)[("web", "linux/amd64")][0] == "interrupted"
    assert states(shown)[("web", "linux/arm64")][0] == "interrupted"
    assert states(shown)[("api", "linux/amd64")][0] == "failed"  # what BuildKit said stays


def test_the_trace_hook_records_each_change_of_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("BAKEPY_PROGRESS_TRACE", str(trace))
    shown, _ = view(live=True)
    replay("bake-side-by-side.rawjson", shown, ["web", "api"])
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    done = [r for r in records if r["state"] == "done"]
    assert {(r["target"], r["platform"]) for r in done} == set(UNITS)
    assert all(r["took"] >= 3.0 for r in done)


def test_buildkit_times_read_as_go_writes_them() -> None:
    assert buildkit_time("2026-12-06T03:18:24.324899904Z") == pytest.approx(1796527104.324899)
    assert buildkit_time("2026-12-06T04:18:24+01:00") == pytest.approx(1796527104.0)
    assert buildkit_time("0001-01-01T00:00:00Z") is not None
    assert buildkit_time(None) is None
    assert buildkit_time("yesterday") is None


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class _Runner:
    """Records what run_bake asks of buildx and plays a recorded stream back."""

    echo_output = False

    def __init__(self, stream: str | None = None, fail: bool = False) -> None:
        self.stream, self.fail = stream, fail
        self.progress: list[str] = []

    def bake(self, *_: Any, progress: str, on_line: Callable[[str], None], **__: Any) -> None:
        self.progress.append(progress)
        if self.stream:
            for line in (FIXTURES / self.stream).read_text().splitlines():
                on_line(line)
        if self.fail:
            raise BuildError(
                "docker buildx bake failed (exit 1): ERROR: target bad: …",
                detail='$ docker buildx bake --progress rawjson\n{"vertexes": []}',
            )


def test_run_bake_asks_for_rawjson_only_for_an_observer(tmp_path: Path) -> None:
    """--progress plain (no observer) passes plain through; the live view and state lines ask for rawjson."""
    runner: Any = _Runner()
    run_bake(runner, tmp_path / "b.json", ["app"], cwd=tmp_path)
    with observe(lambda _: None):
        run_bake(runner, tmp_path / "b.json", ["app"], cwd=tmp_path)
    assert runner.progress == ["plain", "rawjson"]
    assert not build.observed()


def test_a_rawjson_failure_names_the_row_and_keeps_readable_lines(tmp_path: Path) -> None:
    runner: Any = _Runner("bake-fail-arm64.rawjson", fail=True)
    events: list[BuildEvent] = []
    with observe(events.append), pytest.raises(BuildError) as info:
        run_bake(runner, tmp_path / "b.json", ["ok", "bad"], cwd=tmp_path)
    assert info.value.message.startswith("build of target bad for linux/arm64 failed: process ")
    assert info.value.hint is not None and info.value.hint.startswith("fix the build")
    detail = info.value.detail or ""
    assert detail.startswith("$ docker buildx bake --progress rawjson\n")
    assert "{" not in detail.splitlines()[1] and "ERROR: target bad" in detail
    errors = [e for e in events if e.kind == "error"]
    assert [(e.target, e.platform) for e in errors] == [("bad", "linux/arm64")]


def test_marks_that_come_while_the_state_lines_show_are_said_once() -> None:
    """publish reads the builder beside the work: the view shows first, the marks come when the read is done."""
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    shown = ProgressView.for_units(UNITS, None, debug=False, console=console)
    shown.live = False
    with shown.shown():
        # before the read is done: no mark, nothing invented
        shown.event(BuildEvent("web", "linux/amd64", "step", "1/2 FROM busybox", 5, 100.0))
        shown.use_builder(LOCAL)
        shown.event(BuildEvent("web", "linux/arm64", "step", "2/2 RUN make", 6, 100.0))
    text = console.export_text()
    assert "[web linux/amd64] building: 1/2 FROM" in text
    assert text.count("[web linux/arm64] emulated (QEMU) on node bakepy-stack0") == 1
    assert text.count("[api linux/amd64] native on node bakepy-stack0") == 1
    assert "[web linux/arm64 (QEMU)] building: 2/2 RUN make" in text


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


def test_a_state_is_colored_text_not_markup() -> None:
    """A step BuildKit names with brackets (`[stage 2/3]`) is shown as is, never read as rich markup."""
    shown, console = view(live=True)
    shown.event(BuildEvent("web", "linux/amd64", "step", "2/2 RUN echo [bold]x[/]", 7, 100.0))
    console.print(shown.table())
    assert "RUN echo [bold]x[/]" in console.export_text()
    assert isinstance(shown.table().columns[3]._cells[0], Text)


def test_a_one_platform_bake_moves_only_its_platform_rows() -> None:
    """Several nodes: one bake per platform (publish's build_per_platform), whose step names leave the platform
    out (`[web 2/2] RUN …`): the log knows it, and the other platform's rows are left alone."""
    shown, _ = view(live=True)
    log = BuildLog(shown.line, ["web", "api"], "linux/arm64")
    with observe(shown.event):
        for line in (FIXTURES / "bake-one-platform.rawjson").read_text().splitlines():
            log(line)
    rows = states(shown)
    assert rows[("web", "linux/arm64")] == rows[("api", "linux/arm64")] == ("done", "")
    assert rows[("web", "linux/amd64")] == rows[("api", "linux/amd64")] == ("waiting", "")
    assert all((shown.units[(t, "linux/arm64")].took or 0) >= 3.0 for t in ("web", "api"))


def test_the_live_view_shows_a_registry_retry_but_not_the_commands() -> None:
    shown, console = view(live=True)
    shown.command("+ docker buildx bake --file .bakepy/run/docker-bake.json")
    shown.command(
        "  retry 1: PUT 127.0.0.1:5001/v2/app/manifests/latest after HTTP 429 (Retry-After 1 s), in 1.0 s"
    )
    text = console.export_text()
    assert "retry 1: PUT 127.0.0.1:5001/v2/app/manifests/latest after HTTP 429" in text
    assert "buildx bake" not in text
