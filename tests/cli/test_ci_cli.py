"""`bakepy matrix`, `build`, `merge` and `ci github|gitlab` through typer's CliRunner: exit codes, messages,
--json shapes and GITHUB_OUTPUT, with no docker.

`merge` checks digest records against the plan before it asks any registry, so its refusals and `--dry-run` are
tested here with records made from the plan. What needs a build or a registry (pushing, merging, refusing a record
the registry contradicts) runs on the real stack in tests/e2e/test_split_e2e.py. PATH holds no docker here; the
one test of an exact build command puts a fake `docker` on it that only records its argv.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bakepy.ci.split import target_fingerprints
from bakepy.cli.app import app
from bakepy.config import load_project
from bakepy.publish.plan import plan_publish
from bakepy.publish.records import DigestRecord, write_records

cli = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native-runners"
GITLAB_RUNNERS: list[str] = []  # the example's [ci.gitlab] runners
REVISION = "c" * 40
PLATFORMS = ("linux/amd64", "linux/arm64")

PROJECT = """\
[project]
registries = ["127.0.0.1:5000", "ghcr.io/acme"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["latest", "1.0"]
runners = {{ "linux/arm64" = "ubuntu-24.04-arm", default = "ubuntu-latest" }}
{extra}

[target.web]

[target.api]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_SHA", "CI_COMMIT_SHA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BAKEPY_REVISION", REVISION)
    no_docker = tmp_path / "no-docker"
    no_docker.mkdir()
    monkeypatch.setenv(
        "PATH", str(no_docker)
    )  # a command that reached for docker would fail (exit 6)
    (tmp_path / "bakepy.toml").write_text(PROJECT.format(extra=""))
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def write_built_records(
    project: Path, folder: Path, platforms: Sequence[str] = PLATFORMS
) -> list[DigestRecord]:
    """The records `bakepy build --platform P --push-by-digest` would write, made from the plan alone."""
    loaded = load_project(project / "bakepy.toml", env={}).project
    plan = plan_publish(loaded)
    fingerprints = target_fingerprints(loaded, plan)
    records = [
        DigestRecord(
            target=tp.name,
            platform=platform,
            digest=sha(f"image {tp.name} {platform}"),
            source=sha(f"index {tp.name} {platform}"),
            media_type="application/vnd.oci.image.index.v1+json",
            size=850,
            repositories=tuple(tp.repositories),
            fingerprint=fingerprints[tp.name],
            revision=REVISION,
        )
        for tp in plan.targets
        for platform in platforms
    ]
    write_records(folder, records)
    return records


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- matrix ---------------------------------------------------------------------------------------------
def test_matrix_json_by_default(project: Path) -> None:
    result = cli.invoke(app, ["matrix"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(e["platform"], e["runner"], e["qemu"]) for e in data["entries"]] == [
        ("linux/amd64", "ubuntu-latest", False),
        ("linux/arm64", "ubuntu-24.04-arm", False),
    ]


def test_matrix_in_github_actions_writes_github_output(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = project / "github_output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli.invoke(app, ["matrix", "--format", "github"])
    assert result.exit_code == 0, result.output
    lines = output.read_text().splitlines()
    assert lines[0] == "earlier=1"  # appended, never truncated
    assert lines[1] == f"matrix={result.stdout.strip()}"
    assert lines[2] == "context="  # no tag rules: no context to hand on
    assert (
        json.loads(lines[1].removeprefix("matrix="))["include"][1]["runner"] == "ubuntu-24.04-arm"
    )


def test_matrix_runner_override_and_split(project: Path) -> None:
    result = cli.invoke(
        app,
        [
            "matrix",
            "--format",
            "gitlab",
            "--by",
            "target-platform",
            "--runner",
            "linux/amd64=x86-box",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["BAKEPY_TARGETS"], r["BAKEPY_PLATFORM"], r["BAKEPY_RUNNER"]) for r in rows] == [
        ("web", "linux/amd64", "x86-box"),
        ("web", "linux/arm64", "ubuntu-24.04-arm"),
        ("api", "linux/amd64", "x86-box"),
        ("api", "linux/arm64", "ubuntu-24.04-arm"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["matrix", "--format", "yaml"], "--format: 'yaml' is not one of github, gitlab, json"),
        (["matrix", "--by", "target"], "--by: 'target' is not one of platform, target-platform"),
        (["matrix", "--runner", "linux/arm64"], "--runner: 'linux/arm64' is not PLATFORM=LABEL"),
        (["matrix", "nope"], "unknown target or group 'nope'"),
    ],
)
def test_matrix_bad_input_exits_2(project: Path, argv: list[str], message: str) -> None:
    result = cli.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.stderr


# -- build and merge ------------------------------------------------------------------------------------
def test_build_needs_a_platform_and_records_need_a_push(project: Path) -> None:
    result = cli.invoke(app, ["build"])
    assert result.exit_code == 2
    assert "--platform is required" in result.stderr
    result = cli.invoke(app, ["build", "--platform", "linux/amd64", "--records", "r"])
    assert result.exit_code == 2
    assert "--records needs --push-by-digest" in result.stderr


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["--platform", "linux/arm65"],
            2,
            "error: --platform: 'linux/arm65' is not a platform: unknown architecture 'arm65'; "
            "did you mean 'linux/arm64'?",
        ),
        (["--platform", "linux/riscv64"], 3, "error: no selected target builds for linux/riscv64"),
        (
            ["--platform", "linux/amd64", "nope"],
            2,
            "error: unknown target or group 'nope'; known: api, web",
        ),
    ],
)
def test_build_bad_input_fails_before_docker(
    project: Path, argv: list[str], code: int, message: str
) -> None:
    result = cli.invoke(app, ["build", *argv, "--push-by-digest"])
    assert result.exit_code == code, result.output
    assert errors(result.stderr) == [message]
    assert not (project / ".bakepy" / "records").exists()


