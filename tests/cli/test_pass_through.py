"""Pass-through options (issue 10 item 6): `--var` on render/plan/build/publish, `--set` written by render,
`--load` on build. The real-buildx side is tests/e2e/test_pass_through_e2e.py; here a fake `docker` only
records argv."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakepy.bake.overrides import apply_sets
from bakepy.cli.app import app
from bakepy.errors import ConfigError

cli = CliRunner()

PROJECT = """\
[project]
registries = ["127.0.0.1:5000/acme"]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["${VERSION}"]

[variable.VERSION]
default = "1.0"

[target.app]
image = "app"
args = { VERSION = "${VERSION}" }
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bakepy.toml").write_text(PROJECT)
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERSION", raising=False)
    return tmp_path


def render(*args: str) -> dict[str, object]:
    result = cli.invoke(app, ["render", *args])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_var_sets_a_variable_over_environment_and_default(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERSION", "from-env")
    app_ = render("--var", "VERSION=2.0")["target"]["app"]  # type: ignore[index]
    assert app_["args"] == {"VERSION": "2.0"}
    assert app_["tags"] == ["127.0.0.1:5000/acme/app:2.0"]
    planned = cli.invoke(app, ["plan", "--json", "--var", "VERSION=3.0"])
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["targets"][0]["tags"] == {
        "127.0.0.1:5000": ["127.0.0.1:5000/acme/app:3.0"]
    }


@pytest.mark.parametrize("command", ["render", "plan", "build", "publish"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "VERSOIN=2",
            "error: --var VERSOIN: bakepy.toml declares no variable 'VERSOIN'; did you mean 'VERSION'?",
        ),
        (
            "NOPE=2",
            "error: --var NOPE: bakepy.toml declares no variable 'NOPE' (it declares VERSION)",
        ),
        ("VERSION", "error: --var 'VERSION': write NAME=VALUE, e.g. 'VERSION=1.2.3'"),
    ],
)
def test_a_bad_var_is_one_line_and_exit_2(
    project: Path, command: str, value: str, message: str
) -> None:
    extra = ["--platform", "linux/amd64"] if command == "build" else []
    result = cli.invoke(app, [command, *extra, "--var", value])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == message
    assert "Traceback" not in result.output


def test_render_writes_set_overrides_into_the_file(project: Path) -> None:
    body = render(
        "--set",
        "*.args.EXTRA=${literal}",
        "--set",
        "app.platform=linux/arm64",
        "--set",
        "app.tags+=example.com/acme/app:dev",
        "--set",
        "app.cache-to=type=registry,ref=127.0.0.1:5000/cache,mode=max",
        "--set",
        "app.no-cache=true",
    )["target"]["app"]  # type: ignore[index]
    assert body["args"] == {"VERSION": "1.0", "EXTRA": "$${literal}"}  # literal: escaped for bake
    assert body["platforms"] == ["linux/arm64"]
    assert body["tags"] == ["127.0.0.1:5000/acme/app:1.0", "example.com/acme/app:dev"]
    assert body["cache-to"] == [{"type": "registry", "ref": "127.0.0.1:5000/cache", "mode": "max"}]
    assert body["no-cache"] is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("app.platfrom=linux/arm64", "bake has no 'platfrom' to set; did you mean 'platform'?"),
        ("ap.args.X=1", "no target matches 'ap'; did you mean 'app'?"),
        ("app.args=1", "write app.args.NAME=VALUE"),
        ("app.cache-to=type=gha,mdoe=max", "mdoe: unknown key 'mdoe'; did you mean 'mode'?"),
        ("noequals", "write TARGET.ATTRIBUTE=VALUE, e.g. '*.args.VERSION=1.2'"),
    ],
)
def test_a_bad_set_is_one_line_and_exit_2(project: Path, value: str, message: str) -> None:
    result = cli.invoke(app, ["render", "--set", value])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == f"error: --set {value!r}: {message}"


def test_repeated_set_keys_collect_as_bake_does() -> None:
    bake = {"target": {"a": {"tags": ["x"]}, "b": {}}}
    out = apply_sets(bake, ["*.tags=t1", "a.tags=t2"])
    assert out["target"]["a"]["tags"] == ["t1", "t2"]
    assert out["target"]["b"]["tags"] == ["t1"]
    assert bake["target"]["a"]["tags"] == ["x"]  # the input is left alone
    with pytest.raises(ConfigError):
        apply_sets(bake, ["c.tags=t"])


def _fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, daemon: bool) -> Path:
    """A `docker` that records its argv; `docker version` answers only when `daemon`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "docker-calls.jsonl"
    docker = bin_dir / "docker"
    docker.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, os, sys
            with open(os.environ['FAKE_DOCKER_CALLS'], 'a') as out:
                out.write(json.dumps(sys.argv[1:]) + '\\n')
            if sys.argv[1:2] == ['version']:
                if {daemon!r}:
                    print('28.2.2')
                else:
                    sys.exit('Cannot connect to the Docker daemon at unix:///var/run/docker.sock')
            """
        )
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_DOCKER_CALLS", str(calls))
    return calls


