"""metadata-action's documented examples (branch and tag contexts) on real git repositories, and what the
git seam reads in the cases CI meets: a detached HEAD on a tag, a shallow clone, a dirty tree, no git at all."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import new_repo, run_git
from tagging_cases import NOW, Run, runs
from typer.testing import CliRunner

from bakepy.cli.app import app
from bakepy.engine.git import read_git
from bakepy.tagging.context import detect_context, from_git
from bakepy.tagging.rules import MetadataSettings, evaluate

GIT_RUNS = [r for r in runs() if r.event in ("branch", "tag", "dispatch")]


def repo_for(run: Run, root: Path) -> Path:
    """A repository in the state the run's context describes: a branch checked out, or a tag's commit
    checked out detached (as CI checks out a tag)."""
    repo = new_repo(root / "repo")
    if run.event == "tag":
        run_git(repo, "tag", "-a", "-m", "release", run.value)
        run_git(repo, "checkout", "-q", "--detach", run.value)
    elif run.value != "master":
        run_git(repo, "checkout", "-q", "-b", run.value)
    return repo


@pytest.mark.parametrize("run", GIT_RUNS, ids=lambda r: r.id)
def test_documented_example_on_a_real_repository(run: Run, tmp_path: Path) -> None:
    repo = repo_for(run, tmp_path)
    context = detect_context({}, lambda: read_git(repo))
    assert context.source == "git"
    sha = run_git(repo, "rev-parse", "HEAD")
    settings = MetadataSettings.model_validate(run.settings)
    tags = [o.tag for o in evaluate(settings, dataclasses.replace(context, now=NOW))]
    assert tags == run.expected(sha)


def test_detached_head_on_a_tag_and_the_facts(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    run_git(repo, "tag", "v1.2.3")
    run_git(repo, "tag", "v1.10.0")
    run_git(repo, "checkout", "-q", "--detach", "v1.2.3")
    facts = read_git(repo)
    assert facts is not None
    assert facts.branch is None
    assert facts.tags == ("v1.10.0", "v1.2.3")  # version order: the newest first
    assert facts.commit_time == datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
    assert facts.default_branch == "master" and not facts.dirty
    context = from_git(facts)
    assert (context.event, context.tag) == ("tag", "v1.10.0")
    assert "several tags point at HEAD (v1.10.0, v1.2.3); using v1.10.0" in context.notes


def test_shallow_clone_of_a_tag_still_finds_it(tmp_path: Path) -> None:
    origin = new_repo(tmp_path / "origin")
    for n in range(3):
        (origin / "README").write_text(f"change {n}\n")
        run_git(origin, "commit", "-q", "-am", f"change {n}")
    run_git(origin, "tag", "-a", "-m", "release", "v1.2.3")
    origin_url = (tmp_path / "origin").as_uri()
    for args in (["--depth", "1"], ["--depth", "1", "--branch", "v1.2.3"]):
        clone = tmp_path / f"clone{len(args)}"
        run_git(tmp_path, "clone", "-q", *args, origin_url, str(clone))
        assert run_git(clone, "rev-parse", "--is-shallow-repository") == "true"
        facts = read_git(clone)
        assert facts is not None and facts.tags == ("v1.2.3",)
        if "--branch" not in args:
            assert facts.default_branch == "master"  # origin/HEAD
        context = from_git(facts)
        assert (context.event, context.tag) == ("tag", "v1.2.3")
        settings = MetadataSettings.model_validate(
            {"tags": ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}"]}
        )
        assert [o.tag for o in evaluate(settings, context)] == ["1.2.3", "1", "latest"]


def test_dirty_tree_detached_head_without_tag_and_remote(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    run_git(repo, "remote", "add", "origin", "git@github.com:acme/web.git")
    (repo / "README").write_text("changed\n")
    facts = read_git(repo)
    assert facts is not None and facts.dirty and facts.branch == "master"
    context = from_git(facts)
    assert context.source_url == "https://github.com/acme/web"
    assert context.repository == "acme/web"
    assert any("uncommitted changes" in n for n in context.notes)
    run_git(repo, "checkout", "-q", "--detach")
    detached = from_git(read_git(repo))
    assert detached.event == "none" and detached.branch is None
    settings = MetadataSettings.model_validate({"tags": ["type=ref,event=branch", "type=sha"]})
    assert [o.tag for o in evaluate(settings, detached)] == [f"sha-{detached.sha[:7]}"]


def test_no_repository_and_no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert read_git(plain) is None
    repo = new_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert read_git(repo) is None
    assert from_git(None).event == "none"


def test_ci_environment_wins_over_the_checkout_but_fills_the_commit_time(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    sha = run_git(repo, "rev-parse", "HEAD")
    env = {
        "GITLAB_CI": "true",
        "CI_COMMIT_TAG": "v2.0.0",
        "CI_COMMIT_SHA": sha,
        "CI_PIPELINE_SOURCE": "push",
    }
    context = detect_context(env, lambda: read_git(repo))
    assert (context.source, context.tag) == ("gitlab", "v2.0.0")
    assert context.commit_time == datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)


PROJECT = """\
[project]
registries = ["r1.example/acme", "r2.example/acme"]
platforms = ["linux/amd64", "linux/arm64"]

