"""`publish --changed` on the real stack (issue 26): a 5-target project in a git repository, two targets sharing a
base through `contexts = { base = "target:base" }`, released at v1.0.0, then

- one file changed in the base's context (v1.0.1): exactly base and its two dependants are built (counted from
  the bake file bakepy rendered for the run), and every target's 1.0.1 and latest are complete in both
  registries, the unchanged targets' 1.0.1 holding their 1.0.0 platform manifests;
- a change only in `.dockerignore`d files (v1.0.2): nothing is built, every tag moves;
- the base image re-pushed with new content (v1.0.3): every target FROM it builds (and the dependants).

Checked through the registries' HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import registry_api as api
from e2e_support import REPO_ROOT, bakepy, git_env
from test_ci_run import wheel, write_gitlab_ci  # noqa: F401  (the fixture: a wheel of this clone for the CI jobs)

PLATFORMS = ["linux/amd64", "linux/arm64"]
TARGETS = ("base", "app1", "app2", "web", "tool")


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def clean_env(stack: Any) -> dict[str, str]:
    return git_env(stack)


def os_image(root: Path, stack: Any, env: dict[str, str], repo: str, content: str) -> None:
    """The shared base image, `<repo>-os:1` in the first registry, (re)pushed with `content`."""
    root.mkdir(exist_ok=True)
    (root / "Dockerfile").write_text(f"FROM busybox\nRUN echo {content} > /os-release-test\n")
    (root / "bakepy.toml").write_text(
        f"[project]\nregistries = {json.dumps(stack.registries[:1])}\nplatforms = {json.dumps(PLATFORMS)}\n"
        f'tags = ["1"]\n[target.os]\nimage = "{repo}-os"\n'
    )
    result = bakepy(["publish", "--json"], root, env)
    assert result.returncode == 0, result.stderr


def project_files(root: Path, os_ref: str, registries: list[str], repo: str) -> None:
    files = {
        "bakepy.toml": f"""\
[project]
registries = {json.dumps(registries)}
platforms = {json.dumps(PLATFORMS)}

[project.metadata]
tags = ["type=semver,pattern={{{{version}}}}"]

[target.base]
context = "base"
image = "{repo}-base"

[target.app1]
context = "app1"
contexts = {{ base = "target:base" }}
image = "{repo}-app1"

[target.app2]
context = "app2"
contexts = {{ base = "target:base" }}
image = "{repo}-app2"

[target.web]
context = "web"
image = "{repo}-web"

