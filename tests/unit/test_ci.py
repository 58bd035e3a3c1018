"""Workflow generation: the GitHub workflow and GitLab pipeline, logins, the job summary, the YAML emitter, and
examples/native-runners kept in step with the generator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakepy import __version__
from bakepy.ci.github import github_workflow
from bakepy.ci.gitlab import gitlab_pipeline
from bakepy.ci.matrix import matrix_entries, parse_runner_overrides
from bakepy.ci.split import Missing
from bakepy.ci.summary import summary_markdown
from bakepy.ci.workflow import GITHUB_ACTIONS, WorkflowSpec, login_for, secret_base, workflow_spec
from bakepy.ci.yaml import to_yaml
from bakepy.config import load_project
from bakepy.publish.plan import plan_publish
from bakepy.publish.verify import Published

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native-runners"
GITLAB_RUNNERS = ["linux/arm64=saas-linux-small-arm64", "default=saas-linux-small-amd64"]
SPEC = WorkflowSpec(
    registries=("ghcr.io", "docker.io", "quay.io", "127.0.0.1:5000"),
    cache="gha",
    install="bakepy==9.9.9",
)


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps_of(job) if s.get("uses") == GITHUB_ACTIONS[action]]


# -- GitHub ---------------------------------------------------------------------------------------------
def test_github_workflow_is_plan_build_merge() -> None:
    doc = yaml.safe_load(github_workflow(SPEC))
    jobs = doc["jobs"]
    assert list(jobs) == ["plan", "build", "merge"]
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    assert "bakepy matrix --format github" in steps_of(jobs["plan"])[-1]["run"]
    build = jobs["build"]
    assert build["needs"] == "plan"
    assert build["runs-on"] == "${{ matrix.runner }}"
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["merge"]["needs"] == ["plan", "build"]
    # `on` must stay a string key, not YAML 1.1's boolean
    assert "on" in doc
    assert doc["concurrency"]["cancel-in-progress"] is False


def test_qemu_only_where_the_matrix_says_so() -> None:
    build = yaml.safe_load(github_workflow(SPEC))["jobs"]["build"]
    (qemu,) = uses(build, "setup-qemu")
    assert qemu["if"] == "matrix.qemu"
    assert qemu["with"]["platforms"] == "${{ matrix.platform }}"
    merge = yaml.safe_load(github_workflow(SPEC))["jobs"]["merge"]
    assert uses(merge, "setup-qemu") == []


def test_build_pushes_by_digest_and_uploads_one_artifact_per_platform() -> None:
    build = yaml.safe_load(github_workflow(SPEC))["jobs"]["build"]
    run = next(s for s in steps_of(build) if "bakepy build" in s.get("run", ""))
    assert run["run"] == 'bakepy build --platform "$PLATFORM" --push-by-digest --records records'
    assert run["env"] == {"PLATFORM": "${{ matrix.platform }}"}  # never expanded into the script
    (upload,) = uses(build, "upload-artifact")
    assert upload["with"]["name"] == "bakepy-records-${{ matrix.slug }}"
    assert upload["with"]["if-no-files-found"] == "error"


def test_merge_downloads_every_platform_into_one_folder() -> None:
    merge = yaml.safe_load(github_workflow(SPEC))["jobs"]["merge"]
    (download,) = uses(merge, "download-artifact")
    assert download["with"] == {
        "pattern": "bakepy-records-*",
        "merge-multiple": True,
        "path": "records",
    }
    assert steps_of(merge)[-1]["run"] == "bakepy merge --records records"


def test_gha_cache_is_exposed_to_buildx_only_when_configured() -> None:
    with_gha = yaml.safe_load(github_workflow(SPEC))["jobs"]["build"]
    assert len(uses(with_gha, "github-runtime")) == 1
    without = WorkflowSpec(registries=("ghcr.io",), cache="registry")
    assert uses(yaml.safe_load(github_workflow(without))["jobs"]["build"], "github-runtime") == []


def test_logins_reference_secrets_and_never_hold_values() -> None:
    text = github_workflow(SPEC)
    doc = yaml.safe_load(text)
    logins = {s["with"]["registry"]: s["with"] for s in uses(doc["jobs"]["build"], "login")}
    assert set(logins) == {"ghcr.io", "docker.io", "quay.io"}  # loopback needs none
    assert logins["ghcr.io"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    assert logins["docker.io"] == {
        "registry": "docker.io",
        "username": "${{ secrets.DOCKERHUB_USERNAME }}",
        "password": "${{ secrets.DOCKERHUB_TOKEN }}",
    }
    assert logins["quay.io"]["password"] == "${{ secrets.QUAY_IO_PASSWORD }}"
    assert doc["permissions"] == {"contents": "read", "packages": "write"}
    # a reusable workflow: callers pass the registry secrets as inputs
    assert doc["on"]["workflow_call"]["secrets"] == {
        name: {"required": True}
        for name in (
            "DOCKERHUB_USERNAME",
            "DOCKERHUB_TOKEN",
            "QUAY_IO_USERNAME",
            "QUAY_IO_PASSWORD",
        )
    }
    assert len(uses(doc["jobs"]["merge"], "login")) == 3


def test_project_options_reach_every_bakepy_command() -> None:
    spec = WorkflowSpec(
        registries=("ghcr.io",),
        file="deploy/bakepy.toml",
        targets=("web", "my group"),
        runners=(("linux/arm64", "arm-box"),),
    )
    doc = yaml.safe_load(github_workflow(spec))
    runs = [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]
    commands = [r for r in runs if r.startswith("bakepy ")]
    assert (
        len(commands) == 4
    )  # matrix, build by digest, build without pushing (pull requests), merge
    for run in commands:
        assert run.count("-f deploy/bakepy.toml web 'my group'") == 1
    assert "--runner linux/arm64=arm-box" in commands[0]
    # until the first release on PyPI: the repository's source archive of this version's tag (issue 24 item 10)
    assert (
        "pip install 'bakepy-publish @ https://github.com/bakepy/bakepy/archive/refs/tags/"
        f"v{__version__}.tar.gz'" in runs
    )


def test_login_for() -> None:
    assert login_for("127.0.0.1:5000", "github") is None
    assert login_for("localhost:5000", "gitlab") is None
    gitlab = login_for("registry.gitlab.com", "gitlab")
    assert gitlab is not None and (gitlab.username, gitlab.password) == (
        "CI_REGISTRY_USER",
        "CI_REGISTRY_PASSWORD",
    )
    other = login_for("registry.example.com:8443", "gitlab")
    assert other is not None and other.secrets == (
        "REGISTRY_EXAMPLE_COM_8443_USERNAME",
        "REGISTRY_EXAMPLE_COM_8443_PASSWORD",
    )


# -- GitLab ---------------------------------------------------------------------------------------------
def gitlab_doc(runners: dict[str, str]) -> dict[str, Any]:
    project = load_project(EXAMPLE / "bakepy.toml", env={}).project
    plan = plan_publish(project)
    entries = matrix_entries(plan, {**project.resolved.settings.runners, **runners})
    return dict(
        yaml.safe_load(gitlab_pipeline(workflow_spec(project, plan, runners=runners), entries))
    )


def test_gitlab_has_one_build_job_per_platform_and_qemu_only_where_needed() -> None:
    doc = gitlab_doc(parse_runner_overrides(GITLAB_RUNNERS))
    assert doc["stages"] == ["plan", "build", "merge"]
    builds = {k: v for k, v in doc.items() if k.startswith("build:")}
    assert list(builds) == ["build:linux-amd64", "build:linux-arm64", "build:linux-arm-v7"]
    assert builds["build:linux-arm64"]["tags"] == ["saas-linux-small-arm64"]
    assert builds["build:linux-arm-v7"]["tags"] == ["saas-linux-small-amd64"]
    qemu = {
        k for k, v in builds.items() if any("tonistiigi/binfmt" in line for line in v["script"])
    }
    assert qemu == {"build:linux-arm-v7"}
    for job in builds.values():
        assert job["script"][-1] == (
            'if [ -n "$CI_MERGE_REQUEST_IID" ]; then bakepy build --platform "$BAKEPY_PLATFORM"; '
            'else bakepy build --platform "$BAKEPY_PLATFORM" --push-by-digest --records records; fi'
        )
        assert job["artifacts"]["paths"] == ["records/"]
    assert doc["merge"]["needs"] == ["plan", *builds]
    assert doc["merge"]["script"] == ["bakepy merge --records records"]


def test_gitlab_plan_job_checks_the_pipeline_is_current() -> None:
    doc = gitlab_doc(parse_runner_overrides(GITLAB_RUNNERS))
    check = doc["plan"]["script"][-1]
    assert check.startswith("bakepy ci gitlab --runner linux/arm64=saas-linux-small-arm64")
    assert check.endswith("--check -o .gitlab/bakepy.yml")


def test_gitlab_logins_use_variables() -> None:
    doc = gitlab_doc({})
    before = doc[".bakepy"]["before_script"]
    assert (
        'if [ -z "$CI_MERGE_REQUEST_IID" ]; then echo "$DOCKERHUB_TOKEN" | docker login --username '
        '"$DOCKERHUB_USERNAME" --password-stdin docker.io; fi' in before
    )
    assert any(
        "docker-container" in line for line in before
    )  # the docker driver cannot push by digest


# -- the example stays generated ------------------------------------------------------------------------
def test_example_github_workflow_is_up_to_date() -> None:
    project = load_project(EXAMPLE / "bakepy.toml", env={}).project
    spec = workflow_spec(
        project, plan_publish(project), ci="github", output=".github/workflows/publish.yml"
    )
    assert spec.cache == "gha"  # [ci.github] cache
    expected = github_workflow(spec)
    assert (EXAMPLE / ".github" / "workflows" / "publish.yml").read_text() == expected, (
        "regenerate: cd examples/native-runners && bakepy ci github -o .github/workflows/publish.yml"
    )


def test_example_gitlab_pipeline_is_up_to_date() -> None:
    project = load_project(EXAMPLE / "bakepy.toml", env={}).project
    plan = plan_publish(project)
    assert project.ci.gitlab.runners == parse_runner_overrides(
        GITLAB_RUNNERS
    )  # [ci.gitlab] runners
    entries = matrix_entries(
        plan, {**project.resolved.settings.runners, **project.ci.gitlab.runners}
    )
    spec = workflow_spec(project, plan, ci="gitlab", output=".gitlab/bakepy.yml")
    assert spec.cache == "registry"  # [ci.gitlab] cache
    assert (EXAMPLE / ".gitlab" / "bakepy.yml").read_text() == gitlab_pipeline(spec, entries), (
        "regenerate: cd examples/native-runners && bakepy ci gitlab -o .gitlab/bakepy.yml"
    )
    # the user's own pipeline only includes it
    assert "local: .gitlab/bakepy.yml" in (EXAMPLE / ".gitlab-ci.yml").read_text()


# -- the job summary ------------------------------------------------------------------------------------
def test_summary_markdown() -> None:
    published = [
        Published(
            target="web",
            registry="ghcr.io",
            tags=("ghcr.io/acme/web:latest", "ghcr.io/acme/web:1.0"),
            digest="sha256:" + "c" * 64,
            platforms=("linux/amd64", "linux/arm64"),
            attestations=2,
            moved=("ghcr.io/acme/web:1.0",),
            unchanged=("ghcr.io/acme/web:latest",),
        )
    ]
    text = summary_markdown(published, [Missing("api", "linux/arm64")])
    lines = text.splitlines()
    assert lines[2] == "| target | registry | tags | index digest | platforms |"
    assert lines[4] == (
        "| web | ghcr.io | latest (unchanged), 1.0 | `cccccccccccc` | "
        "linux/amd64, linux/arm64, +2 attestations |"
    )
    assert "api linux/arm64" in lines[-1]


# -- the YAML emitter -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "on",
        "yes",
        "null",
        "3.12",
        "1",
        "0x10",
        "-dash",
        "key: value",
        "a #comment",
        "ends:",
        "*alias",
        "&anchor",
        "!tag",
        "${{ matrix.platform }}",
        '"$X" | docker login',
        "it's",
        "tab\there",
        " padded ",
        "ünïcode",
        "line\nbreak",
        "[flow]",
        "{flow}",
        "@at",
        "%pct",
        "`tick`",
    ],
)
def test_yaml_scalars_round_trip(value: str) -> None:
    data = {"k": value, value or "empty": [value, {"x": value, "y": [value]}]}
    assert yaml.safe_load(to_yaml(data)) == data


def test_yaml_structures_round_trip() -> None:
    data: dict[str, Any] = {
        "a": {"b": [1, True, False, None, {}, []], "c": {}},
        "d": [{"e": 1, "f": [{"g": "h"}]}, [1, 2]],
        "empty": None,
    }
    assert yaml.safe_load(to_yaml(data)) == data


def test_yaml_spacing() -> None:
    assert (
        to_yaml({"a": 1, "b": {"c": 1, "d": 2}}, spaced=("", "b"))
        == "a: 1\n\nb:\n  c: 1\n\n  d: 2\n"
    )


def test_the_docs_show_the_generated_workflow() -> None:
    docs = (EXAMPLE.parents[1] / "docs" / "native-runners.md").read_text()
    workflow = (EXAMPLE / ".github" / "workflows" / "publish.yml").read_text()
    assert f"```yaml\n{workflow}```" in docs, "paste the regenerated example workflow into the docs"


# -- logins that work, and pull requests that push nothing --------------------------------------------------
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
VALID_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def test_secret_names_are_always_valid() -> None:
    for registry in (
        ECR.replace(".dkr.ecr", ".example"),
        "1.2.3.4:5000",
        "github.example.com",
        "quay.io",
    ):
        login = login_for(registry, "gitlab")
        assert login is not None
        for name in login.secrets:
            assert VALID_NAME.match(name) and not name.startswith("GITHUB_"), name
    assert secret_base("1.2.3.4:5000") == "REGISTRY_1_2_3_4_5000"
    assert secret_base("github.example.com") == "REGISTRY_GITHUB_EXAMPLE_COM"


def test_ecr_logs_in_through_an_oidc_role_on_github_and_aws_variables_on_gitlab() -> None:
    doc = yaml.safe_load(github_workflow(WorkflowSpec(registries=(ECR, "ghcr.io", "quay.io"))))
    build = doc["jobs"]["build"]
    (aws,) = uses(build, "aws-credentials")
    assert aws["with"] == {
        "role-to-assume": "${{ vars.AWS_ROLE_TO_ASSUME }}",
        "aws-region": "eu-west-1",
    }
    (ecr,) = uses(build, "ecr-login")
    assert ecr["with"] == {"registries": "123456789012"}
    assert doc["permissions"] == {"contents": "read", "packages": "write", "id-token": "write"}
    secrets = set(doc["on"]["workflow_call"]["secrets"])
    assert secrets == {"QUAY_IO_USERNAME", "QUAY_IO_PASSWORD"}  # ECR and GHCR need none
    gitlab = yaml.safe_load(gitlab_pipeline(WorkflowSpec(registries=(ECR,)), []))
    before = gitlab[".bakepy"]["before_script"]
    assert before[0] == "apk add --no-cache python3 py3-pip aws-cli"
    assert any(
        f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin {ECR}"
        in line
        for line in before
    )


def test_pull_requests_build_every_platform_and_push_nothing() -> None:
    doc = yaml.safe_load(github_workflow(SPEC))
    assert "pull_request" in doc["on"]
    build = doc["jobs"]["build"]
    steps = steps_of(build)
    no_push = next(s for s in steps if s.get("run", "") == 'bakepy build --platform "$PLATFORM"')
    assert no_push["if"] == "!(github.event_name != 'pull_request')"
    for step in uses(build, "login") + uses(build, "upload-artifact"):
        assert step["if"] == "github.event_name != 'pull_request'"
    assert doc["jobs"]["merge"]["if"] == "github.event_name != 'pull_request'"
    gitlab = yaml.safe_load(gitlab_pipeline(WorkflowSpec(registries=("quay.io",)), []))
    assert (
        "workflow" not in gitlab
    )  # an included file leaves workflow rules to the including pipeline
    assert {"if": "$CI_MERGE_REQUEST_IID"} not in gitlab["merge"]["rules"]
    assert {"if": "$CI_MERGE_REQUEST_IID"} in gitlab["plan"]["rules"]


def test_the_docs_show_the_generated_gitlab_file() -> None:
    docs = (EXAMPLE.parents[1] / "docs" / "native-runners.md").read_text()
    generated = (EXAMPLE / ".gitlab" / "bakepy.yml").read_text()
    assert f"```yaml\n{generated}```" in docs, "paste the regenerated GitLab file into the docs"


# -- one context for the whole run; shell runners; merge never on a merge request --------------------------
def test_the_context_is_computed_once_and_read_back() -> None:
    import json

    from bakepy.tagging.context import BuildContext, ContextError, detect_context, from_gitlab

    env = {
        "GITLAB_CI": "true",
        "CI_COMMIT_TAG": "v1.2.3",
        "CI_COMMIT_SHA": "a" * 40,
        "CI_COMMIT_TIMESTAMP": "2024-05-01T10:00:00+00:00",
        "CI_PROJECT_URL": "https://gitlab.example/acme/app",
    }
    found = from_gitlab(env)
    text = json.dumps(found.to_json())
    again = detect_context({"BAKEPY_CONTEXT": text, "CI_COMMIT_TAG": "v9"}, lambda: None)
    assert again.source == "gitlab+plan" and again.tag == "v1.2.3" and again.now == found.now
    assert again.created == found.created and again.source_url == found.source_url
    assert "as the plan job computed it" in again.describe()
    assert BuildContext.from_json(json.dumps(again.to_json())).source == "gitlab+plan"
    for bad, said in (
        ("{", "not JSON"),
        ("[]", "a JSON object"),
        ('{"event": "tag", "pr": "7"}', "pr is '7'"),
        ('{"event": "tag", "now": "yesterday"}', "BAKEPY_CONTEXT: "),
    ):
        with pytest.raises(ContextError, match=re.escape(said)):
            BuildContext.from_json(bad)


def test_github_jobs_read_the_plan_jobs_context() -> None:
    jobs = yaml.safe_load(github_workflow(SPEC))["jobs"]
    assert jobs["plan"]["outputs"]["context"] == "${{ steps.matrix.outputs.context }}"
    for job in ("build", "merge"):
        assert jobs[job]["env"] == {"BAKEPY_CONTEXT": "${{ needs.plan.outputs.context }}"}


def test_gitlab_jobs_read_the_plan_jobs_context_and_merge_skips_merge_requests() -> None:
    doc = gitlab_doc(parse_runner_overrides(GITLAB_RUNNERS))
    assert doc["plan"]["artifacts"] == {"reports": {"dotenv": "bakepy-context.env"}}
    assert "--dotenv bakepy-context.env" in doc["plan"]["script"][-2]
    assert doc["build:linux-arm64"]["needs"] == ["plan"]
    assert doc["merge"]["rules"][0] == {"if": "$CI_MERGE_REQUEST_IID", "when": "never"}


def test_gitlab_shell_executor_uses_the_runners_own_tools() -> None:
    spec = WorkflowSpec(registries=("quay.io", "127.0.0.1:5000"), executor="shell", install="x.whl")
    entries = matrix_entries(
        plan_publish(load_project(EXAMPLE / "bakepy.toml", env={}).project), {"linux/arm64": "arm"}
    )
    doc = yaml.safe_load(gitlab_pipeline(spec, entries))
    assert set(doc[".bakepy"]) == {"before_script"}  # no image, no dind service
    before = doc[".bakepy"]["before_script"]
    assert before[0] == 'python3 -m venv "${TMPDIR:-/tmp}/bakepy-venv-$CI_JOB_ID"'
    assert not any("buildx create" in line or "apk" in line for line in before)
    assert "image" not in doc["plan"] and doc["plan"]["before_script"] == before[:3]
    assert not any(
        "binfmt" in line
        for job in doc.values()
        if isinstance(job, dict)
        for line in job.get("script", [])
    )
    assert "DOCKER_TLS_CERTDIR" not in doc["variables"]


def test_ci_tables_in_the_spec() -> None:
    project = load_project(EXAMPLE / "bakepy.toml", env={}).project
    plan = plan_publish(project)
    assert workflow_spec(project, plan, ci="github").cache == "gha"
    assert workflow_spec(project, plan, ci="gitlab").cache == "registry"
    assert workflow_spec(project, plan).cache is None  # [project] sets none
    assert workflow_spec(project, plan, ci="gitlab").executor == "docker"
