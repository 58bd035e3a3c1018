"""Where a build runs and what it builds: the `BuildContext` every tag rule, label and annotation reads.

This module owns how the context is found, in this order of precedence: GitHub Actions' environment
(`GITHUB_ACTIONS=true`), GitLab CI's (`GITLAB_CI=true`), then the local git checkout (`GitFacts`, read by
`bakepy.engine.git`: the only part that starts a process), else nothing at all; `source` forces one. Then
`--context key=value` overrides (`tag=v1.2.3`, `branch=main`, `pr=42`, `sha=…`, `event=schedule`, …) preview
another event. Pure: the environment and the git facts are passed in.

A context found once is handed on as JSON (`BuildContext.to_json`, in `BAKEPY_CONTEXT`): a generated CI's plan
job computes it and every build and merge job reads the same one (`from_json`), so they all see one plan: the
same tags, the same creation time, the same schedule date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

__all__ = [
    "CONTEXT_KEYS",
    "CONTEXT_VARIABLE",
    "SOURCES",
    "BuildContext",
    "ContextError",
    "GitFacts",
    "apply_overrides",
    "detect_context",
    "from_git",
    "from_github",
    "from_gitlab",
]

Event = Literal["branch", "tag", "pr", "schedule", "none"]
SOURCES = ("auto", "github", "gitlab", "git", "none")
CONTEXT_VARIABLE = "BAKEPY_CONTEXT"  # a context computed once (the plan job), as JSON
CONTEXT_KEYS = (
    "event",
    "tag",
    "branch",
    "pr",
    "sha",
    "default-branch",
    "base-ref",
    "source-url",
    "date",
)


class ContextError(ValueError):
    """A context value that cannot be used (a bad `--context`, an unreadable event payload)."""


@dataclass(frozen=True)
class GitFacts:
    """What the local git checkout says (read by `bakepy.engine.git.read_git`)."""

    sha: str
    branch: str | None
    """The checked-out branch; None on a detached HEAD."""
    tags: tuple[str, ...] = ()
    """Tags pointing at HEAD, newest version first (found in shallow clones too)."""
    dirty: bool = False
    commit_time: datetime | None = None
    default_branch: str | None = None
    """origin's HEAD branch, else init.defaultBranch."""
    remote_url: str | None = None


