"""What a person sees while `bakepy publish` builds: one line per target × platform, live on a terminal.

On a terminal (and not in CI) a rich live table shows each target × platform — waiting, the build step it is on
(n/m), pushing by digest, done or failed — with its elapsed time and whether it runs natively or under QEMU.
Elsewhere (CI logs, pipes) plain lines, line-buffered, one per change of state, inside a collapsible group on
GitHub Actions and GitLab CI. buildx's own full output is kept in memory and the failing step's last lines are
shown on failure; `--progress plain` streams it all instead. bakepy's `+ command` lines go to the debug output
(`--debug`) in the live view, so they never land in the middle of it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from bakepy.doctor import BuilderInfo
from bakepy.publish.build import BuildEvent


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
    finished: float | None = None

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        return f"{(self.finished or now) - self.started:5.1f}s"


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
        """bakepy's own `+ command` line."""
        if self.debug or not self.live:
            self._say(f"[dim]{escape(text)}[/]")

    def event(self, event: BuildEvent) -> None:
        now = time.monotonic()
        with self._lock:
            if event.kind in ("built", "merging"):
                for unit in self.units.values():
                    if unit.state not in ("failed",):
                        unit.state, unit.finished, unit.step = "done", unit.finished or now, ""
                self.phase = "moving tags" if event.kind == "merging" else "checking the registries"
                self._say(f"{self.phase}…")
                return
            targets = [u for (t, p), u in self.units.items() if t == event.target]
            hit = [u for u in targets if event.platform is None or u.platform == event.platform]
            for unit in hit or targets:
                if unit.started is None:
                    unit.started = now
                if event.kind == "error":
                    unit.state, unit.finished, unit.step = "failed", now, event.text
                elif event.kind == "export":
                    unit.state, unit.step = "pushing", "pushing by digest"
                elif unit.state != "pushing":
                    unit.state, unit.step = "building", event.text
                if not self.live:
                    self._say(self._plain(unit, event))

    # -- output ------------------------------------------------------------------------------------
    def _plain(self, unit: Unit, event: BuildEvent) -> str:
        where = f"{unit.target} {unit.platform or 'default'}" + (" (QEMU)" if unit.emulated else "")
        text = event.text if event.kind != "export" else "pushing by digest"
        return escape(f"[{where}] {unit.state}: {text}")

    def _say(self, markup: str) -> None:
        if self._live is not None:
            self._live.console.print(markup)
        else:
            self.console.print(markup, soft_wrap=True)

    def table(self) -> Table:
        now = time.monotonic()
        table = Table(box=None, show_header=True, header_style="bold", title=self.phase)
        for column in ("target", "platform", "node", "state", "time", "step"):
            table.add_column(column, no_wrap=column != "step", overflow="ellipsis")
        colors = {"done": "green", "failed": "red", "pushing": "cyan", "building": "yellow"}
        for unit in self.units.values():
            platform = (unit.platform or "default") + (" (QEMU)" if unit.emulated else "")
            state = f"[{colors.get(unit.state, 'dim')}]{unit.state}[/]"
            table.add_row(
                unit.target,
                platform,
                escape(unit.node or "-"),
                state,
                unit.elapsed(now),
                escape(unit.step),
            )
        return table

    @contextmanager
    def shown(self) -> Iterator[ProgressView]:
        group = _group_markers()
        if self.live:
            with Live(self.table(), console=self.console, refresh_per_second=4,
                      get_renderable=self.table, transient=False) as live:  # fmt: skip
                self._live = live
                try:
                    yield self
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
        """Build time per target × platform (those that ran)."""
        return {
            key: unit.finished - unit.started
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
