"""What a person sees while `bakepy publish` builds: one line per target × platform, live on a terminal.

On a terminal (and not in CI) a rich live table shows each target × platform — waiting, the build step BuildKit
is running for it (n/m), built (its steps done, the export waits for the target's other platforms), pushing by
digest, done, failed or canceled — with its time and whether it runs natively or under QEMU. Every state and step
is what BuildKit reported (`BuildEvent`s from buildx's rawjson progress, `bakepy.publish.build`): nothing is
inferred from the order of lines. A row's time runs from BuildKit starting its first step to the end of its
push, in BuildKit's clock. A row is one line, never wrapped: the step text, and only it, is cut to fit, and the
table stays two columns short of the terminal, so the `^C` a terminal echoes on Ctrl-C never pushes it down a
line (the live display would then print its header again). Elsewhere (CI logs, pipes) plain lines,
line-buffered, one for each new state or Dockerfile step of a row, inside a collapsible group on GitHub Actions
and GitLab CI. buildx's own output is kept in memory, as plain lines, and the failing step's last lines are
shown on failure; `--progress plain` streams it all instead. bakepy's `+ command` lines go to the debug output
(`--debug`) in the live view, so they never land in the middle of it.

`BAKEPY_PROGRESS_TRACE=FILE` appends each change of a row to FILE as a JSON line (target, platform, state,
step, time): what the view showed, for tests and for a report of a view that looked wrong.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bakepy.doctor import BuilderInfo
from bakepy.engine.transport import RETRY_PREFIX
from bakepy.publish.build import BuildEvent

_COLORS = {
    "done": "green", "failed": "red", "pushing": "cyan", "building": "yellow", "built": "blue",
    "canceled": "magenta", "interrupted": "magenta", "reused": "dim",
}  # fmt: skip
_STEP_ROOM = 12  # the least room a step gets before columns make way for it: `2/3 RUN ma…`
# The states a row ends in: nothing BuildKit says later changes them (a failure excepted, for done).
FINAL = ("done", "failed", "canceled", "interrupted", "reused")


@dataclass
class Step:
    """One BuildKit vertex as a row sees it: its own (its platform's) or its target's (the Dockerfile's load)."""

    text: str
    own: bool
    numbered: bool  # a Dockerfile step (`2/3 RUN …`), not BuildKit's loading of metadata or context
    started: float | None = None
    completed: float | None = None


@dataclass
class Unit:
    target: str
    platform: str | None
    emulated: bool = False
    node: str = ""
    """The builder node buildx routes this platform to (doctor's `route`), empty when unknown."""
    state: str = "waiting"
    step: str = ""
    started: float | None = None
    """This machine's clock (monotonic) when BuildKit's first step for the row was seen: the live time."""
    finished: float | None = None
    first: float | None = None
    """BuildKit's clock when its first step for the row started."""
    took: float | None = None
    """The row's time in BuildKit's clock, from its first step to the end of its push (or its failure)."""
    steps: dict[int, Step] = field(default_factory=dict)

    def elapsed(self, now: float) -> str:
        if self.took is not None:
            return f"{self.took:5.1f}s"
        if self.started is None:
            return ""
        return f"{(self.finished or now) - self.started:5.1f}s"

    def settle(self) -> None:
        """state and step from the steps BuildKit reported: the newest running step (the row's own before its
        target's); all its Dockerfile steps done: built; between two steps, the one shown stays."""
        if self.state in FINAL or self.state == "pushing":
            return
        started = [s for s in self.steps.values() if s.started is not None]
        if not started:
            return
        running = [s for s in started if s.completed is None]
        if running:
            newest = max(running, key=lambda s: (s.own, s.started or 0.0))
            self.state, self.step = "building", newest.text
            return
        own = [s for s in self.steps.values() if s.own]
        if any(s.numbered for s in own) and all(s.completed is not None for s in own):
            last = max(own, key=lambda s: s.completed or 0.0)
            self.state, self.step = "built", last.text
        elif self.state == "waiting":  # its first step already ended when the row heard of it
            self.state, self.step = "building", max(started, key=lambda s: s.completed or 0.0).text

    def end(self, state: str, at: float | None, now: float) -> None:
        self.state = state
        self.finished = self.finished or now
        if self.started is None:
            self.started = now
        if at is not None and self.first is not None:
            self.took = max(0.0, at - self.first)


def in_ci() -> bool:
    return any(os.environ.get(v) for v in ("CI", "GITHUB_ACTIONS", "GITLAB_CI"))


@dataclass
class ProgressView:
    """Feeds on `BuildEvent`s and buildx's lines; renders live (terminal) or as plain lines (CI, pipes)."""

    units: dict[tuple[str, str | None], Unit]
    live: bool
    debug: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=400))
    phase: str = "building"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._routed = False  # the units' node and QEMU marks are known (`use_builder`)
        self._showing = False
        self._trace = os.environ.get("BAKEPY_PROGRESS_TRACE") or None

    @classmethod
    def for_units(
        cls,
        units: Sequence[tuple[str, str | None]],
        builder: BuilderInfo | None,
        *,
        debug: bool,
        console: Console | None = None,
    ) -> ProgressView:
        """One row per target × platform, marked as `builder` routes each (`use_builder`); None: marked later."""
        console = console or Console(stderr=True, highlight=False)
        live = console.is_terminal and not in_ci()
        view = cls({(t, p): Unit(t, p) for t, p in units}, live, debug, console)
        view.use_builder(builder)
        return view

    def use_builder(self, builder: BuilderInfo | None) -> None:
        """Mark each unit native or QEMU, with its node, as the builder routes its platform (its nodes and their
        platforms, read once: `buildx inspect`), never guessed from this machine. It may come while the view
        already shows, as publish reads the builder beside the work: the live table picks it up at its next
        refresh; state lines say where each unit runs as soon as it is known, once."""
        if builder is None:
            return
        platforms = sorted({u.platform for u in self.units.values() if u.platform})
        where = {i.platform: i for i in builder.where(platforms)}
        with self._lock:
            for unit in self.units.values():
                info = where.get(unit.platform) if unit.platform else None
                unit.emulated = bool(info and info.emulated)
                unit.node = (info.node or "") if info else ""
            self._routed = True
            say = self._showing
        if say:
            self._say_where()

    # -- inputs ------------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """A line of buildx's output: kept for a failure's tail, not shown."""
        self.lines.append(text)

    def command(self, text: str) -> None:
        """bakepy's own `+ command` line; a registry retry (`retry N: …`, engine/transport.py) shows in the live
        view too: a run waiting out a 429 says so."""
        if self.debug or not self.live or text.lstrip().startswith(RETRY_PREFIX):
            self._say(f"[dim]{escape(text)}[/]")

    def event(self, event: BuildEvent) -> None:
        """What BuildKit reported (from any thread): the rows it names take it in; lines are said after the
        lock is let go (the live display takes its own lock to print, and its refresh takes this one)."""
        now = time.monotonic()
        changed: list[tuple[Unit, str]] = []  # with the state each had before
        with self._lock:
            if event.kind in ("built", "merging"):
                changed = self._all_built(now)
                self.phase = "moving tags" if event.kind == "merging" else "checking the registries"
            else:
                of_target = [u for (t, _), u in self.units.items() if t == event.target]
                hit = [
                    u for u in of_target if event.platform is None or u.platform == event.platform
                ]
                for unit in hit or of_target:
                    before = (unit.state, unit.step)
                    self._apply(unit, event, now)
                    if (unit.state, unit.step) != before:
                        changed.append((unit, before[0]))
            said = [self._changed(unit, state) for unit, state in changed]
        for line in said:
            if line is not None:
                self._say(line)
        if event.kind in ("built", "merging"):
            self._say(f"{self.phase}…")

    def _apply(self, unit: Unit, event: BuildEvent, now: float) -> None:
        if event.started is not None:
            if unit.started is None:
                unit.started = now
            if unit.first is None or event.started < unit.first:
                unit.first = event.started
        if event.kind == "error":
            if unit.state != "failed":
                unit.end("failed", event.completed, now)
                unit.step = event.text
        elif unit.state in FINAL:
            return
        elif event.kind == "reused":  # `--changed`: unchanged, not built
            unit.end("reused", None, now)
            unit.step = "unchanged: its tags keep their platform manifests"
        elif event.kind == "canceled":
            unit.end("canceled", event.completed, now)
            unit.step = "stopped: another step failed"
        elif event.kind == "pushed":
            unit.end("done", event.completed, now)
            unit.step = ""
        elif event.kind == "export":
            if event.started is not None:
                unit.state, unit.step = "pushing", "pushing by digest"
        else:
            own = event.platform is not None or unit.platform is None
            unit.steps[event.vertex] = Step(
                event.text + (" (cached)" if event.cached else ""),
                own,
                own and event.text[:1].isdigit(),
                event.started,
                event.completed,
            )
            unit.settle()

    def _all_built(self, now: float) -> list[tuple[Unit, str]]:
        """Every bake has ended: a row BuildKit never said pushed (an export with no push) is done now, its time
        up to its last step's end."""
        changed = []
        for unit in self.units.values():
            if unit.state in FINAL:
                continue
            ends = [s.completed for s in unit.steps.values() if s.completed is not None]
            changed.append((unit, unit.state))
            unit.end("done", max(ends, default=None), now)
            unit.step = ""
        return changed

    def interrupted(self) -> None:
        """Ctrl-C: the rows still under way say so, in the view's last frame."""
        now = time.monotonic()
        with self._lock:
            changed = [(u, u.state) for u in self.units.values() if u.state not in FINAL]
            for unit, _ in changed:
                unit.state, unit.finished = "interrupted", now
            said = [self._changed(unit, state) for unit, state in changed]
        for line in said:
            if line is not None:
                self._say(line)

    # -- output ------------------------------------------------------------------------------------
    def _changed(self, unit: Unit, before: str) -> str | None:
        """A row changed (from state `before`): traced (`BAKEPY_PROGRESS_TRACE`); when there is no table, its
        state line to say: for a new state or a Dockerfile step (`2/3 RUN …`), not for each of BuildKit's loads
        (`load metadata for …`) in between."""
        if self._trace:
            record = {
                "time": time.time(),
                "target": unit.target,
                "platform": unit.platform,
                "state": unit.state,
                "step": unit.step,
                "took": unit.took,
            }
            with open(self._trace, "a", encoding="utf-8") as trace:
                trace.write(json.dumps(record) + "\n")
        if self.live or (unit.state == before and not unit.step[:1].isdigit()):
            return None
        return self._plain(unit)

    def _plain(self, unit: Unit) -> str:
        where = f"{unit.target} {unit.platform or 'default'}" + (" (QEMU)" if unit.emulated else "")
        took = f" in {unit.took:.1f}s" if unit.took is not None and unit.state in FINAL else ""
        return escape(f"[{where}] {unit.state}{took}" + (f": {unit.step}" if unit.step else ""))

    def _say(self, markup: str) -> None:
        if self._live is not None:
            self._live.console.print(markup)
        else:
            self.console.print(markup, soft_wrap=True)

    def table(self, width: int | None = None) -> Table:
        """The rows, each on one line of at most `width` columns (the console's less two). Names are never cut:
        the step is cut to what is left; with too little left for it, the node column goes, then the time,
        then the step."""
        now = time.monotonic()
        width = width if width is not None else max(self.console.width - 2, 1)
        with self._lock:
            cells = {
                "target": [u.target for u in self.units.values()],
                "platform": [
                    (u.platform or "default") + (" (QEMU)" if u.emulated else "")
                    for u in self.units.values()
                ],
                "node": [u.node or "-" for u in self.units.values()],
                "state": [u.state for u in self.units.values()],
                "time": [u.elapsed(now) for u in self.units.values()],
                "step": [u.step for u in self.units.values()],
            }
        sizes = {h: max([cell_len(h), *map(cell_len, c)]) for h, c in cells.items() if h != "step"}
        shown = list(cells)
        room = 0
        for drop in ("node", "time", "step", None):
            # box=None: one space either side of each column
            room = width - sum(sizes[h] for h in shown if h != "step") - 2 * len(shown)
            if room >= _STEP_ROOM or drop is None:
                break
            shown.remove(drop)
        table = Table(box=None, show_header=True, header_style="bold", title=self.phase)
        # A fixed width for every column: rich shrinks none of them (it would cut names to fit); the step's
        # text is cut to its column, on one line.
        table.width = sum(sizes.get(h, max(room, 1)) for h in shown) + 2 * len(shown)
        for header in shown:
            table.add_column(header, no_wrap=True, width=sizes.get(header, max(room, 1)))
        for i in range(len(self.units)):
            row: list[str | Text] = [cells[h][i] for h in shown]
            if "state" in shown:
                state = cells["state"][i]
                row[shown.index("state")] = Text(state, style=_COLORS.get(state, "dim"))
            if "step" in shown:
                row[-1] = Text(cells["step"][i], no_wrap=True, overflow="ellipsis")
            table.add_row(*row)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The live table at the width the terminal has now (it may have been resized)."""
        yield self.table(max(options.max_width - 2, 1))

    @contextmanager
    def shown(self) -> Iterator[ProgressView]:
        group = _group_markers()
        if self.live:
            with Live(self, console=self.console, refresh_per_second=4, transient=False) as live:
                self._live = live
                try:
                    yield self
                except KeyboardInterrupt:
                    self.interrupted()
                    raise
                finally:
                    self._live = None
        else:
            if group:
                print(group[0], file=sys.stderr, flush=True)
            with self._lock:
                self._showing = True
                say = self._routed
            if say:
                self._say_where()
            try:
                yield self
            except KeyboardInterrupt:
                self.interrupted()
                raise
            finally:
                with self._lock:
                    self._showing = False
                if group:
                    print(group[1], file=sys.stderr, flush=True)

    def _say_where(self) -> None:
        """Where each unit runs, in a line of its own, once (state lines stay short): as soon as it is known
        while the state lines show (`use_builder` or `shown`, whichever comes second)."""
        if self.live:
            return
        for unit in self.units.values():
            if unit.platform and unit.node:
                runs = "emulated (QEMU)" if unit.emulated else "native"
                self._say(escape(f"[{unit.target} {unit.platform}] {runs} on node {unit.node}"))

    def durations(self) -> dict[tuple[str, str | None], float]:
        """Build time per target × platform (those that ran): BuildKit's, from first step to pushed."""
        return {
            key: unit.took if unit.took is not None else unit.finished - unit.started
            for key, unit in self.units.items()
            if unit.started is not None and unit.finished is not None
        }

    def failure_tail(self, lines: int = 25) -> list[str]:
        """The last lines buildx printed, for a failed build."""
        return list(self.lines)[-lines:]


def _group_markers() -> tuple[str, str] | None:
    """Collapsible sections in CI logs: GitHub's ::group::, GitLab's section markers."""
    if os.environ.get("GITHUB_ACTIONS"):
        return "::group::bakepy build", "::endgroup::"
    if os.environ.get("GITLAB_CI"):
        stamp = int(time.time())
        return (
            f"\x1b[0Ksection_start:{stamp}:bakepy_build[collapsed=true]\r\x1b[0Kbakepy build",
            f"\x1b[0Ksection_end:{int(time.time())}:bakepy_build\r\x1b[0K",
        )
    return None