def test_build_without_push_runs_one_bake_of_the_slice(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact command: one bake of the platform's own rendered file, every target, no push, no record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "docker-calls.jsonl"
    docker = bin_dir / "docker"
    docker.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['FAKE_DOCKER_CALLS'], 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_DOCKER_CALLS", str(calls))

    result = cli.invoke(app, ["build", "--platform", "linux/aarch64", "--builder", "b1"])
    assert result.exit_code == 0, result.output
    assert "built web, api for linux/arm64" in result.stdout
    assert "nothing pushed" in result.stdout
    bake_file = project / ".bakepy" / "build-linux-arm64" / "docker-bake.json"
    bake, *probes = (json.loads(line) for line in calls.read_text().splitlines())
    assert bake == [
        "buildx",
        "bake",
        "--builder",
        "b1",
        "--file",
        str(bake_file),
        "--progress",
        "plain",
        "web",
        "api",
    ]
    # What follows only asks the builder whether linux/arm64 is emulated (for the message).
    assert all(call[:2] in (["buildx", "inspect"], ["buildx", "ls"]) for call in probes), probes
    rendered = json.loads(bake_file.read_text())
    assert {name: t["platforms"] for name, t in rendered["target"].items()} == {
        "web": ["linux/arm64"],
        "api": ["linux/arm64"],
    }
    assert not any("output" in t for t in rendered["target"].values())  # nothing is pushed
    assert not (project / ".bakepy" / "records").exists()


def test_merge_refuses_a_missing_platform_in_one_line(project: Path) -> None:
    write_built_records(project, project / "records")
    (project / "records" / "api--linux-arm64.json").unlink()
    refused = cli.invoke(app, ["merge", "--records", "records"])
    assert refused.exit_code == 2
    assert errors(refused.stderr) == [
        "error: missing digest records for api linux/arm64; no tag was moved"
    ]
    assert "--allow-partial" in refused.stderr

    partial = cli.invoke(app, ["merge", "--records", "records", "--allow-partial", "--dry-run"])
    assert partial.exit_code == 0, partial.output
    assert "warning: --allow-partial: would publish without api linux/arm64" in partial.stderr
    as_json = cli.invoke(
        app, ["merge", "--records", "records", "--allow-partial", "--dry-run", "--json"]
    )
    data = json.loads(as_json.stdout)
    assert (data["partial"], data["missing"]) == (
        True,
        [{"target": "api", "platform": "linux/arm64"}],
    )


def test_merge_dry_run_prints_the_commands_from_the_records(project: Path) -> None:
    records = write_built_records(project, project / "records")
    result = cli.invoke(app, ["merge", "--records", "records", "--dry-run"])
    assert result.exit_code == 0, result.output
    source = {(r.target, r.platform): r.source for r in records}
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dry run: 4 record(s) match the plan;")
    create = ["docker", "buildx", "imagetools", "create"]
    expected = []
    for target in ("web", "api"):
        repos = (f"127.0.0.1:5000/{target}", f"ghcr.io/acme/{target}")
        staged = [a for repo in repos for a in ("--tag", f"{repo}@INDEX")]
        sources = [f"{repos[0]}@{source[(target, p)]}" for p in PLATFORMS]
        expected.append(shlex.join([*create, *staged, *sources]))
        tags = [a for repo in repos for t in ("latest", "1.0") for a in ("--tag", f"{repo}:{t}")]
        expected.append(shlex.join([*create, *tags, f"{repos[0]}@INDEX"]))
    assert lines[1:] == expected

    as_json = cli.invoke(app, ["merge", "--records", "records", "--dry-run", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert (data["records"], data["partial"], data["published"]) == (4, False, [])
    assert [shlex.join(c) for c in data["commands"]] == lines[1:]


def test_merge_defaults_to_the_records_folder_beside_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_built_records(project, project / ".bakepy" / "records" / "job-1", ["linux/amd64"])
    write_built_records(project, project / ".bakepy" / "records" / "job-2", ["linux/arm64"])
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli.invoke(app, ["merge", "-f", "../bakepy.toml", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == 4


def test_merge_without_records_is_nothing_to_do(project: Path) -> None:
    (project / "records").mkdir()
    result = cli.invoke(app, ["merge", "--records", "records"])
    assert result.exit_code == 3
    assert errors(result.stderr) == ["error: records: no digest records to merge"]


def test_merge_with_no_records_folder(project: Path) -> None:
    result = cli.invoke(app, ["merge", "--records", "absent"])
    assert result.exit_code == 2
    assert errors(result.stderr) == ["error: absent: no such records directory"]
    assert "bakepy build --records DIR" in result.stderr


# -- ci github / gitlab ---------------------------------------------------------------------------------
def test_ci_github_to_stdout_and_file(project: Path) -> None:
    result = cli.invoke(app, ["ci", "github"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Generated by `bakepy ci github`")
    assert "hint: set [ci.github] cache" in result.stderr

    path = ".github/workflows/publish.yml"
    wrote = cli.invoke(app, ["ci", "github", "-o", path])
    assert wrote.exit_code == 0, wrote.output
    assert (project / path).read_text() == result.stdout.replace(
        "`bakepy ci github`", f"`bakepy ci github -o {path}`"
    )
    again = cli.invoke(app, ["ci", "github", "-o", path, "--json"])
    assert json.loads(again.stdout)["changed"] is False
    assert cli.invoke(app, ["ci", "github", "--check"]).exit_code == 0


def test_ci_check_fails_when_the_project_changed(project: Path) -> None:
    assert cli.invoke(app, ["ci", "gitlab", "-o", ".gitlab/bakepy.yml"]).exit_code == 0
    (project / ".gitlab-ci.yml").write_text(
        "include: [{local: .gitlab/bakepy.yml}]\n# my own jobs\n"
    )
    assert (
        cli.invoke(app, ["ci", "gitlab", "--check"]).exit_code == 0
    )  # only the generated file counts
    (project / "bakepy.toml").write_text(
        PROJECT.format(extra="").replace('"linux/arm64"]', '"linux/arm64", "linux/s390x"]')
    )
    result = cli.invoke(app, ["ci", "gitlab", "--check"])
    assert result.exit_code == 7
    assert ".gitlab/bakepy.yml is out of date" in result.stderr
    assert "regenerate it: bakepy ci gitlab -o .gitlab/bakepy.yml" in result.stderr


def test_example_workflows_are_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands in examples/native-runners/bakepy.toml's header reproduce the checked-in files."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    monkeypatch.chdir(copy)
    assert cli.invoke(app, ["ci", "github", "--check"]).exit_code == 0
    result = cli.invoke(app, ["ci", "gitlab", *GITLAB_RUNNERS, "--check"])
    assert result.exit_code == 0, result.stderr


def test_ci_github_with_a_project_file_and_targets(project: Path) -> None:
    sub = project / "deploy"
    sub.mkdir()
    (sub / "bakepy.toml").write_text(
        textwrap.dedent(PROJECT.format(extra='cache = { type = "gha" }'))
    )
    result = cli.invoke(app, ["ci", "github", "-f", "deploy/bakepy.toml", "web"])
    assert result.exit_code == 0, result.output
    assert "bakepy merge --records records -f deploy/bakepy.toml web" in result.stdout
    assert "ghaction-github-runtime" in result.stdout
    assert "hint" not in result.stderr


def test_ci_gitlab_warns_about_github_labels_and_a_gha_cache(project: Path) -> None:
    (project / "bakepy.toml").write_text(PROJECT.format(extra='cache = { type = "gha" }'))
    result = cli.invoke(app, ["ci", "gitlab"])  # [project] runners are GitHub's labels
    assert result.exit_code == 0, result.output
    assert "runner 'ubuntu-24.04-arm' for linux/arm64 is a GitHub Actions label" in result.stderr
    assert 'cache type "gha" only works on GitHub Actions' in result.stderr


NO_RUNNERS = """\
[project]
registries = ["127.0.0.1:5000"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["latest"]

[target.web]
{extra}
"""


def test_every_format_agrees_on_qemu_and_gitlab_installs_binfmt_only_where_it_emulates(
    project: Path,
) -> None:
    """No runner configured: the CI's default runner is x86-64 (GitHub's ubuntu-latest, GitLab.com's shared
    runners), so amd64 is native in every format and GitLab registers QEMU for arm64 alone."""
    (project / "bakepy.toml").write_text(NO_RUNNERS.format(extra=""))
    as_json = json.loads(cli.invoke(app, ["matrix", "--format", "json"]).stdout)["entries"]
    github = json.loads(cli.invoke(app, ["matrix", "--format", "github"]).stdout)["include"]
    gitlab = json.loads(cli.invoke(app, ["matrix", "--format", "gitlab"]).stdout)
    expected = [("linux/amd64", False), ("linux/arm64", True)]
    assert [(e["platform"], e["qemu"]) for e in as_json] == expected
    assert [(e["platform"], e["qemu"]) for e in github] == expected
    assert [(e["BAKEPY_PLATFORM"], e["BAKEPY_QEMU"] == "true") for e in gitlab] == expected
    doc = yaml.safe_load(cli.invoke(app, ["ci", "gitlab"]).stdout)
    binfmt = {
        name: [line for line in job["script"] if "tonistiigi/binfmt" in line]
        for name, job in doc.items()
        if name.startswith("build:")
    }
    assert binfmt == {
        "build:linux-amd64": [],
        "build:linux-arm64": [
            "docker run --privileged --rm tonistiigi/binfmt --install linux/arm64"
        ],
    }


def test_the_cache_hint_names_a_cache_that_works_on_that_ci(project: Path) -> None:
    """A `gha` cache only works on GitHub Actions: GitLab's hint names a registry cache under [ci.gitlab], and
    says nothing of [ci.github]'s own cache."""
    (project / "bakepy.toml").write_text(
        NO_RUNNERS.format(extra='[ci.github]\ncache = { type = "gha" }')
    )
    gitlab = cli.invoke(app, ["ci", "gitlab"])
    assert gitlab.exit_code == 0, gitlab.output
    assert '"gha"' not in gitlab.stderr
    assert "[ci.gitlab] cache" in gitlab.stderr and '"registry"' in gitlab.stderr
    github = cli.invoke(app, ["ci", "github"])
    assert "hint" not in github.stderr  # [ci.github] has its cache
    (project / "bakepy.toml").write_text(NO_RUNNERS.format(extra=""))
    github = cli.invoke(app, ["ci", "github"])
    assert '[ci.github] cache = { type = "gha" }' in " ".join(github.stderr.split())


# -- [ci]: per-CI runners and cache, the install source, the context computed once ------------------------
CI_TABLES = """
[ci]
install = "dist/bakepy_publish-0.1.0-py3-none-any.whl"

[ci.github]
runners = { "linux/arm64" = "arm-box" }
cache = { type = "gha" }

[ci.gitlab]
runners = { "linux/arm64" = "saas-linux-small-arm64", default = "saas-linux-small-amd64" }
cache = { type = "registry", ref = "127.0.0.1:5000/cache" }
executor = "shell"
"""


def test_ci_tables_choose_runners_cache_and_install_per_ci(project: Path) -> None:
    (project / "bakepy.toml").write_text(
        PROJECT.format(extra='cache = { type = "gha" }') + CI_TABLES
    )
    github = cli.invoke(app, ["matrix", "--format", "github"])
    assert [e["runner"] for e in json.loads(github.stdout)["include"]] == [
        "ubuntu-latest",
        "arm-box",
    ]
    gitlab = cli.invoke(app, ["matrix", "--format", "gitlab"])
    assert [e["BAKEPY_RUNNER"] for e in json.loads(gitlab.stdout)] == [
        "saas-linux-small-amd64",
        "saas-linux-small-arm64",
    ]
    override = cli.invoke(app, ["matrix", "--format", "gitlab", "--runner", "linux/arm64=mine"])
    assert json.loads(override.stdout)[1]["BAKEPY_RUNNER"] == "mine"  # --runner over [ci.gitlab]

    result = cli.invoke(app, ["ci", "gitlab"])
    assert result.exit_code == 0, result.output
    # [ci.gitlab] runners and cache: neither GitHub's labels nor the gha cache are warned about
    assert "warning" not in result.stderr, result.stderr
    doc = yaml.safe_load(result.stdout)
    assert doc["variables"]["BAKEPY_INSTALL"] == "dist/bakepy_publish-0.1.0-py3-none-any.whl"
    assert "--install" not in result.stdout  # [ci] install regenerates itself
    assert "image" not in doc[".bakepy"] and "services" not in doc[".bakepy"]  # shell executor
    assert doc["build:linux-arm64"]["tags"] == ["saas-linux-small-arm64"]

    workflow = cli.invoke(app, ["ci", "github"])
    assert "ghaction-github-runtime" in workflow.stdout  # [ci.github] cache = gha
    assert "pip install dist/bakepy_publish-0.1.0-py3-none-any.whl" in workflow.stdout


def test_bakepy_build_uses_the_cache_of_the_ci_it_runs_on(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "bakepy.toml").write_text(
        PROJECT.format(extra='cache = { type = "local", path = "c" }') + CI_TABLES
    )
    for env, expected in (
        ({}, "local"),
        ({"GITHUB_ACTIONS": "true"}, "gha"),
        ({"GITLAB_CI": "true"}, "registry"),
    ):
        for var in ("GITHUB_ACTIONS", "GITLAB_CI"):
            monkeypatch.delenv(var, raising=False)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        rendered = cli.invoke(app, ["render", "--platform", "linux/arm64"])
        assert rendered.exit_code == 0, rendered.output
        web = json.loads(rendered.stdout)["target"]["web"]
        cache = web["cache-from"][0]
        assert cache["type"] == expected, (env, cache)
        assert "web.linux-arm64" in json.dumps(cache)  # per-platform scopes either way


TAGGED = """\
[project]
registries = ["127.0.0.1:5000"]
platforms = ["linux/amd64", "linux/arm64"]

[project.metadata]
tags = ["type=semver,pattern={{version}}"]

[target.web]
"""


def test_matrix_hands_the_context_on(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "bakepy.toml").write_text(TAGGED)
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_COMMIT_TAG", "v2.0.1")
    monkeypatch.setenv("CI_COMMIT_SHA", REVISION)
    result = cli.invoke(app, ["matrix", "--format", "gitlab", "--dotenv", "ctx/bakepy.env"])
    assert result.exit_code == 0, result.output
    name, _, value = (project / "ctx" / "bakepy.env").read_text().strip().partition("=")
    assert name == "BAKEPY_CONTEXT" and json.loads(value)["tag"] == "v2.0.1"

    # a later job reads that context, whatever its own environment says
    monkeypatch.setenv("CI_COMMIT_TAG", "v9.9.9")
    monkeypatch.setenv("BAKEPY_CONTEXT", value)
    tags = cli.invoke(app, ["tags", "--json"])
    data = json.loads(tags.stdout)
    assert [t["tag"] for t in data["targets"][0]["tags"]] == ["2.0.1", "latest"]
    assert "as the plan job computed it" in data["context"]["description"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[ci.gitlab]\nexecutor = "podman"', "bakepy.toml: ci.gitlab.executor:"),
        ('[ci]\ninstal = "x"', "did you mean 'install'?"),
        ('[ci.github]\nrunners = { "linux/arm65" = "x" }', "did you mean 'linux/arm64'?"),
        ('[ci]\ninstall = ""', "bakepy.toml: ci.install: "),
    ],
)
def test_bad_ci_tables_are_one_line(project: Path, extra: str, message: str) -> None:
    (project / "bakepy.toml").write_text(PROJECT.format(extra="") + extra + "\n")
    result = cli.invoke(app, ["ci", "github"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr


def test_bad_context_variable_is_one_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "bakepy.toml").write_text(TAGGED)
    monkeypatch.setenv("BAKEPY_CONTEXT", '{"event": "release"}')
    result = cli.invoke(app, ["tags"])
    assert result.exit_code == 2, result.output
    assert (
        "BAKEPY_CONTEXT: event 'release' is not branch, tag, pr, schedule or none" in result.stderr
    )
