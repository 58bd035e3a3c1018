"""Tag rules, contexts, labels and annotations (bakepy.tagging), pure: metadata-action's documented examples
against a plain context and against GitHub Actions and GitLab CI environments, plus every bad rule's message."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tagging_cases import DEFAULT_BRANCH, NOW, SHA, Run, runs

from bakepy.config import load_project
from bakepy.errors import ConfigError
from bakepy.model import Project
from bakepy.tagging.apply import PackageFacts, apply_context, read_package_facts
from bakepy.tagging.context import (
    BuildContext,
    ContextError,
    GitFacts,
    apply_overrides,
    detect_context,
    from_git,
    from_github,
    from_gitlab,
)
from bakepy.tagging.overlay import overlay_project
from bakepy.tagging.rules import MetadataSettings, evaluate
from bakepy.tagging.templates import evaluate_condition, format_date

RUNS = runs()


def plain(run: Run) -> BuildContext:
    event = {"dispatch": "branch"}.get(run.event, run.event)
    return BuildContext(
        source="test",
        event=event,  # type: ignore[arg-type]
        branch=run.value if event in ("branch", "schedule") else None,
        tag=run.value if event == "tag" else None,
        pr=int(run.value) if event == "pr" else None,
        sha=SHA,
        base_ref=DEFAULT_BRANCH if event == "pr" else None,
        default_branch=DEFAULT_BRANCH,
        now=NOW,
    )


def github_env(run: Run, tmp_path: Path) -> dict[str, str]:
    name, ref = {
        "branch": ("push", f"refs/heads/{run.value}"),
        "dispatch": ("workflow_dispatch", f"refs/heads/{run.value}"),
        "schedule": ("schedule", f"refs/heads/{run.value}"),
        "tag": ("push", f"refs/tags/{run.value}"),
        "pr": ("pull_request", f"refs/pull/{run.value}/merge"),
    }[run.event]
    payload: dict[str, Any] = {"repository": {"default_branch": DEFAULT_BRANCH}}
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": name,
        "GITHUB_REF": ref,
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": "octocat/hello-world",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    if run.event == "pr":
        payload["number"] = int(run.value)
        env["GITHUB_BASE_REF"] = DEFAULT_BRANCH
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env["GITHUB_EVENT_PATH"] = str(path)
    return env


def gitlab_env(run: Run) -> dict[str, str]:
    env = {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": SHA,
        "CI_DEFAULT_BRANCH": DEFAULT_BRANCH,
        "CI_PROJECT_URL": "https://gitlab.example/group/app",
        "CI_PROJECT_PATH": "group/app",
    }
    if run.event in ("branch", "dispatch", "schedule"):
        env["CI_COMMIT_BRANCH"] = run.value
        env["CI_PIPELINE_SOURCE"] = {"branch": "push", "dispatch": "web"}.get(run.event, run.event)
    elif run.event == "tag":
        env["CI_COMMIT_TAG"] = run.value
        env["CI_PIPELINE_SOURCE"] = "push"
    else:
        env["CI_MERGE_REQUEST_IID"] = run.value
        env["CI_PIPELINE_SOURCE"] = "merge_request_event"
        env["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] = DEFAULT_BRANCH
        env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = "feature"
    return env


def no_git() -> GitFacts | None:
    return None


def tags_of(settings: dict[str, Any], context: BuildContext) -> list[str]:
    return [o.tag for o in evaluate(MetadataSettings.model_validate(settings), context)]


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.id)
def test_documented_example_in_a_plain_context(run: Run) -> None:
    assert tags_of(run.settings, plain(run)) == run.expected()


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.id)
def test_documented_example_on_github_actions(run: Run, tmp_path: Path) -> None:
    context = detect_context(github_env(run, tmp_path), no_git)
    assert context.source == "github"
    assert tags_of(run.settings, dataclasses.replace(context, now=NOW)) == run.expected()


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.id)
def test_documented_example_on_gitlab_ci(run: Run) -> None:
    context = detect_context(gitlab_env(run), no_git)
    assert context.source == "gitlab"
    assert tags_of(run.settings, dataclasses.replace(context, now=NOW)) == run.expected()


def test_the_date_formats_of_the_documentation() -> None:
    when = datetime(2020, 1, 10, 15, 25, 50, tzinfo=timezone.utc)
    assert (
        format_date(when, "dddd, MMMM Do YYYY, h:mm:ss a")
        == "Friday, January 10th 2020, 3:25:50 pm"
    )
    assert format_date(NOW, "YYYYMMDD-HHmmss", "Asia/Tokyo") == "20200110-093000"
    assert format_date(NOW, "YYYY-MM-DDTHH:mm:ss.SSS[Z]") == "2020-01-10T00:30:00.000Z"


def test_commit_date_falls_back_to_now_and_reads_the_commit_time() -> None:
    settings = {"tags": ["type=raw,value={{commit_date 'YYYYMMDD'}}"]}
    context = BuildContext(source="t", event="branch", branch="x", now=NOW)
    assert tags_of(settings, context) == ["20200110"]
    committed = dataclasses.replace(context, commit_time=datetime(2019, 5, 1, tzinfo=timezone.utc))
    assert tags_of(settings, committed) == ["20190501"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("true", True),
        ("false", False),
        ("{{is_default_branch}}", True),
        ("!{{is_default_branch}}", False),
        ("event == 'branch' && branch == 'master'", True),
        ("event == 'tag' || branch != 'master'", False),
        ("startsWith(ref, 'refs/heads/')", True),
        ("endsWith(ref, '/master') && !contains(ref, 'tags')", True),
        ("(event == 'pr') || (sha == '" + SHA + "')", True),
        ("default_branch == 'MASTER'", True),  # compared as GitHub compares strings: ignoring case
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    context = BuildContext(
        source="t", event="branch", branch="master", default_branch="master", sha=SHA
    )
    assert evaluate_condition(condition, context) is expected


# -- contexts -------------------------------------------------------------------------------------------
def test_github_pr_number_comes_from_the_payload_when_the_ref_does_not_say(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "number": 42,
                "repository": {"default_branch": "main", "html_url": "https://github.com/o/r"},
            }
        )
    )
    context = from_github(
        {
            "GITHUB_EVENT_NAME": "pull_request_target",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_BASE_REF": "main",
            "GITHUB_SHA": SHA,
        }
    )
    assert (context.event, context.pr, context.default_branch) == ("pr", 42, "main")
    assert context.source_url == "https://github.com/o/r"
    assert context.describe() == "pull request 42 into main at 860c190 (from GitHub Actions)"


def test_precedence_github_then_gitlab_then_git_and_forcing_one() -> None:
    facts = GitFacts(sha=SHA, branch="dev", default_branch="main")
    both = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/heads/gh",
        "GITHUB_EVENT_NAME": "push",
        "GITLAB_CI": "true",
        "CI_COMMIT_BRANCH": "gl",
    }
    assert detect_context(both, lambda: facts).branch == "gh"
    assert detect_context(both, lambda: facts, source="gitlab").branch == "gl"
    assert detect_context(both, lambda: facts, source="git").branch == "dev"
    assert detect_context({}, lambda: facts).source == "git"
    assert detect_context({}, no_git).event == "none"
    assert detect_context(both, lambda: facts, source="none").event == "none"
    with pytest.raises(ContextError, match="unknown context source 'svn'"):
        detect_context({}, no_git, source="svn")


def test_local_git_contexts() -> None:
    tagged = from_git(GitFacts(sha=SHA, branch=None, tags=("v1.2.3", "v1.2"), dirty=True))
    assert (tagged.event, tagged.tag) == ("tag", "v1.2.3")
    assert any("several tags" in n for n in tagged.notes)
    assert any("uncommitted changes" in n for n in tagged.notes)
    detached = from_git(GitFacts(sha=SHA, branch=None))
    assert detached.event == "none" and "detached HEAD" in detached.notes[0]
    assert from_git(None).describe() == "no git reference (from no git and no CI)"
    remote = from_git(GitFacts(sha=SHA, branch="x", remote_url="git@github.com:o/r.git"))
    assert remote.source_url == "https://github.com/o/r"
    https = from_git(
        GitFacts(sha=SHA, branch="x", remote_url="https://user:token@gitlab.example/g/r.git")
    )
    assert https.source_url == "https://gitlab.example/g/r"


def test_gitlab_schedule_and_merge_request() -> None:
    schedule = from_gitlab(
        {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
    )
    assert schedule.event == "schedule" and schedule.is_default_branch
    mr = from_gitlab({"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "9"})
    assert (mr.event, mr.pr, mr.ref) == ("pr", 9, "refs/pull/9/merge")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["tag=v1.2.3"], ("tag", None, "v1.2.3", None)),
        (["branch=main"], ("branch", "main", None, None)),
        (["pr=5"], ("pr", "dev", None, 5)),
        (["event=schedule"], ("schedule", "dev", None, None)),
        (["event=schedule", "branch=main"], ("schedule", "main", None, None)),
    ],
)
def test_context_overrides(overrides: list[str], expected: tuple[Any, ...]) -> None:
    base = BuildContext(source="git", event="branch", branch="dev", sha=SHA)
    got = apply_overrides(base, overrides)
    assert (got.event, got.branch, got.tag, got.pr) == expected
    assert got.source == "git+context"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tag"], "--context 'tag': write KEY=VALUE with KEY one of event, tag, branch"),
        (["colour=red"], "--context 'colour=red': write KEY=VALUE"),
        (["pr=abc"], "--context pr='abc': a pull request number, e.g. pr=42"),
        (["event=release"], "--context event='release': use branch, tag, pr, schedule or none"),
        (["sha=xyz"], "--context sha='xyz': a commit hash in hex"),
        (["date=yesterday"], "--context date='yesterday': an ISO date"),
        (["event=pr"], "--context event=pr needs pr=NUMBER"),
    ],
)
def test_bad_context_overrides(overrides: list[str], message: str) -> None:
    base = BuildContext(source="git", event="branch", branch="dev", sha=SHA)
    with pytest.raises(ContextError) as caught:
        apply_overrides(base, overrides)
    assert str(caught.value).startswith(message)


# -- bad rules: one line each, with the path and the fix ---------------------------------------------------
BAD_RULES = [
    (
        ["type=semvr,pattern={{version}}"],
        "project.metadata.tags[0].type: unknown rule type 'semvr'; did you mean 'semver'?",
    ),
    (
        [{"type": "semver", "pattern": "{{majr}}"}],
        "project.metadata.tags[0].pattern: unknown expression {{majr}}; did you mean {{major}}?",
    ),
    (
        [{"type": "semver"}],
        "project.metadata.tags[0].pattern: a semver rule needs a pattern, e.g. '{{version}}' or '{{major}}.{{minor}}'",
    ),
    (
        [{"type": "ref"}],
        "project.metadata.tags[0].event: a ref rule needs event = branch, tag or pr",
    ),
    (
        ["type=ref,event=push"],
        "project.metadata.tags[0].event: 'push' is not one of 'branch', 'tag' or 'pr'",
    ),
    (
        [{"type": "sha", "pattern": "x"}],
        "project.metadata.tags[0].pattern: 'pattern' does not apply to a sha rule (its keys: type, enable, priority, prefix, suffix, format)",
    ),
    (
        [{"value": "x"}],
        "project.metadata.tags[0]: a tag rule needs a type: one of schedule, semver, pep440, match, edge, ref, raw, sha",
    ),
    (
        ["type=match,pattern=v(\\d"],
        "project.metadata.tags[0].pattern: 'v(\\\\d' is not a regular expression: missing ), unterminated subpattern at position 1",
    ),
    (
        ["type=match,pattern=v(\\d),group=2"],
        "project.metadata.tags[0].group: group 2 does not exist: the pattern has 1 group(s)",
    ),
    (
        ["type=raw,value=latest,enable=rf == 'x'"],
        "project.metadata.tags[0].enable: unknown name 'rf' in condition; did you mean 'ref'?",
    ),
    (
        ["type=raw,value=x,enable=startsWith(ref"],
        "project.metadata.tags[0].enable: expected , in condition 'startsWith(ref' at its end",
    ),
    (
        ["type=schedule,pattern={{date 'YYYY' tz='Mars/Olympus'}}"],
        "project.metadata.tags[0].pattern: unknown time zone 'Mars/Olympus'; use an IANA name such as 'Europe/Paris'",
    ),
    (
        ["type=raw,value={{branch"],
        "project.metadata.tags[0].value: unfinished expression in '{{branch'; write {{name}} or {{date 'FORMAT' tz='ZONE'}}",
    ),
]


def toml_array(rules: list[Any]) -> str:
    def one(rule: Any) -> str:
        if isinstance(rule, dict):
            return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in rule.items()) + "}"
        return json.dumps(rule)

    return "[" + ", ".join(one(r) for r in rules) + "]"


@pytest.mark.parametrize(("rules", "message"), BAD_RULES, ids=[m for _, m in BAD_RULES])
def test_bad_rules_name_the_path_and_the_fix(
    rules: list[Any], message: str, tmp_path: Path
) -> None:
    toml = tmp_path / "bakepy.toml"
    toml.write_text(
        '[project]\nregistries = ["r.example/a"]\n[project.metadata]\ntags = '
        + toml_array(rules)
        + "\n[target.app]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(toml, tmp_path)
    assert caught.value.message == f"bakepy.toml: {message}"


def test_bad_latest(tmp_path: Path) -> None:
    toml = tmp_path / "bakepy.toml"
    toml.write_text('[project.metadata]\nlatest = "sometimes"\n')
    with pytest.raises(ConfigError) as caught:
        load_project(toml, tmp_path)
    assert caught.value.message == (
        "bakepy.toml: project.metadata.latest: 'sometimes' is not one of 'auto', 'true' or 'false'"
    )


# -- apply: tags into every registry, labels, annotations ------------------------------------------------
def project(settings: dict[str, Any], **target: Any) -> Project:
    return Project.model_validate(
        {
            "project": {
                "registries": ["r1.example/acme", "r2.example/acme"],
                "platforms": ["linux/amd64", "linux/arm64"],
                "metadata": settings,
            },
            "target": {"web": {"description": "The web app", **target}, "base": {"publish": False}},
        }
    )


RELEASE = BuildContext(
    source="test",
    event="tag",
    tag="v1.2.3",
    sha=SHA,
    default_branch="main",
    source_url="https://github.com/acme/web",
    commit_time=datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc),
)
SEMVER = [
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=semver,pattern={{major}}",
    "type=ref,event=branch",
    "type=sha,enable=event == 'branch'",
]


def test_apply_puts_rule_tags_in_every_registry_with_labels_and_annotations() -> None:
    applied, report = apply_context(
        project({"tags": SEMVER}), RELEASE, package=PackageFacts(licenses="MIT")
    )
    web = applied.resolved.targets["web"]
    assert web.tags == tuple(
        f"{r}/web:{t}"
        for r in ("r1.example/acme", "r2.example/acme")
        for t in ("1.2.3", "1.2", "1", "latest")
    )
    assert web.labels == {
        "org.opencontainers.image.created": "2020-01-10T00:30:00Z",
        "org.opencontainers.image.description": "The web app",
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": "https://github.com/acme/web",
        "org.opencontainers.image.title": "web",
        "org.opencontainers.image.url": "https://github.com/acme/web",
        "org.opencontainers.image.version": "1.2.3",
    }
    assert "index:org.opencontainers.image.version=1.2.3" in web.annotations
    assert "manifest:org.opencontainers.image.revision=" + SHA in web.annotations
    assert [o.rule for o in report["web"].tags] == [*SEMVER[:3], "latest=auto"]
    assert "base" not in report  # not published: left alone
    from bakepy.publish.plan import plan_publish

    plan = plan_publish(applied)
    assert plan.target("web").tags_by_registry["r2.example"] == tuple(
        f"r2.example/acme/web:{t}" for t in ("1.2.3", "1.2", "1", "latest")
    )


def test_the_targets_own_labels_and_annotations_win() -> None:
    applied, report = apply_context(
        project(
            {"tags": SEMVER, "annotations": ["index"]},
            labels={"org.opencontainers.image.title": "Web"},
            annotations=["index:org.opencontainers.image.version=9"],
        ),
        RELEASE,
    )
    web = applied.resolved.targets["web"]
    assert web.labels["org.opencontainers.image.title"] == "Web"
    assert "index:org.opencontainers.image.title=Web" in web.annotations
    assert web.annotations.count("index:org.opencontainers.image.version=9") == 1
    assert not any(a.startswith("manifest:") for a in web.annotations)
    assert report["web"].kept == (
        "label org.opencontainers.image.title",
        "index annotation org.opencontainers.image.version",
    )


def test_target_metadata_over_the_projects_and_switches() -> None:
    applied, report = apply_context(
        project(
            {"tags": SEMVER},
            metadata={"tags": ["type=raw,value=stable"], "labels": False, "annotations": []},
        ),
        RELEASE,
    )
    web = applied.resolved.targets["web"]
    assert [o.tag for o in report["web"].tags] == ["stable"]
    assert not web.labels and not web.annotations


def test_one_platform_gets_manifest_annotations_only() -> None:
    applied, _ = apply_context(project({"tags": SEMVER}, platforms=["linux/amd64"]), RELEASE)
    annotations = applied.resolved.targets["web"].annotations
    assert annotations and all(a.startswith("manifest:") for a in annotations)


def test_a_context_yielding_no_tag_is_a_clear_message() -> None:
    branch = dataclasses.replace(RELEASE, event="branch", tag=None, branch="feature")
    rules = ["type=semver,pattern={{version}}"]
    with pytest.raises(ConfigError) as caught:
        apply_context(project({"tags": rules}), branch)
    assert caught.value.message == (
        "target.web: the context (branch feature at 860c190 (from test)) yields no tag: none of its "
        "rules applies (type=semver,pattern={{version}})"
    )
    assert "--no-push" in (caught.value.hint or "")
    applied, report = apply_context(project({"tags": rules}), branch, need_tags=False)
    assert report["web"].tags == () and applied.resolved.targets["web"].tags == ()


def test_metadata_without_tags_takes_metadata_actions_default_rules() -> None:
    """`[project.metadata]` with no `tags` is metadata-action with no `tags` input: schedule, and the ref of a
    branch, a tag or a pull request; `tags = []` says no rule tags at all (labels and annotations only)."""
    contexts = {
        "branch": dataclasses.replace(RELEASE, event="branch", tag=None, branch="main"),
        "tag": RELEASE,
        "pr": dataclasses.replace(RELEASE, event="pr", tag=None, pr=42, base_ref="main"),
        "schedule": dataclasses.replace(RELEASE, event="schedule", tag=None, branch="main"),
    }
    expected = {
        "branch": ["main"],
        "tag": ["v1.2.3", "latest"],
        "pr": ["pr-42"],
        "schedule": ["nightly", "main"],
    }
    for event, context in contexts.items():
        applied, report = apply_context(project({"title": "Web"}), context)
        assert [o.tag for o in report["web"].tags] == expected[event], event
        assert applied.resolved.targets["web"].tags[: len(expected[event])] == tuple(
            f"r1.example/acme/web:{t}" for t in expected[event]
        )
    assert report["web"].rules == (
        "type=schedule",
        "type=ref,event=branch",
        "type=ref,event=tag",
        "type=ref,event=pr",
    )
    applied, report = apply_context(project({"tags": []}), RELEASE)
    assert report["web"].tags == () and applied.resolved.targets["web"].tags == ()
    assert applied.resolved.targets["web"].labels  # labels only


def test_rules_need_registries() -> None:
    bare = Project.model_validate(
        {"project": {"metadata": {"tags": ["type=sha"]}}, "target": {"web": {}}}
    )
    with pytest.raises(ConfigError, match="no registries to put them in"):
        apply_context(bare, RELEASE)


def test_matrix_and_inherited_targets_get_their_metadata() -> None:
    p = Project.model_validate(
        {
            "project": {"registries": ["r.example"], "metadata": {"tags": ["type=ref,event=tag"]}},
            "target": {
                "base": {"metadata": {"prefix": "py-"}, "publish": False},
                "app": {
                    "inherits": ["base"],
                    "publish": True,
                    "name": "app-${v}",
                    "matrix": {"v": ["1", "2"]},
                    "image": "app${v}",
                },
            },
        }
    )
    applied, report = apply_context(p, RELEASE)
    assert applied.resolved.targets["app-1"].tags == (
        "r.example/app1:py-v1.2.3",
        "r.example/app1:latest",
    )
    assert set(report) == {"app-1", "app-2"}


def test_package_facts_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndescription = "An app"\nlicense = "Apache-2.0"\n'
    )
    assert read_package_facts(tmp_path) == PackageFacts("An app", "Apache-2.0")
    (tmp_path / "pyproject.toml").write_text('[project]\nlicense = { text = "MIT" }\n')
    assert read_package_facts(tmp_path) == PackageFacts(None, "MIT")
    assert read_package_facts(tmp_path / "nowhere") == PackageFacts()


def test_python_api_takes_rules() -> None:
    from bakepy import ProjectSettings, Target

    settings = ProjectSettings(
        registries=["r.example"],
        metadata=MetadataSettings(tags=["type=semver,pattern={{version}}", {"type": "sha"}]),  # type: ignore[list-item]
    )
    p = Project(settings=settings, targets={"app": Target()})
    applied, _ = apply_context(p, RELEASE)
    assert applied.resolved.targets["app"].tags[0] == "r.example/app:1.2.3"


# -- metadata-action's bake file as an overlay ----------------------------------------------------------
META_BAKE = {
    "target": {
        "docker-metadata-action": {
            "tags": ["name/app:1.2.3", "name/app:1.2", "name/app:latest"],
            "labels": {"org.opencontainers.image.version": "1.2.3"},
            "annotations": ["manifest:org.opencontainers.image.version=1.2.3"],
            "args": {"DOCKER_META_VERSION": "1.2.3"},
        }
    }
}


def test_metadata_action_bake_file_overlays_the_inheriting_targets(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps(META_BAKE))
    p = Project.model_validate(
        {
            "target": {
                "docker-metadata-action": {},
                "build": {"inherits": ["docker-metadata-action"], "args": {"A": "1"}},
            },
            "group": {"default": {"targets": ["build"]}},
        }
    )
    build = overlay_project(p, tmp_path / "meta.json").resolved.targets["build"]
    assert build.tags == ("name/app:1.2.3", "name/app:1.2", "name/app:latest")
    assert build.labels == {"org.opencontainers.image.version": "1.2.3"}
    assert build.args == {"DOCKER_META_VERSION": "1.2.3", "A": "1"}
    assert build.annotations == ("manifest:org.opencontainers.image.version=1.2.3",)


def test_metadata_bake_files_merge_into_the_placeholder_as_bake_merges_a_later_file(
    tmp_path: Path,
) -> None:
    """metadata-action's README combines bake-file-tags with bake-file-labels (and -annotations): each file is
    merged in turn as buildx's Target.Merge does (tags replaced, labels and args by key with nulls skipped,
    annotations appended), over the placeholder's own values."""
    meta = META_BAKE["target"]["docker-metadata-action"]
    files = {
        "tags.json": {"tags": meta["tags"], "args": meta["args"]},
        "labels.json": {"labels": {**meta["labels"], "org.opencontainers.image.licenses": None}},
        "annotations.json": {"annotations": meta["annotations"]},
    }
    for name, body in files.items():
        (tmp_path / name).write_text(json.dumps({"target": {"docker-metadata-action": body}}))
    p = Project.model_validate(
        {
            "target": {
                "docker-metadata-action": {
                    "tags": ["name/app:placeholder"],
                    "labels": {"org.opencontainers.image.licenses": "MIT"},
                    "annotations": ["manifest:com.example.placeholder=1"],
                },
                "build": {"inherits": ["docker-metadata-action"]},
            },
        }
    )
    build = overlay_project(p, *(tmp_path / name for name in files)).resolved.targets["build"]
    assert build.tags == ("name/app:1.2.3", "name/app:1.2", "name/app:latest")
    assert build.labels == {
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.version": "1.2.3",
    }
    assert build.args == {"DOCKER_META_VERSION": "1.2.3"}
    assert build.annotations == (
        "manifest:com.example.placeholder=1",
        "manifest:org.opencontainers.image.version=1.2.3",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "meta.json: not a JSON bake file"),
        ('{"target": {}}', "meta.json: target: expected exactly one target"),
        ('{"target": {"other": {}}}', "meta.json: target 'other' is not in bakepy.toml"),
        (
            '{"target": {"docker-metadata-action": {"context": "."}}}',
            "meta.json: target.docker-metadata-action.context: metadata-action writes only tags, labels, annotations, args",
        ),
        (
            '{"target": {"docker-metadata-action": {"tags": ["Bad/Name:1"]}}}',
            "meta.json: target.docker-metadata-action.tags[0]:",
        ),
    ],
)
def test_bad_metadata_bake_files(content: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(content)
    p = Project.model_validate({"target": {"docker-metadata-action": {}, "b": {}}})
    with pytest.raises(ConfigError) as caught:
        overlay_project(p, tmp_path / "meta.json")
    assert caught.value.message.replace(str(tmp_path) + "/", "").startswith(message)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (dict(event="tag", tag="v1.2.3"), ["1.2.3", "1.2", "1", "latest"]),
        (dict(event="tag", tag="v0.4.0"), ["0.4.0", "0.4", "latest"]),
        (dict(event="tag", tag="v1.3.0-rc.1"), ["1.3.0-rc.1"]),
        (dict(event="branch", branch="main"), ["edge", "main", "sha-860c190"]),
        (dict(event="branch", branch="feature/login"), ["feature-login", "sha-860c190"]),
        (dict(event="pr", pr=42), ["pr-42"]),
        (dict(event="schedule", branch="main"), ["nightly-20200110", "edge", "main"]),
    ],
)
def test_the_release_example_says_what_it_does(
    context: dict[str, Any], expected: list[str]
) -> None:
    root = Path(__file__).parents[2] / "examples" / "release" / "bakepy.toml"
    loaded = load_project(root, env={})
    found = BuildContext(source="t", sha=SHA, default_branch="main", now=NOW, **context)
    _, report = apply_context(loaded.project, found, need_tags=False)
    assert [o.tag for o in report["release"].tags] == expected


def test_untagged_plan_for_the_ci_matrix_of_a_pull_request() -> None:
    from bakepy.errors import ConfigError as Refused
    from bakepy.publish.plan import plan_publish

    pr = dataclasses.replace(RELEASE, event="pr", tag=None, pr=3)
    applied, _ = apply_context(
        project({"tags": ["type=semver,pattern={{version}}"]}), pr, need_tags=False
    )
    with pytest.raises(Refused, match="publishes nowhere"):
        plan_publish(applied)
    plan = plan_publish(applied, untagged=True)
    web = plan.target("web")
    assert web.repositories == ("r1.example/acme/web", "r2.example/acme/web")
    assert web.tags == () and web.platforms == ("linux/amd64", "linux/arm64")