[target.tool]
context = "tool"
image = "{repo}-tool"
""",
        "base/Dockerfile": f"FROM {os_ref}\nCOPY base.txt /base.txt\n",
        "base/base.txt": "base 1\n",
        "app1/Dockerfile": "FROM base\nCOPY . /app1\n",
        "app1/main.txt": "app1\n",
        "app2/Dockerfile": "FROM base\nCOPY . /app2\n",
        "app2/main.txt": "app2\n",
        "web/Dockerfile": f"FROM {os_ref}\nCOPY . /web\n",
        "web/.dockerignore": "*.log\nnotes/\n",
        "web/index.html": "<p>hi</p>\n",
        "web/debug.log": "1\n",
        "tool/Dockerfile": "FROM scratch\nCOPY tool.txt /tool.txt\n",
        "tool/tool.txt": "tool\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def release(project: Path, tag: str, env: dict[str, str]) -> tuple[set[str], str]:
    """Commit, tag, check out the tag and `publish --changed`: (targets built by the run, stderr)."""
    if (project / ".git" / "refs" / "heads" / "main").exists():
        git(project, "checkout", "-q", "main", env=env)
    git(project, "add", "-A", env=env)
    git(project, "commit", "-q", "--allow-empty", "-m", tag, env=env)
    git(project, "tag", "-a", "-m", tag, tag, env=env)
    git(project, "checkout", "-q", "--detach", tag, env=env)
    git(project, "branch", "-f", "main", "HEAD", env=env)
    runs = project / ".bakepy" / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    planned = bakepy(["plan", "--changed", "--json"], project, env)
    assert planned.returncode == 0, planned.stderr
    said = {c["target"]: c["build"] for c in json.loads(planned.stdout)["changes"]}
    trace = project.parent / f"trace-{tag}.jsonl"
    result = bakepy(["publish", "--changed"], project, {**env, "BAKEPY_PROGRESS_TRACE": str(trace)})
    assert result.returncode == 0, result.stderr
    (run,) = set(runs.iterdir()) - before
    bake_file = run / "docker-bake.json"
    in_bake: set[str] = set()
    if bake_file.exists():
        bake = json.loads(bake_file.read_text())
        in_bake = {n for n, body in bake["target"].items() if body.get("output")}
    # counted from BuildKit's steps: the units the live view saw BuildKit build (or push), and the rest reused
    rows = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    built = {r["target"] for r in rows if r["state"] in ("building", "built", "pushing")}
    reused = {r["target"] for r in rows if r["state"] == "reused"}
    assert built == in_bake, (built, in_bake, result.stderr)
    assert built | reused == set(TARGETS) and not built & reused, rows
    assert {t for t, build in said.items() if build} == built  # plan --changed said the same
    return built, result.stderr


def images(registry: str, repo: str, tag: str) -> dict[str, str]:
    _, index = api.get_manifest(registry, repo, tag)
    assert api.platforms(index) == set(PLATFORMS), (registry, repo, tag)
    return {p: d["digest"] for p, d in api.image_manifests(index).items()}


def test_publish_changed_builds_only_what_changed(
    stack: Any, unique_repo: str, tmp_path: Path
) -> None:
    env = clean_env(stack)
    os_repo = f"{stack.registries[0]}/{unique_repo}-os:1"
    os_image(tmp_path / "os", stack, env, unique_repo, "one")
    project = tmp_path / "proj"
    project_files(project, os_repo, stack.registries, unique_repo)
    git(project, "init", "-q", "-b", "main", env=env)

    built, _ = release(project, "v1.0.0", env)
    assert built == set(TARGETS)  # nothing published yet
    first = {
        (r, t): images(r, f"{unique_repo}-{t}", "1.0.0") for r in stack.registries for t in TARGETS
    }
    for registry in stack.registries:
        _, index = api.get_manifest(registry, f"{unique_repo}-web", "1.0.0")
        assert index["annotations"]["bakepy.fingerprint"].startswith("v1 ")
        for descriptor in api.image_manifests(index).values():
            assert descriptor["annotations"]["bakepy.fingerprint"].startswith("v1 ")

    # -- one file of the base's context: base and its two dependants build -----------------------------
    (project / "base/base.txt").write_text("base 2\n")
    built, stderr = release(project, "v1.0.1", env)
    assert built == {"base", "app1", "app2"}, stderr
    assert "web: unchanged" in stderr and "base: builds: linux/amd64: context" in stderr
    for registry in stack.registries:
        for target in TARGETS:
            repo = f"{unique_repo}-{target}"
            now = images(registry, repo, "1.0.1")
            assert (
                api.get_manifest(registry, repo, "latest")[0]
                == (api.get_manifest(registry, repo, "1.0.1")[0])
            )
            if target in ("web", "tool"):
                assert now == first[(registry, target)]  # the 1.0.0 platform manifests
            else:
                assert set(now.values()).isdisjoint(first[(registry, target)].values())

    # -- only ignored files: nothing builds, every tag moves --------------------------------------------
    (project / "web/debug.log").write_text("2\n")
    (project / "web/notes").mkdir()
    (project / "web/notes/todo.txt").write_text("x\n")
    second = {
        (r, t): images(r, f"{unique_repo}-{t}", "1.0.1") for r in stack.registries for t in TARGETS
    }
    built, stderr = release(project, "v1.0.2", env)
    assert built == set(), stderr
    for registry in stack.registries:
        for target in TARGETS:
            repo = f"{unique_repo}-{target}"
            assert images(registry, repo, "1.0.2") == second[(registry, target)]
            assert (
                api.get_manifest(registry, repo, "latest")[0]
                == (api.get_manifest(registry, repo, "1.0.2")[0])
            )

    # -- the base image re-pushed with new content: every target FROM it (and its dependants) builds ----
    os_image(tmp_path / "os", stack, env, unique_repo, "two")
    built, stderr = release(project, "v1.0.3", env)
    assert built == {"base", "app1", "app2", "web"}, stderr
    assert "tool: unchanged" in stderr
    for registry in stack.registries:
        assert images(registry, f"{unique_repo}-tool", "1.0.3") == first[(registry, "tool")]
        assert images(registry, f"{unique_repo}-web", "1.0.3") != second[(registry, "web")]


def test_the_ci_flow_builds_only_what_changed_and_merges_everything(
    stack: Any, unique_repo: str, tmp_path: Path
) -> None:
    """`bakepy matrix --changed --reused-records` → `bakepy build --platform P --push-by-digest --fingerprint`
    of the changed targets only → one `bakepy merge`: every target's 1.0.1 complete, in one transaction."""
    env = clean_env(stack)
    os_image(tmp_path / "os", stack, env, unique_repo, "one")
    project = tmp_path / "proj"
    project_files(
        project, f"{stack.registries[0]}/{unique_repo}-os:1", stack.registries, unique_repo
    )
    git(project, "init", "-q", "-b", "main", env=env)
    built, _ = release(project, "v1.0.0", env)
    assert built == set(TARGETS)
    first = {
        (r, t): images(r, f"{unique_repo}-{t}", "1.0.0") for r in stack.registries for t in TARGETS
    }

    (project / "app2/main.txt").write_text("app2, changed\n")
    git(project, "checkout", "-q", "main", env=env)
    git(project, "commit", "-q", "-am", "app2", env=env)
    git(project, "tag", "-a", "-m", "v1.0.1", "v1.0.1", env=env)
    git(project, "checkout", "-q", "--detach", "v1.0.1", env=env)
    records = tmp_path / "records"
    result = bakepy(
        ["matrix", "--changed", "--reused-records", str(records), "--format", "json"], project, env
    )
    assert result.returncode == 0, result.stderr
    matrix = json.loads(result.stdout)
    assert [(e["platform"], e["targets"]) for e in matrix["entries"]] == [
        (p, ["app2"]) for p in PLATFORMS
    ]
    assert {c["target"] for c in matrix["changes"] if c["build"]} == {"app2"}
    assert len(list(records.glob("*.json"))) == 2 * 4  # 4 reused targets x 2 platforms
    for entry in matrix["entries"]:
        result = bakepy(
            ["build", "--platform", entry["platform"], "--push-by-digest", "--records",
             str(records), "--fingerprint", *entry["targets"]],
            project, env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    result = bakepy(["merge", "--records", str(records), "--json"], project, env)
    assert result.returncode == 0, result.stderr
    for registry in stack.registries:
        for target in TARGETS:
            repo = f"{unique_repo}-{target}"
            now = images(registry, repo, "1.0.1")
            assert (
                api.get_manifest(registry, repo, "latest")[0]
                == (api.get_manifest(registry, repo, "1.0.1")[0])
            )
            if target == "app2":
                assert set(now.values()).isdisjoint(first[(registry, target)].values())
                _, index = api.get_manifest(registry, repo, "1.0.1")
                for descriptor in api.image_manifests(index).values():
                    assert descriptor["annotations"]["bakepy.fingerprint"].startswith("v1 ")
            else:
                assert now == first[(registry, target)]

    # the next release, nothing changed since the CI build: nothing to build
    git(project, "checkout", "-q", "main", env=env)
    git(project, "commit", "-q", "--allow-empty", "-m", "nothing", env=env)
    git(project, "tag", "-a", "-m", "v1.0.2", "v1.0.2", env=env)
    git(project, "checkout", "-q", "--detach", "v1.0.2", env=env)
    result = bakepy(["matrix", "--changed", "--format", "json"], project, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entries"] == [], result.stderr


def test_the_generated_github_workflow_runs_only_the_changed_jobs(
    stack: Any,
    builder_factory: Any,
    wheel: Path,  # noqa: F811  (test_ci_run's fixture)
    unique_repo: str,
    tmp_path: Path,
) -> None:
    """`bakepy ci github --changed`, run as generated (tests/gha_local.py): the release after a change to one
    target's args has a matrix of that target's jobs only, and the merge job moves every tag of both."""
    import gha_local
    from test_ci_run import GITHUB_CI, RELEASE, ci_project, logs, results, run_github

    env = clean_env(stack)
    registries = list(stack.registries)
    os_image(tmp_path / "os", stack, env, unique_repo, "one")
    arm = builder_factory(f"gh-arm-{uuid.uuid4().hex[:6]}", ["linux/arm64"])
    repo = f"{unique_repo}-gh"
    root = ci_project(tmp_path / "github", repo, registries, wheel, GITHUB_CI.format())
    (root / "Dockerfile").write_text(
        f"FROM {registries[0]}/{unique_repo}-os:1\nARG FLAVOUR\nARG NONCE\nRUN echo $FLAVOUR $NONCE > /x\n"
    )
    # the context is the repository: what is not the image's input stays out of it (docs/changed.md)
    (root / ".dockerignore").write_text(".git\n.github\nbakepy.toml\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bakepy", "ci", "github", "--changed", "-o",
         ".github/workflows/publish.yml"],
        cwd=root, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    git(root, "init", "-q", "-b", "main", env=env)
    git(root, "add", "-A", env=env)
    git(root, "commit", "-q", "-m", "project", env=env)
    git(root, "tag", RELEASE, env=env)

    def release(tag: str, work: str) -> dict[str, list[gha_local.JobRun]]:
        sha = git(root, "rev-parse", "HEAD", env=env)
        event = gha_local.Event("push", f"refs/tags/{tag}", sha)
        return run_github(root, tmp_path / work, stack, arm, event)

    first = release(RELEASE, "first")
    assert results(first) == {
        "plan": ["success"],
        "build": ["success", "success"],
        "merge": ["success"],
    }, logs(first)
    before = {t: images(registries[1], f"{repo}/{t}", "1.2.3") for t in ("web", "api")}

    text = (root / "bakepy.toml").read_text()
    start = text.index("[target.web]")
    nonce = text.index('NONCE = "', start)
    (root / "bakepy.toml").write_text(text[: nonce + 9] + "changed-" + text[nonce + 9 :])
    git(root, "commit", "-q", "-am", "web only", env=env)
    git(root, "tag", "v1.2.4", env=env)
    second = release("v1.2.4", "second")
    assert results(second) == {
        "plan": ["success"],
        "build": ["success", "success"],
        "merge": ["success"],
    }, logs(second)
    matrix = json.loads(second["plan"][0].outputs["matrix"])["include"]
    assert {tuple(e["targets"]) for e in matrix} == {("web",)}, logs(second)
    for registry in registries:
        assert images(registry, f"{repo}/api", "1.2.4") == before["api"]
        assert images(registry, f"{repo}/web", "1.2.4") != before["web"]
        for target in ("web", "api"):
            assert (
                api.get_manifest(registry, f"{repo}/{target}", "latest")[0]
                == (api.get_manifest(registry, f"{repo}/{target}", "1.2.4")[0])
            )

    # nothing changed: no build job at all (an empty matrix), and the merge still moves every tag
    git(root, "commit", "-q", "--allow-empty", "-m", "nothing", env=env)
    git(root, "tag", "v1.2.5", env=env)
    third = release("v1.2.5", "third")
    assert results(third) == {
        "plan": ["success"],
        "build": ["skipped"],
        "merge": ["success"],
    }, logs(third)
    for registry in registries:
        for target in ("web", "api"):
            assert (
                api.get_manifest(registry, f"{repo}/{target}", "1.2.5")[0]
                == (api.get_manifest(registry, f"{repo}/{target}", "1.2.4")[0])
            )


def test_the_generated_gitlab_pipeline_builds_only_the_changed_targets(
    stack: Any,
    builder_factory: Any,
    wheel: Path,  # noqa: F811  (test_ci_run's fixture)
    unique_repo: str,
    tmp_path: Path,
) -> None:
    """`bakepy ci gitlab --changed` under gitlab-ci-local: the per-platform jobs build only the targets the plan
    job found changed (BAKEPY_CHANGED_<PLATFORM>), the merge job moves every tag, the unchanged ones included."""

    from test_ci_run import GITLAB_CI, RELEASE, ci_project, run_gitlab

    env = clean_env(stack)
    registries = list(stack.registries)
    os_image(tmp_path / "os", stack, env, unique_repo, "one")
    arm = builder_factory(f"gl-arm-{uuid.uuid4().hex[:6]}", ["linux/arm64"])
    repo = f"{unique_repo}-gl"
    root = ci_project(tmp_path / "gitlab", repo, registries, wheel, GITLAB_CI.format())
    (root / "Dockerfile").write_text(
        f"FROM {registries[0]}/{unique_repo}-os:1\nARG FLAVOUR\nARG NONCE\nRUN echo $FLAVOUR $NONCE > /x\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bakepy", "ci", "gitlab", "--changed", "-o", ".gitlab/bakepy.yml"],
        cwd=root, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    write_gitlab_ci(root, stack.builder, arm.name)
    (root / ".dockerignore").write_text(
        ".git\n.gitlab\n.gitlab-ci.yml\n.gitlab-ci-local\n.gitignore\nrecords\nbakepy-context.env\n"
        "bakepy.toml\n.gitlab-ci-reports\n"  # the last: gitlab-ci-local's copy of the plan job's dotenv
    )
    git(root, "init", "-q", "-b", "main", env=env)
    git(root, "add", "-A", env=env)
    git(root, "commit", "-q", "-m", "project", env=env)

    first = run_gitlab(root, stack, f"CI_COMMIT_TAG={RELEASE}")
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-2000:]
    before = {t: images(registries[1], f"{repo}/{t}", "1.2.3") for t in ("web", "api")}

    text = (root / "bakepy.toml").read_text()
    nonce = text.index('NONCE = "', text.index("[target.web]"))
    (root / "bakepy.toml").write_text(text[: nonce + 9] + "changed-" + text[nonce + 9 :])
    git(root, "commit", "-q", "-am", "web only", env=env)
    second = run_gitlab(root, stack, "CI_COMMIT_TAG=v1.2.4")
    out = second.stdout
    assert second.returncode == 0, out[-8000:] + second.stderr[-2000:]
    for job in ("plan", "build:linux-amd64", "build:linux-arm64", "merge"):
        assert f"PASS  {job}" in out, job
    targets = [line for line in out.splitlines() if '"BAKEPY_TARGETS"' in line]
    assert len(targets) == 2 and all(
        line.endswith('"BAKEPY_TARGETS": "web"') for line in targets
    ), out
    for registry in registries:
        assert images(registry, f"{repo}/api", "1.2.4") == before["api"]
        assert images(registry, f"{repo}/web", "1.2.4") != before["web"]
