"""CI build matrices: a publish plan split into build jobs, one per platform (or per target and platform).

This module owns how a plan becomes CI jobs: which runner label each platform builds on, which targets each job
builds, and whether the job needs QEMU — `needs_qemu` is the one answer every format (json, github, gitlab) and
every generated file reads. A platform builds natively when `[project] runners` names a runner for it, when the
`default` runner is a hosted runner whose machine is known to run it (e.g. `ubuntu-latest` for linux/amd64), or,
with no runner at all, when the CI's own default runner runs it (x86-64 on GitHub and GitLab.com); anywhere else
the job sets up QEMU and says so (setup-qemu-action#22: emulation is slow, so it must be visible). Pure: no
files, no processes.

Peers: docker/bake-action's `subaction/matrix` splits a bake file into a matrix of one target per job, and
docker/github-builder runs one bake target per call (its issue #43). Here one job builds every target of its
platform in one bake (one BuildKit session, shared cache), and `--by target-platform` gives the finer split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bakepy.publish.plan import PublishPlan

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_RUNNER_PLATFORMS",
    "GITHUB_DEFAULT_RUNNER",
    "GITHUB_MATRIX_LIMIT",
    "By",
    "MatrixEntry",
    "changed_dotenv",
    "changed_variable",
    "matrix_entries",
    "matrix_github",
    "matrix_gitlab",
    "matrix_json",
    "native_platforms",
    "needs_qemu",
    "parse_runner_overrides",
    "platform_slug",
]

By = Literal["platform", "target-platform"]
DEFAULT_KEY = "default"
GITHUB_DEFAULT_RUNNER = "ubuntu-latest"

# Hosted runner labels whose machine is known, so the default runner can be trusted to run its own platforms.
# Self-hosted labels are unknown: a platform builds natively there only when `runners` names it explicitly.
_AMD64 = ("linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/386")
_ARM64 = ("linux/arm64",)
_KNOWN_LABELS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"^ubuntu-(latest|\d+\.\d+)$"), _AMD64),  # GitHub-hosted x86-64
    (re.compile(r"^ubuntu-\d+\.\d+-arm$"), _ARM64),  # GitHub-hosted Arm
    (re.compile(r"^saas-linux-[a-z0-9]+-amd64$"), _AMD64),  # GitLab.com hosted x86-64
    (re.compile(r"^saas-linux-[a-z0-9]+-arm64$"), _ARM64),  # GitLab.com hosted Arm
)


# A job with no runner label runs on the CI's default runner: GitHub's `ubuntu-latest` (bakepy's fallback) and
# GitLab.com's shared runners (saas-linux-small-amd64) are x86-64. A self-hosted default of another machine is
# named with `runners.default`, and is then trusted only for what its label says.
DEFAULT_RUNNER_PLATFORMS = _AMD64


def native_platforms(label: str | None) -> tuple[str, ...]:
    """The platforms a hosted runner label runs without emulation; () for a label bakepy does not know."""
    if label is None:
        return ()
    for pattern, platforms in _KNOWN_LABELS:
        if pattern.match(label):
            return platforms
    return ()


def changed_variable(platform: str) -> str:
    """`linux/arm/v7` → `BAKEPY_CHANGED_LINUX_ARM_V7`: the variable (GitLab's plan dotenv) holding the targets a
    `--changed` pipeline builds for that platform, space-separated (empty: its job builds nothing)."""
    return "BAKEPY_CHANGED_" + re.sub(r"[^A-Z0-9]", "_", platform.upper())


def changed_dotenv(plan: PublishPlan) -> str:
    """`BAKEPY_CHANGED_<PLATFORM>=targets` lines for every platform of `plan` (reused targets left out)."""
    platforms: dict[str, list[str]] = {}
    for target in plan.targets:
        for platform in target.platforms:
            platforms.setdefault(platform, [])
            if not target.reuse:
                platforms[platform].append(target.name)
    return "".join(f"{changed_variable(p)}={' '.join(n)}\n" for p, n in platforms.items())


def platform_slug(platform: str) -> str:
    """`linux/arm/v7` → `linux-arm-v7`: usable in job, artifact and file names."""
    return platform.replace("/", "-")


@dataclass(frozen=True)
class MatrixEntry:
    """One build job: a platform, the runner it runs on, the targets it builds, and whether it emulates."""

    platform: str
    runner: str | None  # None: no label configured (the CI's default runner)
    targets: tuple[str, ...]
    qemu: bool
    slug: str  # unique per entry: the artifact and job name suffix

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "runner": self.runner,
            "targets": list(self.targets),
            "qemu": self.qemu,
            "slug": self.slug,
        }


def parse_runner_overrides(values: Sequence[str]) -> dict[str, str]:
    """`--runner PLATFORM=LABEL` values → mapping; ValueError naming the bad one."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, label = value.partition("=")
        key, label = key.strip(), label.strip()
        if not sep or not key or not label:
            raise ValueError(f"{value!r} is not PLATFORM=LABEL (e.g. linux/arm64=ubuntu-24.04-arm)")
        if key != DEFAULT_KEY:
            from bakepy.model import normalize_platform

            key = normalize_platform(key)
        out[key] = label
    return out


def needs_qemu(platform: str, label: str | None, *, configured: bool = False) -> bool:
    """Whether a job building `platform` on runner `label` must register QEMU: not where the runner's machine
    runs the platform natively. `configured`: `runners` names this label for this very platform (a native runner
    by definition, even a self-hosted label bakepy does not know); `label` None: the CI's default runner."""
    if configured:
        return False
    native = DEFAULT_RUNNER_PLATFORMS if label is None else native_platforms(label)
    return platform not in native


def _runner(
    platform: str, runners: Mapping[str, str], fallback: str | None
) -> tuple[str | None, bool]:
    """The runner label of `platform` and whether it builds there natively."""
    configured = platform in runners
    label = runners[platform] if configured else runners.get(DEFAULT_KEY, fallback)
    return label, not needs_qemu(platform, label, configured=configured)


def matrix_entries(
    plan: PublishPlan,
    runners: Mapping[str, str],
    *,
    by: By = "platform",
    fallback_runner: str | None = None,
    limit: int = 256,
) -> list[MatrixEntry]:
    """The build jobs of `plan`: per platform (every target building it, in plan order) or per target × platform.

    `runners` maps platforms (and `default`) to runner labels; `fallback_runner` is used when `default` is not
    set (GitHub needs some `runs-on`). Platforms come in the order they first appear in the plan. A target with
    no platform (the builder's default) cannot be split per platform and is refused. Targets the plan reuses
    (`--changed`) get no job. Per target × platform, more than `limit` jobs (GitHub's 256) are folded into
    per-platform chunks of targets so the matrix stays within it.
    """
    from bakepy.errors import ConfigError

    order: dict[str, list[str]] = {}
    for target in plan.targets:
        if target.reuse:  # `--changed`: unchanged, not built (the merge reuses its index)
            continue
        if not target.platforms:
            raise ConfigError(
                f"target {target.name} sets no platforms, so it cannot be split per platform",
                hint="set platforms on the target or [project] platforms",
            )
        for platform in target.platforms:
            order.setdefault(platform, []).append(target.name)
    entries: list[MatrixEntry] = []
    for platform, targets in order.items():
        label, native = _runner(platform, runners, fallback_runner)
        if by == "platform":
            entries.append(
                MatrixEntry(platform, label, tuple(targets), not native, platform_slug(platform))
            )
        else:
            entries += [
                MatrixEntry(platform, label, (t,), not native, f"{t}--{platform_slug(platform)}")
                for t in targets
            ]
    if by == "target-platform":
        position = {name: i for i, name in enumerate(plan.names)}
        entries.sort(key=lambda e: position[e.targets[0]])  # stable: platforms keep their order
        if len(entries) > limit:
            entries = _within(entries, limit)
    return entries


GITHUB_MATRIX_LIMIT = 256
"""GitHub Actions runs at most 256 jobs per matrix (its documented limit); a larger one fails the workflow."""


def _within(entries: Sequence[MatrixEntry], limit: int) -> list[MatrixEntry]:
    """Per-target jobs folded into at most `limit` jobs: each platform's targets in even chunks (one bake per
    chunk), every platform keeping at least one job. ConfigError when even one job per platform is too many."""
    from bakepy.errors import ConfigError

    by_platform: dict[str, list[MatrixEntry]] = {}
    for e in entries:
        by_platform.setdefault(e.platform, []).append(e)
    if len(by_platform) > limit:
        raise ConfigError(
            f"{len(by_platform)} platforms need {len(by_platform)} build jobs, more than the {limit} a matrix "
            "may hold",
            hint="publish fewer platforms per run (select targets), or split the project",
        )
    total = len(entries)
    out: list[MatrixEntry] = []
    for platform, group in by_platform.items():
        chunks = max(1, limit * len(group) // total)
        size = -(-len(group) // chunks)
        for i in range(0, len(group), size):
            part = group[i : i + size]
            names = tuple(t for e in part for t in e.targets)
            first = part[0]
            out.append(
                MatrixEntry(
                    platform,
                    first.runner,
                    names,
                    first.qemu,
                    f"{platform_slug(platform)}--{i // size + 1}",
                )
            )
    return out


def matrix_github(entries: Sequence[MatrixEntry]) -> str:
    """`{"include": [...]}` on one line, for `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`."""
    return json.dumps(
        {"include": [e.to_json() for e in entries]}, separators=(",", ":"), sort_keys=True
    )


def matrix_gitlab(entries: Sequence[MatrixEntry]) -> str:
    """A `parallel: matrix:` list (JSON is YAML): string variables, TARGETS space-separated."""
    rows = [
        {
            "BAKEPY_PLATFORM": e.platform,
            "BAKEPY_RUNNER": e.runner or "",
            "BAKEPY_TARGETS": " ".join(e.targets),
            "BAKEPY_QEMU": "true" if e.qemu else "false",
            "BAKEPY_SLUG": e.slug,
        }
        for e in entries
    ]
    return json.dumps(rows, indent=2, sort_keys=True)


def matrix_json(plan: PublishPlan, entries: Sequence[MatrixEntry], by: By) -> dict[str, Any]:
    """The stable machine shape of `bakepy matrix --format json`."""
    return {"by": by, "fingerprint": plan.fingerprint, "entries": [e.to_json() for e in entries]}