@dataclass(frozen=True)
class BuildContext:
    """The event being built. `event` is what the rules test: a push of a branch, of a tag, a pull/merge
    request, or a scheduled run (which is also on a branch); `none` where nothing is known."""

    source: str
    """github, gitlab, git, none; `+context` when `--context` changed it."""
    event: Event
    event_name: str = ""
    """The CI's own name for it (push, pull_request, merge_request_event, schedule, workflow_dispatch…)."""
    branch: str | None = None
    tag: str | None = None
    pr: int | None = None
    sha: str | None = None
    base_ref: str | None = None
    """The branch a pull/merge request targets."""
    default_branch: str | None = None
    source_url: str | None = None
    """Where the source lives (https://host/owner/repo), for `org.opencontainers.image.source` and `url`."""
    commit_time: datetime | None = None
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    dirty: bool = False
    repository: str | None = None
    """owner/repo (GITHUB_REPOSITORY, CI_PROJECT_PATH, or the remote's path)."""
    notes: tuple[str, ...] = ()
    """How the context was found, and what looks wrong (a dirty tree, several tags at HEAD)."""

    @property
    def ref(self) -> str:
        """The git ref, spelled as GitHub spells it (`refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/2/merge`)."""
        if self.event == "pr" and self.pr is not None:
            return f"refs/pull/{self.pr}/merge"
        if self.tag is not None:
            return f"refs/tags/{self.tag}"
        if self.branch is not None:
            return f"refs/heads/{self.branch}"
        return ""

    @property
    def is_default_branch(self) -> bool:
        return (
            self.event in ("branch", "schedule")
            and self.branch is not None
            and self.branch == self.default_branch
        )

    @property
    def created(self) -> datetime:
        """The image's creation time: the commit's, so a rebuild of one commit yields the same labels."""
        return self.commit_time or self.now

    def to_json(self) -> dict[str, object]:
        """Every field, JSON-ready: what `from_json` reads back (a plan job hands it to the other jobs)."""
        return {
            "source": self.source,
            "event": self.event,
            "event_name": self.event_name,
            "branch": self.branch,
            "tag": self.tag,
            "pr": self.pr,
            "sha": self.sha,
            "base_ref": self.base_ref,
            "default_branch": self.default_branch,
            "source_url": self.source_url,
            "commit_time": self.commit_time.isoformat() if self.commit_time else None,
            "now": self.now.isoformat(),
            "dirty": self.dirty,
            "repository": self.repository,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, text: str) -> BuildContext:
        """A context written by `to_json` (as JSON text); ContextError naming what is wrong."""
        where = f"{CONTEXT_VARIABLE}"
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ContextError(f"{where}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ContextError(
                f"{where}: a JSON object written by `bakepy matrix`, not {text[:40]!r}"
            )
        strings = ("event_name", "branch", "tag", "sha", "base_ref", "default_branch", "source_url")
        try:
            values: dict[str, object] = {k: data.get(k) for k in strings if data.get(k) is not None}
            for key in (*strings, "repository"):
                value = data.get(key)
                if value is not None and not isinstance(value, str):
                    raise ContextError(f"{where}: {key} is {value!r}, not a string")
            event = data.get("event")
            if event not in ("branch", "tag", "pr", "schedule", "none"):
                raise ContextError(
                    f"{where}: event {event!r} is not branch, tag, pr, schedule or none"
                )
            pr = data.get("pr")
            if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool)):
                raise ContextError(f"{where}: pr is {pr!r}, not a number")
            times = {
                key: datetime.fromisoformat(str(data[key]))
                for key in ("commit_time", "now")
                if data.get(key) is not None
            }
            notes = data.get("notes") or []
            source = str(data.get("source") or "none")
            return cls(
                source=source if source.endswith("+plan") else f"{source}+plan",
                event=event,
                pr=pr,
                dirty=bool(data.get("dirty")),
                repository=data.get("repository"),
                notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
                **values,  # type: ignore[arg-type]
                **times,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            if isinstance(exc, ContextError):
                raise
            raise ContextError(f"{where}: {exc}") from None

    def describe(self) -> str:
        """One line: `tag v1.2.3 at 90dd603 (from GitHub Actions)`."""
        what = {
            "tag": f"tag {self.tag}",
            "branch": f"branch {self.branch}",
            "pr": f"pull request {self.pr}" + (f" into {self.base_ref}" if self.base_ref else ""),
            "schedule": "scheduled run" + (f" on branch {self.branch}" if self.branch else ""),
            "none": "no git reference",
        }[self.event]
        at = f" at {self.sha[:7]}" if self.sha else ""
        dirty = " with uncommitted changes" if self.dirty else ""
        base, *changes = self.source.split("+")
        said = {"context": ", changed by --context", "plan": ", as the plan job computed it"}
        where = _SOURCE_NAMES.get(base, base) + "".join(said.get(c, "") for c in changes)
        return f"{what}{at}{dirty} (from {where})"


_SOURCE_NAMES = {
    "github": "GitHub Actions",
    "gitlab": "GitLab CI",
    "git": "local git",
    "none": "no git and no CI",
}


def _https(url: str | None) -> str | None:
    """A remote URL as a browsable https URL (`git@host:o/r.git` -> `https://host/o/r`); credentials dropped."""
    if not url:
        return None
    url = url.strip()
    m = re.match(r"^(?:ssh://)?(?:[^@/]+@)?([^:/]+)[:/](?!/)(.+?)(?:\.git)?/?$", url)
    if url.startswith(("http://", "https://")):
        m2 = re.match(r"^(https?)://(?:[^@/]+@)?([^/]+)/(.+?)(?:\.git)?/?$", url)
        return f"{m2[1]}://{m2[2]}/{m2[3]}" if m2 else None
    if m and not url.startswith(("/", "file:", ".")):
        return f"https://{m[1]}/{m[2]}"
    return None


def _event(schedule: bool, pull_request: bool, tag: str | None, branch: str | None) -> Event:
    """What kind of run a CI system's variables describe: a schedule, else a pull or merge request, else a tag, else
    a branch."""
    if schedule:
        return "schedule"
    if pull_request:
        return "pr"
    return "tag" if tag is not None else "branch" if branch is not None else "none"


def from_github(
    env: Mapping[str, str], read_file: Callable[[str], str] | None = None
) -> BuildContext:
    """GitHub Actions: GITHUB_EVENT_NAME, GITHUB_REF, GITHUB_SHA, GITHUB_BASE_REF, and from the event payload
    (GITHUB_EVENT_PATH) the pull request number and the repository's default branch."""
    payload: dict[str, object] = {}
    path = env.get("GITHUB_EVENT_PATH")
    if path:
        try:
            text = read_file(path) if read_file else Path(path).read_text(encoding="utf-8")
            loaded = json.loads(text)
            payload = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            payload = {}
    repo = payload.get("repository")
    repo = repo if isinstance(repo, dict) else {}
    name = env.get("GITHUB_EVENT_NAME", "")
    ref = env.get("GITHUB_REF", "")
    sha = env.get("GITHUB_SHA") or None
    pr: int | None = None
    if m := re.match(r"^refs/pull/(\d+)/", ref):
        pr = int(m[1])
    elif isinstance(payload.get("number"), int):
        pr = int(str(payload["number"]))
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY") or None
    url = str(repo.get("html_url") or "") or (f"{server}/{repository}" if repository else None)
    default = str(repo.get("default_branch") or "") or None
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else None
    event = _event(
        name == "schedule", name.startswith("pull_request") or pr is not None, tag, branch
    )
    return BuildContext(
        source="github",
        event=event,
        event_name=name,
        branch=branch,
        tag=tag,
        pr=pr if event == "pr" else None,
        sha=sha,
        base_ref=env.get("GITHUB_BASE_REF") or None,
        default_branch=default,
        source_url=url,
        repository=repository,
    )


def from_gitlab(env: Mapping[str, str]) -> BuildContext:
    """GitLab CI: CI_COMMIT_TAG, CI_COMMIT_BRANCH, CI_MERGE_REQUEST_IID, CI_DEFAULT_BRANCH, CI_COMMIT_SHA,
    CI_PIPELINE_SOURCE (push, merge_request_event, schedule, web, …), CI_PROJECT_URL."""
    name = env.get("CI_PIPELINE_SOURCE", "")
    tag = env.get("CI_COMMIT_TAG") or None
    mr = env.get("CI_MERGE_REQUEST_IID") or None
    branch = env.get("CI_COMMIT_BRANCH") or env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or None
    event = _event(name == "schedule", mr is not None or name == "merge_request_event", tag, branch)
    commit_time = None
    if env.get("CI_COMMIT_TIMESTAMP"):
        try:
            commit_time = datetime.fromisoformat(env["CI_COMMIT_TIMESTAMP"].replace("Z", "+00:00"))
        except ValueError:
            commit_time = None
    return BuildContext(
        source="gitlab",
        event=event,
        event_name=name,
        branch=branch if event != "tag" else None,
        tag=tag,
        pr=int(mr) if mr and mr.isdigit() else None,
        sha=env.get("CI_COMMIT_SHA") or None,
        base_ref=env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") or None,
        default_branch=env.get("CI_DEFAULT_BRANCH") or None,
        source_url=env.get("CI_PROJECT_URL") or None,
        commit_time=commit_time,
        repository=env.get("CI_PROJECT_PATH") or None,
    )


def from_git(facts: GitFacts | None) -> BuildContext:
    """The local checkout: a tag at HEAD makes it a tag build (the release being made), else the branch; a
    detached HEAD without a tag is a build of its commit only."""
    if facts is None:
        return BuildContext(source="none", event="none", notes=("no git repository here",))
    notes = []
    if len(facts.tags) > 1:
        notes.append(f"several tags point at HEAD ({', '.join(facts.tags)}); using {facts.tags[0]}")
    if facts.dirty:
        notes.append(
            f"the working tree has uncommitted changes: the image is not exactly commit {facts.sha[:7]}"
        )
    url = _https(facts.remote_url)
    repository = url.split("/", 3)[3] if url and url.count("/") >= 4 else None
    tag = facts.tags[0] if facts.tags else None
    event: Event = "tag" if tag else "branch" if facts.branch else "none"
    if event == "none":
        notes.append(f"detached HEAD at {facts.sha[:7]} with no tag: only sha and raw rules apply")
    return BuildContext(
        source="git",
        event=event,
        event_name="push",
        branch=facts.branch if event == "branch" else None,
        tag=tag,
        sha=facts.sha,
        default_branch=facts.default_branch,
        source_url=url,
        commit_time=facts.commit_time,
        dirty=facts.dirty,
        repository=repository,
        notes=tuple(notes),
    )


def detect_context(
    env: Mapping[str, str],
    read_git: Callable[[], GitFacts | None],
    *,
    source: str = "auto",
) -> BuildContext:
    """The context by precedence (GitHub Actions, GitLab CI, local git, none), or the one `source` forces.

    In CI the local git is still read for what the environment leaves out (the commit time, a remote URL),
    never for the ref: a CI checkout is a detached HEAD, and a shallow one."""
    if source not in SOURCES:
        raise ContextError(f"unknown context source {source!r}; use one of {', '.join(SOURCES)}")
    if source == "none":
        return BuildContext(source="none", event="none")
    if source == "auto" and env.get(CONTEXT_VARIABLE):
        return BuildContext.from_json(
            env[CONTEXT_VARIABLE]
        )  # the plan job's, for every job of the run
    if source == "github" or (source == "auto" and env.get("GITHUB_ACTIONS") == "true"):
        found = from_github(env)
    elif source == "gitlab" or (source == "auto" and env.get("GITLAB_CI") == "true"):
        found = from_gitlab(env)
    else:
        return from_git(read_git())
    facts = read_git() if found.commit_time is None or found.source_url is None else None
    if facts is not None and (found.sha is None or facts.sha == found.sha):
        found = replace(
            found,
            commit_time=found.commit_time or facts.commit_time,
            source_url=found.source_url or _https(facts.remote_url),
            sha=found.sha or facts.sha,
        )
    return found


def apply_overrides(context: BuildContext, overrides: Sequence[str]) -> BuildContext:
    """`--context key=value` on top of a context, to preview another event: `tag=v1.2.3` (a tag push),
    `branch=main`, `pr=42`, `event=schedule`, `sha=…`, `default-branch=main`, `base-ref=main`,
    `source-url=…`, `date=2020-01-10T00:30:00Z` (the run's time, which schedule patterns print)."""
    if not overrides:
        return context
    values: dict[str, str] = {}
    for item in overrides:
        key, eq, value = item.partition("=")
        key = key.strip().replace("_", "-")
        if not eq or key not in CONTEXT_KEYS:
            raise ContextError(
                f"--context {item!r}: write KEY=VALUE with KEY one of {', '.join(CONTEXT_KEYS)}"
            )
        values[key] = value.strip()
    changes: dict[str, object] = {"source": f"{context.source}+context"}
    event = values.get("event")
    if "tag" in values:
        changes.update(tag=values["tag"] or None, pr=None, event="tag", branch=None)
    if "branch" in values:
        changes.update(branch=values["branch"] or None, event="branch")
        if "tag" not in values:
            changes.update(tag=None, pr=None)
    if "pr" in values:
        if not values["pr"].isdigit():
            raise ContextError(f"--context pr={values['pr']!r}: a pull request number, e.g. pr=42")
        changes.update(pr=int(values["pr"]), event="pr", tag=None)
    if event is not None:
        aliases = {"push": "branch", "pull_request": "pr", "merge_request": "pr"}
        event = aliases.get(event, event)
        if event not in ("branch", "tag", "pr", "schedule", "none"):
            raise ContextError(
                f"--context event={values['event']!r}: use branch, tag, pr, schedule or none"
            )
        changes["event"] = event
        changes["event_name"] = values["event"]
    if "sha" in values:
        if not re.fullmatch(r"[0-9a-fA-F]{4,64}", values["sha"]):
            raise ContextError(f"--context sha={values['sha']!r}: a commit hash in hex")
        changes["sha"] = values["sha"].lower()
    for key, attr in (
        ("default-branch", "default_branch"),
        ("base-ref", "base_ref"),
        ("source-url", "source_url"),
    ):
        if key in values:
            changes[attr] = values[key] or None
    if "date" in values:
        try:
            when = datetime.fromisoformat(values["date"].replace("Z", "+00:00"))
        except ValueError:
            raise ContextError(
                f"--context date={values['date']!r}: an ISO date, e.g. 2020-01-10T00:30:00Z"
            ) from None
        changes["now"] = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    out = replace(context, **changes)  # type: ignore[arg-type]
    if out.event == "pr" and out.pr is None:
        raise ContextError("--context event=pr needs pr=NUMBER")
    if out.event == "tag" and not out.tag:
        raise ContextError("--context event=tag needs tag=NAME")
    return out
