"""Tags, labels and annotations from git on the real stack: a release tag publishes exactly 1.2.3, 1.2, 1 and
latest in both registries, a branch exactly <branch> and sha-<short> (latest untouched), a pull request
builds both platforms and tags nothing; the image configs carry the OCI labels and the index and manifests
the annotations. Everything is checked through the registries' HTTP API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import registry_api as api
from e2e_support import bakepy, git_env

OCI = "org.opencontainers.image."
RULES = """\
[project]
registries = {registries}
platforms = ["linux/amd64", "linux/arm64"]

[project.metadata]
tags = [
  "type=semver,pattern={{{{version}}}}",
  "type=semver,pattern={{{{major}}}}.{{{{minor}}}}",
  "type=semver,pattern={{{{major}}}}",
  "type=ref,event=branch",
  "type=ref,event=pr",
  "type=sha,enable=event == 'branch'",
]
licenses = "MIT"

[target.web]
image = "{repo}"
description = "The web app"
"""


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def clean_env(stack: Any, **extra: str) -> dict[str, str]:
    """A git identity and fixed commit dates (the clock-based tags stay the same from run to run)."""
    dates = {
        "GIT_COMMITTER_DATE": "2020-01-10T00:30:00+00:00",
        "GIT_AUTHOR_DATE": "2020-01-10T00:30:00+00:00",
    }
    return git_env(stack, **{**dates, **extra})


def digests(registries: list[str], repo: str) -> dict[str, dict[str, str]]:
    return {
        r: {t: api.get_manifest(r, repo, t)[0] for t in api.list_tags(r, repo)} for r in registries
    }


def test_release_branch_and_pull_request(stack: Any, unique_repo: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox\nARG N=0\nRUN uname -m > /arch && echo $N\n")
    (project / "bakepy.toml").write_text(
        RULES.format(registries=json.dumps(stack.registries), repo=unique_repo)
    )
    env = clean_env(stack)
    git(project, "init", "-q", "-b", "main", env=env)
    git(project, "add", "-A", env=env)
    git(project, "commit", "-q", "-m", "first", env=env)
    git(project, "tag", "-a", "-m", "release", "v1.2.3", env=env)
    git(project, "checkout", "-q", "--detach", "v1.2.3", env=env)  # as CI checks out a tag
    sha = git(project, "rev-parse", "HEAD", env=env)

    # -- a release tag: exactly 1.2.3, 1.2, 1, latest in both registries --------------------------
    result = bakepy(["publish", "--json"], project, env)
    assert result.returncode == 0, result.stderr
    release = digests(stack.registries, unique_repo)
    for registry in stack.registries:
        assert sorted(release[registry]) == ["1", "1.2", "1.2.3", "latest"]
        assert len(set(release[registry].values())) == 1  # one index
        _, index = api.get_manifest(registry, unique_repo, "1.2.3")
        assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
        annotations = index.get("annotations") or {}
        assert annotations[OCI + "version"] == "1.2.3"
        assert annotations[OCI + "revision"] == sha
        assert annotations[OCI + "created"] == "2020-01-10T00:30:00Z"
        assert annotations[OCI + "licenses"] == "MIT"
        for platform, descriptor in api.image_manifests(index).items():
            _, manifest = api.get_manifest(registry, unique_repo, descriptor["digest"])
            assert manifest["annotations"][OCI + "version"] == "1.2.3", platform
            config = json.loads(api.get_blob(registry, unique_repo, manifest["config"]["digest"]))
            labels = config["config"]["Labels"]
            assert labels[OCI + "version"] == "1.2.3"
            assert labels[OCI + "revision"] == sha
            assert labels[OCI + "description"] == "The web app"
            assert labels[OCI + "title"] == unique_repo.rsplit("/", 1)[1]
            assert labels[OCI + "licenses"] == "MIT"

    # -- a branch: exactly <branch> and sha-<short>, latest untouched -------------------------------
    git(project, "checkout", "-q", "-b", "feature/login", env=env)
    (project / "Dockerfile").write_text("FROM busybox\nARG N=1\nRUN uname -m > /arch && echo $N\n")
    git(project, "commit", "-q", "-am", "second", env=env)
    branch_sha = git(project, "rev-parse", "HEAD", env=env)
    result = bakepy(["publish", "--json"], project, env)
    assert result.returncode == 0, result.stderr
    after = digests(stack.registries, unique_repo)
    short = f"sha-{branch_sha[:7]}"
    for registry in stack.registries:
        added = set(after[registry]) - set(release[registry])
        assert added == {"feature-login", short}
        for tag in ("latest", "1.2.3", "1.2", "1"):
            assert after[registry][tag] == release[registry][tag]
        _, index = api.get_manifest(registry, unique_repo, "feature-login")
        assert index["annotations"][OCI + "version"] == "feature-login"
        assert index["annotations"][OCI + "revision"] == branch_sha

    # -- a pull request (GitHub Actions' environment): both platforms built, nothing pushed --------
    pr_env = clean_env(
        stack,
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_REF="refs/pull/7/merge",
        GITHUB_SHA=branch_sha,
        GITHUB_BASE_REF="main",
    )
    (project / "Dockerfile").write_text("FROM busybox\nARG N=2\nRUN uname -m > /arch && echo $N\n")
    result = bakepy(["publish", "--json"], project, pr_env)
    assert result.returncode == 0, result.stderr
    assert "pull request 7 into main" in result.stderr
    assert "building every platform without pushing" in result.stderr
    report = json.loads(result.stdout)
    assert report["pushed"] is False and report["published"] == []
    assert report["built"] == [
        {"target": "web", "platform": "linux/amd64"},
        {"target": "web", "platform": "linux/arm64"},
    ]
    bake = json.loads(Path(report["bake_file"]).read_text())
    assert bake["target"]["web"]["output"] == ["type=cacheonly"]
    assert bake["target"]["web"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert digests(stack.registries, unique_repo) == after  # no tag created or moved
