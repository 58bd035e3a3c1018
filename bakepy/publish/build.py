"""Stage 1 of a publish: one `docker buildx bake` that pushes every platform by digest only, so no tag can move.

`BuildLog` follows what buildx says while it builds. When someone `observe`s the build (the CLI's live view and
state lines) bakepy asks buildx for `--progress rawjson`: one BuildKit `SolveStatus` a line, whose `vertexes`
(digest, name, started, completed, cached, error), `statuses` and `logs` are BuildKit's own account of every step.
Each vertex that starts, ends or fails becomes a `BuildEvent` naming its target and platform (from the name
buildx gives it, `[web linux/arm64 2/3] RUN make`), with BuildKit's times; the observer decides nothing but how to
show it. Otherwise (`--progress plain`, CI splits) buildx's plain text streams as it is. Either way the log names
the target and platform of a failure (`describe`, `push_failed`) and keeps readable lines (the plain text, or the
rawjson stream written as buildx's plain output would be) for the failure's tail.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from bakepy.engine.runner import Runner
from bakepy.errors import BuildError
from bakepy.inputs import explain_build_failure

# -- 1. build -------------------------------------------------------------------------------------------
# A step line: `#12 [bad linux/arm64 2/2] RUN …`. Inside the brackets buildx names the bake target (only when it
# builds several), the platform (only when there are several), the Dockerfile stage and the step counter. A
# rawjson vertex carries the same name, brackets first.
_STEP = re.compile(r"^#(\d+) \[(?P<labels>[^\]]*)\]")
_NAME = re.compile(r"^\[(?P<labels>[^\]]*)\]\s*")
# An os starts with a letter: `2/2` is a step counter, not a platform.
_PLATFORM = re.compile(r"^[a-z][a-z0-9]*/[a-z0-9_]+(?:/[a-z0-9.]+)?$")
_COUNTER = re.compile(r"^\d+/\d+$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (?P<message>.*)")
_TARGET_ERROR = re.compile(r"^ERROR: target (?P<target>[^:]+): (?P<message>.*)")
# RFC 3339 with nanoseconds, as Go writes a time.Time: Python before 3.11 reads neither the 9 digits nor the Z.
_TIME = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$"
)
# What a vertex that BuildKit stopped because another failed says (`…: exit code: 137: context canceled`).
_CANCELED = re.compile(r"(?:^|: )(?:context )?cancel(?:l)?ed$")

EventKind = Literal["step", "export", "pushed", "error", "canceled", "built", "merging", "reused"]


@dataclass(frozen=True)
class BuildEvent:
    """One thing BuildKit reported about a target × platform (`platform` None: the whole target, as the export
    and the loading of its Dockerfile are), or, with an empty target, about the whole run (`built`, `merging`).

    Each is a vertex (`vertex`, numbered as the plain output numbers them) as BuildKit last reported it: a build
    `step` (`text` like `2/3 RUN make`; `started` None: BuildKit knows it is to come), the `export` (exporting
    and pushing by digest), `pushed` (the export ended, its push done), an `error` (`text`: BuildKit's message)
    or `canceled` (stopped because another step failed); `reused` (`--changed`): not built, its tags keep the
    platform manifests they hold. `started` / `completed` are BuildKit's times (seconds
    since the epoch, the builder's clock), `cached` whether BuildKit reused the step."""

    target: str
    platform: str | None
    kind: EventKind
    text: str = ""
    vertex: int = 0
    started: float | None = None
    completed: float | None = None
    cached: bool = False


_OBSERVERS: list[Callable[[BuildEvent], None]] = []


@contextlib.contextmanager
def observe(callback: Callable[[BuildEvent], None]) -> Iterator[None]:
    """Send every `BuildEvent` of the builds run inside to `callback` (from any thread); the builds run inside
    ask buildx for its rawjson progress, the source of those events."""
    _OBSERVERS.append(callback)
    try:
        yield
    finally:
        _OBSERVERS.remove(callback)


def observed() -> bool:
    """Whether a build run now has observers (and so asks buildx for rawjson progress)."""
    return bool(_OBSERVERS)


def notify(event: BuildEvent) -> None:
    for callback in list(_OBSERVERS):
        callback(event)


def buildkit_time(value: object) -> float | None:
    """A BuildKit timestamp (`2024-05-01T10:00:00.123456789Z`) as seconds since the epoch; None if absent."""
    if not isinstance(value, str) or not (m := _TIME.match(value)):
        return None
    zone = "+00:00" if m.group("zone") == "Z" else m.group("zone")
    frac = (m.group("frac") or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{m.group('base')}.{frac}{zone}").timestamp()


@dataclass
class _Vertex:
    """What the log knows of one BuildKit vertex (keyed by digest and name: two targets' builds may share a
    digest, each under its own name)."""

    number: int
    target: str
    platform: str | None
    text: str
    export: bool
    ignored: bool  # bake's own loading, the provenance read after the export: no target × platform's work
    started: float | None = None
    completed: float | None = None
    cached: bool = False
    error: str = ""


@dataclass
class BuildLog:
    """Follows buildx's progress (rawjson or plain text, told apart line by line) to name the target and
    platform of a failure, and tells the observers what BuildKit reports of each vertex."""

    echo: Callable[[str], None] | None
    targets: Sequence[str] = ()
    platform: str | None = None  # a one-platform bake: buildx's step labels leave the platform out
    steps: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    failures: list[tuple[str, str | None, str]] = field(default_factory=list)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    """The last readable lines (rawjson written as plain text): a failure's detail."""

    def __post_init__(self) -> None:
        self.known = set(self.targets)
        self.only = self.targets[0] if len(self.targets) == 1 else "?"
        self._vertices: dict[tuple[str, str], _Vertex] = {}
        self._numbers: dict[str, int] = {}  # digest → the number its logs are shown under
        self._pushed: set[str] = set()  # digests of exports that have begun to push
        self.rawjson = False  # a rawjson line has come

    def __call__(self, line: str) -> None:
        if line.startswith("{"):
            try:
                status = json.loads(line)
            except ValueError:
                status = None
            if isinstance(status, dict):
                self.rawjson = True
                self._status(status)
                return
        self._say(line)
        if m := _STEP.match(line):
            target, platform, _ = self._where(m.group("labels").split())
            self.steps.setdefault(m.group(1), (target, platform))
        elif m := _STEP_ERROR.match(line):
            target, platform = self.steps.get(m.group(1), (self.only, None))
            self.failures.append((target, platform, m.group("message")))
        elif (m := _TARGET_ERROR.match(line)) and not any(
            f[0] == m.group("target") for f in self.failures
        ):
            self.failures.append((m.group("target"), None, m.group("message")))

    def _say(self, line: str) -> None:
        self.tail.append(line)
        if self.echo is not None:
            self.echo(line)

    def _where(self, labels: list[str]) -> tuple[str, str | None, str]:
        """target, platform and step counter of a step's labels."""
        target = labels[0] if labels and labels[0] in self.known else self.only
        platform = next((x for x in labels if _PLATFORM.match(x)), self.platform)
        counter = next((x for x in labels if _COUNTER.match(x)), "")
        return target, platform, counter

    # -- rawjson ---------------------------------------------------------------------------------------
    def _status(self, status: dict[str, Any]) -> None:
        """One `SolveStatus`: vertexes first (they name what the statuses and logs belong to), but an export
        that pushed says so in its statuses (`pushing layers`, `pushing manifest for …`): those are noted first."""
        statuses = [raw for raw in status.get("statuses") or () if isinstance(raw, dict)]
        for raw in statuses:
            if str(raw.get("id", "")).startswith("pushing"):
                self._pushed.add(str(raw.get("vertex", "")))
        for raw in status.get("vertexes") or ():
            if isinstance(raw, dict):
                self._vertex(raw)
        for raw in statuses:  # a finished phase (`pushing layers`), not each layer's bytes
            ident = str(raw.get("id", ""))
            number = self._numbers.get(str(raw.get("vertex", "")))
            if raw.get("completed") and number is not None and not ident.startswith("sha256:"):
                self._say(f"#{number} {ident} done")
        for raw in status.get("logs") or ():
            if isinstance(raw, dict):
                self._log(raw)

    def _vertex(self, raw: dict[str, Any]) -> None:
        digest, name = str(raw.get("digest", "")), str(raw.get("name", ""))
        vertex = self._vertices.get((digest, name))
        new = vertex is None
        if vertex is None:
            vertex = self._new_vertex(digest, name)
        started, completed = buildkit_time(raw.get("started")), buildkit_time(raw.get("completed"))
        error, cached = str(raw.get("error") or ""), bool(raw.get("cached"))
        if not new and (started, completed, error) == (
            vertex.started,
            vertex.completed,
            vertex.error,
        ):
            return
        if started is not None and vertex.started is None:
            self._say(f"#{vertex.number} {name}")
        vertex.started, vertex.completed, vertex.cached = started, completed, cached
        kind: EventKind = "export" if vertex.export else "step"
        if error and not vertex.error:
            vertex.error = error
            if _CANCELED.search(error):
                self._say(f"#{vertex.number} CANCELED")
            else:
                self._say(f"#{vertex.number} ERROR: {error}")
                self.failures.append((vertex.target, vertex.platform, error))
        elif completed is not None:
            took = completed - (started or completed)
            self._say(
                f"#{vertex.number} CACHED" if cached else f"#{vertex.number} DONE {took:.1f}s"
            )
            if vertex.export and digest in self._pushed:
                kind = "pushed"
        if vertex.error:
            kind = "canceled" if _CANCELED.search(vertex.error) else "error"
        if not vertex.ignored:
            notify(
                BuildEvent(
                    vertex.target, vertex.platform, kind, vertex.error or vertex.text,
                    vertex.number, started, completed, cached,
                )
            )  # fmt: skip

    def _new_vertex(self, digest: str, name: str) -> _Vertex:
        number = len(self._vertices) + 1
        self._numbers.setdefault(digest, number)
        labels: list[str] = []
        text = name
        if m := _NAME.match(name):
            labels, text = m.group("labels").split(), name[m.end() :]
        target, platform, counter = self._where(labels)
        # `[internal] load local bake definitions` is bake's own (no target names it when it builds several);
        # `resolving provenance for metadata file` comes after the export, for the metadata file.
        ignored = target == "?" or text.startswith(("load local bake", "resolving provenance"))
        export = text.startswith(
            ("exporting to", "pushing")
        )  # not `exporting cache`: the image is pushed
        vertex = _Vertex(number, target, platform, f"{counter} {text}".strip(), export, ignored)
        self._vertices[(digest, name)] = vertex
        return vertex

    def _log(self, raw: dict[str, Any]) -> None:
        number = self._numbers.get(str(raw.get("vertex", "")))
        try:
            data = base64.b64decode(str(raw.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            return
        for text in data.decode(errors="replace").splitlines():
            self._say(f"#{number or 0} {text}")

    # -- the failure ---------------------------------------------------------------------------------
    def describe(self) -> str | None:
        if not self.failures:
            return None
        target, platform, message = self.failures[0]
        where = f"target {target}" + (f" for {platform}" if platform else "")
        more = f" (and {len(self.failures) - 1} more failure(s))" if len(self.failures) > 1 else ""
        what = "push" if self.push_failed else "build"
        return f"{what} of {where} failed: {message}{more}"

    @property
    def push_failed(self) -> bool:
        return bool(self.failures) and self.failures[0][2].startswith("failed to push")


def run_bake(
    runner: Runner,
    bake_file: Path,
    targets: Sequence[str],
    *,
    cwd: Path,
    metadata_file: Path | None = None,
    echo: Callable[[str], None] | None = None,
    platform: str | None = None,
    source: str | None = None,
) -> None:
    """Run one bake of a rendered file; a failure names the target and platform that failed (and, for an
    input mistake such as a missing Dockerfile, the project file `source` and the fix: exit 2)."""
    if echo is None and runner.echo_output:
        echo = lambda line: runner.log("  " + line)  # noqa: E731
    log = BuildLog(echo, targets, platform)
    # The live view and state lines show what BuildKit reports, so they ask for its own events (rawjson);
    # anyone else (`--progress plain`, CI splits) gets buildx's plain text, as it is.
    progress = "rawjson" if observed() else "plain"
    try:
        runner.bake(
            [bake_file],
            targets,
            metadata_file=metadata_file,
            cwd=cwd,
            progress=progress,
            on_line=log,
        )
    except BuildError as exc:
        if log.rawjson and exc.detail:  # the command, then the tail as readable lines, not JSON
            exc.detail = "\n".join([exc.detail.split("\n", 1)[0], *log.tail])
        if "failed to connect to the docker API" in (exc.detail or exc.message):
            raise BuildError(
                "the builder needs a Docker daemon and none answers; nothing was built or pushed",
                hint="publish needs a BuildKit builder that can push by digest: `docker buildx create --use "
                "--driver docker-container` (or `--driver remote ADDRESS`), or `bakepy builder create`; "
                "`bakepy doctor` checks it",
                detail=exc.detail,
            ) from exc
        target, _, said = log.failures[0] if log.failures else (log.only, None, exc.message)
        explained = explain_build_failure(said, target, source)
        if explained is not None:
            explained.detail = exc.detail
            raise explained from exc
        described = log.describe()
        hint = (
            "check that the registry is reachable and that you are logged in to it (docker login REGISTRY)"
            if log.push_failed
            else "fix the build and publish again"
        )
        raise BuildError(
            (described or exc.message) + "; no tag was created or moved",
            hint=hint + " (images already pushed by digest are harmless: no tag names them)",
            detail=exc.detail,
        ) from exc


def build_by_digest(
    runner: Runner,
    bake_file: Path,
    targets: Sequence[str],
    *,
    cwd: Path,
    metadata_file: Path,
    echo: Callable[[str], None] | None = None,
    platform: str | None = None,
    source: str | None = None,
) -> dict[str, str]:
    """Run the one bake; return target → pushed digest (from `--metadata-file`)."""
    metadata_file.unlink(missing_ok=True)
    run_bake(
        runner,
        bake_file,
        targets,
        cwd=cwd,
        metadata_file=metadata_file,
        echo=echo,
        platform=platform,
        source=source,
    )
    try:
        metadata = json.loads(metadata_file.read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{metadata_file}: buildx wrote no readable metadata ({exc})") from exc
    digests: dict[str, str] = {}
    for target in targets:
        digest = (metadata.get(target) or {}).get("containerimage.digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise BuildError(
                f"{metadata_file}: no containerimage.digest for target {target}; no tag was moved"
            )
        digests[target] = digest
    return digests


def emulated_platforms(runner: Runner, platforms: Sequence[str]) -> set[str]:
    """Which of `platforms` the active builder runs under emulation (for the summary; never fails a run)."""
    from bakepy.doctor import diagnose_platforms

    try:
        return {p.platform for p in diagnose_platforms(runner, platforms) if p.emulated}
    except Exception:  # a summary detail: a builder that cannot say is not an error
        return set()