[project.metadata]
tags = [
  "type=semver,pattern={{version}}",
  "type=semver,pattern={{major}}.{{minor}}",
  "type=semver,pattern={{major}}",
  "type=ref,event=branch",
  "type=ref,event=pr",
  "type=sha,enable=event == 'branch'",
]

[target.web]
description = "The web app"
"""


def test_bakepy_tags_json_in_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo", {"bakepy.toml": PROJECT, "Dockerfile": "FROM busybox\n"})
    sha = run_git(repo, "rev-parse", "HEAD")
    monkeypatch.chdir(repo)
    runner = CliRunner()
    result = runner.invoke(app, ["tags", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["context"]["event"] == "branch" and data["context"]["branch"] == "master"
    (web,) = data["targets"]
    assert [t["tag"] for t in web["tags"]] == ["master", f"sha-{sha[:7]}"]
    assert web["registries"]["r2.example"] == [
        {"reference": "r2.example/acme/web:master", "rule": "type=ref,event=branch"},
        {
            "reference": f"r2.example/acme/web:sha-{sha[:7]}",
            "rule": "type=sha,enable=event == 'branch'",
        },
    ]
    assert web["labels"]["org.opencontainers.image.revision"] == sha

    result = runner.invoke(app, ["tags", "--json", "--context", "tag=v1.2.3"])
    web = json.loads(result.stdout)["targets"][0]
    assert [t["tag"] for t in web["tags"]] == ["1.2.3", "1.2", "1", "latest"]
    assert web["labels"]["org.opencontainers.image.version"] == "1.2.3"

    result = runner.invoke(app, ["tags", "--context", "pr=42"])
    assert result.exit_code == 0
    assert "context: pull request 42 at" in result.stdout
    assert "pushes nothing" in result.stdout and "pr-42" in result.stdout

    result = runner.invoke(app, ["plan", "--json", "--context", "tag=v1.2.3"])
    tags = json.loads(result.stdout)["targets"][0]["tags"]["r1.example"]
    assert tags == [f"r1.example/acme/web:{t}" for t in ("1.2.3", "1.2", "1", "latest")]

    result = runner.invoke(app, ["tags", "--context", "colour=red"])
    assert result.exit_code == 2
    assert "--context 'colour=red': write KEY=VALUE" in result.output

    (repo / "bakepy.toml").write_text(
        PROJECT.replace('  "type=ref,event=branch",\n', "").replace(
            "  \"type=sha,enable=event == 'branch'\",\n", ""
        )
    )
    result = runner.invoke(app, ["publish", "--dry-run"])
    assert result.exit_code == 2
    assert "target.web: the context (branch master at" in result.output
    assert "yields no tag" in result.output


def test_publish_reads_metadata_actions_bake_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox\n")
    (project / "bakepy.toml").write_text(
        '[target.docker-metadata-action]\n\n[target.build]\ninherits = ["docker-metadata-action"]\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n\n[group.default]\ntargets = ["build"]\n'
    )
    (project / "meta.json").write_text(
        json.dumps(
            {
                "target": {
                    "docker-metadata-action": {
                        "tags": ["r.example/name/app:1.2.3", "r.example/name/app:latest"],
                        "labels": {"org.opencontainers.image.version": "1.2.3"},
                    }
                }
            }
        )
    )
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        app, ["publish", "--dry-run", "--json", "--metadata-bake", "meta.json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert plan["targets"][0]["tags"] == {
        "r.example": ["r.example/name/app:1.2.3", "r.example/name/app:latest"]
    }
    bake = json.loads((project / ".bakepy" / "docker-bake.json").read_text())
    assert bake["target"]["build"]["labels"] == {"org.opencontainers.image.version": "1.2.3"}
