"""The generated CI, run as generated: `bakepy ci gitlab`'s include under gitlab-ci-local (shell executor), and
`bakepy ci github`'s workflow under tests/gha_local.py, against the real stack.

The project: 2 targets × 2 platforms (linux/amd64, linux/arm64) × 2 registries of the stack, tags from tag rules
(so from the git context the plan job computes once). Each build job runs on its own builder: linux/amd64 on
the stack's builder, linux/arm64 on a fresh one of its own (under QEMU). bakepy is installed in every job from
a wheel of this clone, through `[ci] install` (the source a user can change in config). A tag context publishes
complete two-platform indexes in both registries; a merge/pull request context pushes nothing. Everything is
checked through the registries' HTTP API (registry_api), never through bakepy.

gitlab-ci-local 4.56.2 comes from `python tests/stack.py install` (pinned there). Without it the GitLab test
skips locally and fails in CI (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import gha_local
import pytest
import registry_api as api
import stack as stack_manager
from e2e_support import DOCKERFILE, env_for
from stack import Builder, Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("web", "api")
PLATFORMS = {"linux/amd64", "linux/arm64"}
RELEASE = "v1.2.3"
RELEASE_TAGS = [
    "1.2",
    "1.2.3",
    "latest",
]  # semver {{version}}, {{major}}.{{minor}}; latest=auto on a release
BuilderFactory = Callable[[str, Sequence[str] | None], Builder]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this clone: what `[ci] install` points the generated jobs at."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        # the venv's own (locked) setuptools builds it: nothing is downloaded for the build
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
            *("-w", str(out), str(REPO_ROOT)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (found,) = out.glob("bakepy_publish-*.whl")
    return found


def ci_project(root: Path, repo: str, registries: list[str], wheel: Path, ci: str) -> Path:
    """A git repository holding the project; `ci` adds its CI table (runner labels per platform)."""
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    regs = ", ".join(f'"{r}"' for r in registries)
    (root / "bakepy.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]

            [project.metadata]
            tags = ["type=semver,pattern={{{{version}}}}", "type=semver,pattern={{{{major}}}}.{{{{minor}}}}"]

            [ci]
            install = "{wheel}"
            """
        )
        + textwrap.dedent(ci)
        + textwrap.dedent(
            f"""
            [target.web]
            image = "{repo}/web"
            args = {{ FLAVOUR = "web", NONCE = "{uuid.uuid4().hex}" }}

            [target.api]
            image = "{repo}/api"
            args = {{ FLAVOUR = "api", NONCE = "{uuid.uuid4().hex}" }}
            """
        )
    )
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bakepy", "-c", "user.email=bakepy@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=60,
    )