def test_build_load_passes_load_to_bake(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_docker(tmp_path, monkeypatch, daemon=True)
    result = cli.invoke(
        app,
        ["build", "--platform", "linux/amd64", "--load", "--var", "VERSION=9", "--builder", "b"],
    )
    assert result.exit_code == 0, result.output
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    assert argv[0] == ["version", "--format", "{{.Server.Version}}"]
    bake = argv[1]
    assert bake[:2] == ["buildx", "bake"]
    assert bake[-3:] == ["plain", "--load", "app"]
    rendered = json.loads(
        (project / ".bakepy" / "build-linux-amd64" / "docker-bake.json").read_text()
    )
    assert rendered["target"]["app"]["args"] == {"VERSION": "9"}


def test_build_load_without_a_daemon_is_refused_before_building(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_docker(tmp_path, monkeypatch, daemon=False)
    result = cli.invoke(app, ["build", "--platform", "linux/amd64", "--load"])
    assert result.exit_code == 4, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: --load loads the image into the local Docker daemon, and no Docker daemon answers; "
        "nothing was built"
    ]
    assert all(json.loads(line)[0] == "version" for line in calls.read_text().splitlines())


def test_build_load_with_push_by_digest_is_refused(project: Path) -> None:
    result = cli.invoke(app, ["build", "--platform", "linux/amd64", "--load", "--push-by-digest"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("error: --load and --push-by-digest:")


def test_a_dry_run_shows_the_bake_command_with_what_is_passed_through(project: Path) -> None:
    """`publish --dry-run` lists the build command it would run: the builder and the pass-through options too."""
    result = cli.invoke(
        app,
        ["publish", "--dry-run", "--json", "--builder", "nodes", "--set", "*.args.X=1", "--no-cache",
         "--pull"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (build,) = [c for c in json.loads(result.stdout)["plan"]["commands"] if c["step"] == "build"]
    argv = build["argv"]
    assert argv[:5] == ["docker", "buildx", "bake", "--builder", "nodes"]
    assert argv[-6:] == ["plain", "--set", "*.args.X=1", "--no-cache", "--pull", "app"]


def test_plan_shows_the_commands_publish_runs_with_the_same_options(project: Path) -> None:
    """`plan` takes publish's build options, and its commands are then publish --dry-run's (file paths aside:
    a dry run names the files it wrote)."""
    options = ["--builder", "nodes", "--set", "*.args.X=1", "--no-cache", "--pull"]
    planned = cli.invoke(app, ["plan", "--json", *options])
    dry = cli.invoke(app, ["publish", "--dry-run", "--json", *options])
    assert planned.exit_code == 0, planned.output
    assert dry.exit_code == 0, dry.output

    def without_paths(commands: list[dict[str, object]]) -> list[object]:
        return [
            [a for a in c["argv"] if not str(a).endswith(".json")]  # type: ignore[attr-defined]
            for c in commands
        ]

    plan_commands = json.loads(planned.stdout)["commands"]
    assert without_paths(plan_commands) == without_paths(json.loads(dry.stdout)["plan"]["commands"])
    (build,) = [c for c in plan_commands if c["step"] == "build"]
    assert build["argv"][:5] == ["docker", "buildx", "bake", "--builder", "nodes"]
    assert build["argv"][-6:] == ["plain", "--set", "*.args.X=1", "--no-cache", "--pull", "app"]


def test_plan_refuses_a_set_of_what_publish_sets_itself(project: Path) -> None:
    result = cli.invoke(app, ["plan", "--set", "app.tags=example.com/app:dev"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --set 'app.tags=example.com/app:dev': bakepy sets tags itself (push by digest, then every tag"
        " at once)",
        "hint: set tags and registries in the project; use `bakepy render` for a file to bake by hand",
    ]


def test_plan_takes_the_metadata_action_bake_file(project: Path) -> None:
    """As publish does: metadata-action's target replaces the project's target of that name."""
    (project / "bakepy.toml").write_text(
        PROJECT.replace('[target.app]\nimage = "app"', '[target.docker-metadata-action]\n\n[target.app]\n'
                        'image = "app"\ninherits = ["docker-metadata-action"]')
    )  # fmt: skip
    (project / "meta.json").write_text(
        json.dumps(
            {
                "target": {
                    "docker-metadata-action": {
                        "tags": ["127.0.0.1:5000/acme/app:from-metadata"],
                        "args": {"DOCKER_META_VERSION": "from-metadata"},
                    }
                }
            }
        )
    )
    planned = cli.invoke(app, ["plan", "--json", "--metadata-bake", "meta.json", "app"])
    assert planned.exit_code == 0, planned.output
    (target,) = json.loads(planned.stdout)["targets"]
    assert "127.0.0.1:5000/acme/app:from-metadata" in target["tags"]["127.0.0.1:5000"]
