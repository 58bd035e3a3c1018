"""The one seam to git: what the local checkout says about the commit being built (`GitFacts`).

A few read-only `git` calls (no fetch, nothing written): HEAD's commit and time, the branch (none on a detached
HEAD), the tags pointing at HEAD (`git tag --points-at HEAD` reads the refs the clone has, so a shallow clone
of a tag finds it), whether the tree is dirty, the default branch (origin's HEAD, else init.defaultBranch) and
origin's URL. No git, or no repository, is `None`: the caller builds without a git context.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bakepy.tagging.context import GitFacts

__all__ = ["origin_url", "read_git"]


def _git(git: str, cwd: Path, args: list[str], log: Callable[[str], None] | None) -> str | None:
    argv = [git, *args]
    if log is not None:
        log("+ " + shlex.join(argv))
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def read_git(cwd: Path, log: Callable[[str], None] | None = None) -> GitFacts | None:
    """The checkout `cwd` is in, or None (git not installed, not a repository, no commit yet)."""
    git = shutil.which("git")
    if git is None:
        return None
    head = _git(git, cwd, ["show", "-s", "--format=%H%n%cI", "HEAD"], log)
    if not head:
        return None
    sha, _, when = head.partition("\n")
    try:
        commit_time: datetime | None = datetime.fromisoformat(when.strip())
    except ValueError:
        commit_time = None
    branch = _git(git, cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"], log) or None
    tags = _git(git, cwd, ["tag", "--points-at", "HEAD", "--sort=-v:refname"], log) or ""
    status = _git(git, cwd, ["status", "--porcelain"], log)
    origin_head = _git(
        git, cwd, ["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], log
    )
    default = origin_head.split("/", 1)[1] if origin_head and "/" in origin_head else None
    if default is None:
        default = _git(git, cwd, ["config", "--get", "init.defaultBranch"], log) or None
    if default is None:  # git's own defaults, where the branch exists
        for name in ("main", "master"):
            if _git(git, cwd, ["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"], log):
                default = name
                break
    remote = _git(git, cwd, ["remote", "get-url", "origin"], log) or None
    return GitFacts(
        sha=sha.strip(),
        branch=branch,
        tags=tuple(t for t in tags.splitlines() if t.strip()),
        dirty=bool(status),
        commit_time=commit_time,
        default_branch=default,
        remote_url=remote,
    )


def origin_url(cwd: Path) -> str | None:
    """origin's URL for the checkout `cwd` is in, or None (no git, no repository, no origin); a repository with
    no commit yet has one too (`bakepy init` in a new project)."""
    git = shutil.which("git")
    return None if git is None else _git(git, cwd, ["remote", "get-url", "origin"], None) or None