def generate(root: Path, ci: str, output: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bakepy", "ci", ci, "-o", output],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def assert_published(registries: list[str], repo: str) -> None:
    for registry in registries:
        for target in TARGETS:
            assert api.list_tags(registry, f"{repo}/{target}") == RELEASE_TAGS, (registry, target)
            for tag in RELEASE_TAGS:
                _, index = api.get_manifest(registry, f"{repo}/{target}", tag)
                assert api.is_index(index), (registry, target, tag)
                assert api.platforms(index) == PLATFORMS, (registry, target, tag)


def assert_nothing_pushed(registries: list[str], repo: str) -> None:
    for registry in registries:
        for target in TARGETS:
            assert api.list_tags(registry, f"{repo}/{target}") == [], (registry, target)


def ci_env(stack: Stack) -> dict[str, str]:
    """The runner machine's environment: the stack's tools; no BAKEPY_REVISION (jobs read the CI's commit) and
    no PYTHONPATH to this clone (jobs run the bakepy they install)."""
    env = env_for(stack)
    for name in ("BAKEPY_REVISION", "PYTHONPATH", "CI", "GITHUB_ACTIONS", "GITLAB_CI"):
        env.pop(name, None)
    return env


# -- GitLab: gitlab-ci-local -----------------------------------------------------------------------------
def gitlab_ci_local() -> str:
    path = stack_manager.gitlab_ci_local_path()
    if not path.is_file():
        message = "gitlab-ci-local is not installed; run `python tests/stack.py install`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(path)


GITLAB_CI = """\
[ci.gitlab]
executor = "shell"
runners = {{ "linux/amd64" = "amd64-runner", "linux/arm64" = "arm64-runner" }}
"""


def write_gitlab_ci(root: Path, builder: str, arm_builder: str) -> None:
    """The user's own .gitlab-ci.yml beside the generated include: which builder each build job's runner has (a
    shell runner's machine brings its builder, as BUILDX_BUILDER), and a .gitignore for gitlab-ci-local's files."""
    (root / ".gitlab-ci.yml").write_text(
        textwrap.dedent(
            f"""\
            include:
              - local: .gitlab/bakepy.yml

            variables:
              BUILDX_BUILDER: {builder}

            build:linux-arm64:
              variables:
                BUILDX_BUILDER: {arm_builder}
            """
        )
    )
    (root / ".gitignore").write_text(".gitlab-ci-local/\nrecords/\nbakepy-context.env\n")


def gitlab_repository(
    tmp_path: Path, repo: str, registries: list[str], wheel: Path, arm: Builder, stack: Stack
) -> Path:
    """The project with its generated include and the user's own .gitlab-ci.yml, which says which builder
    each build job's runner has (a shell runner's machine brings its builder, as BUILDX_BUILDER)."""
    root = ci_project(tmp_path / "gitlab", repo, registries, wheel, GITLAB_CI.format())
    generate(root, "gitlab", ".gitlab/bakepy.yml")
    write_gitlab_ci(root, stack.builder, arm.name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def run_gitlab(root: Path, stack: Stack, *variables: str) -> subprocess.CompletedProcess[str]:
    env = ci_env(stack)
    argv = [gitlab_ci_local(), "--shell-isolation", "--no-color", "--concurrency", "2"]
    # gitlab-ci-local sets GITLAB_CI=false (not GitLab); GitLab itself sets true, which bakepy reads
    for variable in ("GITLAB_CI=true", "CI_DEFAULT_BRANCH=main", *variables):
        argv += ["--variable", variable]
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=1500)


def test_gitlab_pipeline_runs_as_generated(
    stack: Stack, builder_factory: BuilderFactory, wheel: Path, tmp_path: Path
) -> None:
    registries = list(stack.registries)
    repo = f"bakepy-test/gitlab-run-{uuid.uuid4().hex[:8]}"
    arm = builder_factory(f"gl-arm-{uuid.uuid4().hex[:6]}", ["linux/arm64"])
    root = gitlab_repository(tmp_path, repo, registries, wheel, arm, stack)

    # a merge request: both platforms build, nothing is pushed, no merge job
    mr = run_gitlab(root, stack, "CI_MERGE_REQUEST_IID=7", "CI_PIPELINE_SOURCE=merge_request_event")
    assert mr.returncode == 0, mr.stdout[-6000:] + mr.stderr[-2000:]
    assert "PASS  build:linux-amd64" in mr.stdout and "PASS  build:linux-arm64" in mr.stdout
    assert "merge" not in [line.split()[-1] for line in mr.stdout.splitlines() if "PASS" in line]
    assert "nothing pushed" in mr.stdout
    assert_nothing_pushed(registries, repo)

    # a release tag: plan → two build jobs on two builders → merge
    release = run_gitlab(root, stack, f"CI_COMMIT_TAG={RELEASE}")
    assert release.returncode == 0, release.stdout[-8000:] + release.stderr[-2000:]
    for job in ("plan", "build:linux-amd64", "build:linux-arm64", "merge"):
        assert f"PASS  {job}" in release.stdout, job
    assert_published(registries, repo)


# -- GitHub: tests/gha_local.py ----------------------------------------------------------------------------
# linux/amd64 on its own runner label; linux/arm64 on the default label, which bakepy does not know as native:
# the matrix says qemu: true there, so the QEMU step runs too.
GITHUB_CI = """\
[ci.github]
runners = {{ "linux/amd64" = "amd64-runner", default = "qemu-runner" }}
"""


def run_github(
    root: Path, work: Path, stack: Stack, arm: Builder, event: gha_local.Event
) -> dict[str, list[gha_local.JobRun]]:
    runner = gha_local.LocalRunner(
        root,
        work,
        event,
        runners={
            "ubuntu-latest": stack.builder,
            "amd64-runner": stack.builder,
            "qemu-runner": arm.name,
        },
        env=ci_env(stack),
    )
    return runner.run(root / ".github" / "workflows" / "publish.yml")


def results(runs: dict[str, list[gha_local.JobRun]]) -> dict[str, list[str]]:
    return {job: [r.result for r in rs] for job, rs in runs.items()}


def logs(runs: dict[str, list[gha_local.JobRun]]) -> str:
    return "\n".join(
        f"=== {r.title}: {r.result}\n" + "\n".join(r.log) for rs in runs.values() for r in rs
    )


def test_github_workflow_runs_as_generated(
    stack: Stack, builder_factory: BuilderFactory, wheel: Path, tmp_path: Path
) -> None:
    registries = list(stack.registries)
    repo = f"bakepy-test/github-run-{uuid.uuid4().hex[:8]}"
    arm = builder_factory(f"gh-arm-{uuid.uuid4().hex[:6]}", ["linux/arm64"])
    root = ci_project(tmp_path / "github", repo, registries, wheel, GITHUB_CI.format())
    generate(root, "github", ".github/workflows/publish.yml")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    git(root, "tag", RELEASE)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()

    # a pull request: both platforms build, nothing is pushed, the merge job is skipped
    pr = run_github(
        root,
        tmp_path / "pr",
        stack,
        arm,
        gha_local.Event("pull_request", "refs/pull/7/merge", sha, pr=7),
    )
    assert results(pr) == {
        "plan": ["success"],
        "build": ["success", "success"],
        "merge": ["skipped"],
    }, logs(pr)
    assert "nothing pushed" in logs(pr)
    assert_nothing_pushed(registries, repo)

    # a release tag: plan → build per platform (two runners, two builders; QEMU set up for arm64) → merge
    release = run_github(
        root, tmp_path / "tag", stack, arm, gha_local.Event("push", f"refs/tags/{RELEASE}", sha)
    )
    assert results(release) == {
        "plan": ["success"],
        "build": ["success", "success"],
        "merge": ["success"],
    }, logs(release)
    # the tags' context was computed once, in the plan job, and handed to every build and merge job
    assert json.loads(release["plan"][0].outputs["context"])["tag"] == RELEASE
    arm_build = next(
        r for r in release["build"] if r.matrix and r.matrix["platform"] == "linux/arm64"
    )
    assert arm_build.matrix is not None and arm_build.matrix["qemu"] is True
    assert "QEMU for linux/arm64" in "\n".join(arm_build.log)
    assert_published(registries, repo)


# -- three registries: both files pass their CI's own checks, every secret/variable name is valid -----------
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
THREE_REGISTRIES = """\
[project]
registries = ["{ecr}/acme", "ghcr.io/acme", "registry.example.com:8443/acme"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["latest"]

[ci.gitlab]
runners = {{ "linux/arm64" = "saas-linux-small-arm64", default = "saas-linux-small-amd64" }}
executor = "{executor}"

[target.app]
"""
VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@pytest.mark.parametrize("executor", ["docker", "shell"])
def test_three_registries_pass_actionlint_and_gitlab_ci_local(
    tmp_path: Path, executor: str
) -> None:
    from test_actionlint import lint

    root = tmp_path / "three"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM busybox\n")
    (root / "bakepy.toml").write_text(THREE_REGISTRIES.format(ecr=ECR, executor=executor))
    generate(root, "github", ".github/workflows/publish.yml")
    generate(root, "gitlab", ".gitlab/bakepy.yml")
    workflow = (root / ".github" / "workflows" / "publish.yml").read_text()
    include = (root / ".gitlab" / "bakepy.yml").read_text()

    lint(root / ".github" / "workflows" / "publish.yml")
    assert (
        "aws-actions/configure-aws-credentials" in workflow
        and "aws ecr get-login-password" in include
    )
    github_names = re.findall(r"\$\{\{\s*(?:secrets|vars)\.(\S+)\s*\}\}", workflow)
    assert set(github_names) == {
        "AWS_ROLE_TO_ASSUME",
        "GITHUB_TOKEN",
        "REGISTRY_EXAMPLE_COM_8443_USERNAME",
        "REGISTRY_EXAMPLE_COM_8443_PASSWORD",
    }
    gitlab_names = set(re.findall(r"\$\{?([^\s\"'{}/:$|;]+)", include))
    assert {
        "REGISTRY_EXAMPLE_COM_8443_USERNAME",
        "REGISTRY_EXAMPLE_COM_8443_PASSWORD",
    } <= gitlab_names
    for name in [*github_names, *gitlab_names]:
        assert VALID_NAME.match(name), name
        assert name == "GITHUB_TOKEN" or not name.startswith("GITHUB_"), name

    (root / ".gitlab-ci.yml").write_text("include:\n  - local: .gitlab/bakepy.yml\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITLAB_CI", "GITHUB_ACTIONS")}
    for check in ("--preview", "--list-json"):
        proc = subprocess.run(
            [gitlab_ci_local(), "--no-color", check, "--variable", f"CI_COMMIT_TAG={RELEASE}"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"gitlab-ci-local {check}:\n{proc.stdout}{proc.stderr}"
    jobs = {job["name"] for job in json.loads(proc.stdout)}
    assert jobs == {"plan", "build:linux-amd64", "build:linux-arm64", "merge"}


def test_a_keyless_signing_pipeline_passes_gitlab_ci_local(tmp_path: Path) -> None:
    """The merge job of a signing project installs cosign and asks GitLab for an OIDC token (id_tokens)."""
    root = tmp_path / "signed"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM busybox\n")
    (root / "bakepy.toml").write_text(
        '[project]\nregistries = ["registry.gitlab.com/acme/app"]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        'tags = ["latest"]\n\n[project.sign]\nkeyless = true\n'
        'identity = "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main"\n'
        'issuer = "https://gitlab.com"\n\n[target.app]\n'
    )
    generate(root, "gitlab", ".gitlab/bakepy.yml")
    include = (root / ".gitlab" / "bakepy.yml").read_text()
    assert "SIGSTORE_ID_TOKEN" in include and "apk add --no-cache cosign" in include
    (root / ".gitlab-ci.yml").write_text("include:\n  - local: .gitlab/bakepy.yml\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITLAB_CI", "GITHUB_ACTIONS")}
    proc = subprocess.run(
        [gitlab_ci_local(), "--no-color", "--list-json", "--variable", f"CI_COMMIT_TAG={RELEASE}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"gitlab-ci-local:\n{proc.stdout}{proc.stderr}"
    assert {job["name"] for job in json.loads(proc.stdout)} >= {"plan", "merge"}
