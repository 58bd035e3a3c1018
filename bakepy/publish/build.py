"""Stage 1 of a publish: one `docker buildx bake` that pushes every platform by digest only, so no tag can move.

`BuildLog` follows buildx's plain progress to name the target and platform of a failure, and tells whoever
`observe`s the build (the CLI's live view) what each target × platform is doing, as `BuildEvent`s."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bakepy.engine.runner import Runner
from bakepy.errors import BuildError
from bakepy.inputs import explain_build_failure

# -- 1. build -------------------------------------------------------------------------------------------
# A step line: `#12 [bad linux/arm64 2/2] RUN …`. Inside the brackets buildx names the bake target (only when it
# builds several), the platform (only when there are several), the Dockerfile stage and the step counter.
_STEP = re.compile(r"^#(\d+) \[(?P<labels>[^\]]*)\]")
# An os starts with a letter: `2/2` is a step counter, not a platform.
_PLATFORM = re.compile(r"^[a-z][a-z0-9]*/[a-z0-9_]+(?:/[a-z0-9.]+)?$")
_COUNTER = re.compile(r"^\d+/\d+$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (?P<message>.*)")
_TARGET_ERROR = re.compile(r"^ERROR: target (?P<target>[^:]+): (?P<message>.*)")


@dataclass(frozen=True)
class BuildEvent:
    """What one target × platform is doing: a build `step` (`text` like `2/3 RUN make`), an `export` (pushing by
    digest), an `error`; or, for the whole run (empty target), `built` / `merging`."""

    target: str
    platform: str | None
    kind: Literal["step", "export", "error", "built", "merging"]
    text: str = ""


_OBSERVERS: list[Callable[[BuildEvent], None]] = []


@contextlib.contextmanager
def observe(callback: Callable[[BuildEvent], None]) -> Iterator[None]:
    """Send every `BuildEvent` of the builds run inside to `callback` (from any thread)."""
    _OBSERVERS.append(callback)
    try:
        yield
    finally:
        _OBSERVERS.remove(callback)


def notify(event: BuildEvent) -> None:
    for callback in list(_OBSERVERS):
        callback(event)


class BuildLog:
    """Follows `--progress plain` output to name the target and platform of a failure."""

    def __init__(
        self,
        echo: Callable[[str], None] | None,
        targets: Sequence[str] = (),
        platform: str
        | None = None,  # a one-platform bake: buildx's step labels leave the platform out
    ) -> None:
        self.platform = platform
        self.echo = echo
        self.targets = set(targets)
        self.only = targets[0] if len(targets) == 1 else "?"
        self.steps: dict[str, tuple[str, str | None]] = {}
        self.failures: list[tuple[str, str | None, str]] = []

    def __call__(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        if m := _STEP.match(line):
            labels = m.group("labels").split()
            target = labels[0] if labels and labels[0] in self.targets else self.only
            platform = next((x for x in labels if _PLATFORM.match(x)), self.platform)
            if m.group(1) not in self.steps:
                self.steps[m.group(1)] = (target, platform)
                if _OBSERVERS and "internal" not in labels:
                    counter = next((x for x in labels if _COUNTER.match(x)), "")
                    text = line[m.end() :].strip()
                    kind: Literal["step", "export"] = (
                        "export" if text.startswith(("exporting", "pushing")) else "step"
                    )
                    notify(BuildEvent(target, platform, kind, f"{counter} {text}".strip()))
        elif m := _STEP_ERROR.match(line):
            target, platform = self.steps.get(m.group(1), (self.only, None))
            self.failures.append((target, platform, m.group("message")))
            notify(BuildEvent(target, platform, "error", m.group("message")))
        elif (m := _TARGET_ERROR.match(line)) and not any(
            f[0] == m.group("target") for f in self.failures
        ):
            self.failures.append((m.group("target"), None, m.group("message")))

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
    try:
        runner.bake([bake_file], targets, metadata_file=metadata_file, cwd=cwd, on_line=log)
    except BuildError as exc:
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
