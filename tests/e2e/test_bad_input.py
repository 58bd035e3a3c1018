"""Bad input stops a publish before anything is built or pushed: checked through the registry's own API.

Each case is a real project on the e2e stack with one mistake (a records path that is a file or under
/dev/null, a missing Dockerfile, a `..` context, a bad tag from an environment variable, a credential-named
build arg under --strict, a BAKEPY_REGISTRY_TIMEOUT that is not seconds). bakepy must exit 2 with one error
line, never run `buildx bake`, and leave the repository absent from the registry: no tag and no push by digest.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, small_project

pytestmark = pytest.mark.e2e

DOCKERFILE = "FROM busybox\nRUN true\n"


def _project(root: Path, registry: str, repo: str, extra: str = "", tags: str = '"1.0"') -> Path:
    return small_project(
        root,
        f"""
        [project]
        registries = ["{registry}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = [{tags}]

        [variable.VERSION]
        default = "1.0"

        [target.app]
        image = "{repo}"
        {extra}
        """,
        DOCKERFILE,
    )


CASES = [
    # id, bakepy.toml extra lines, extra args, env, files to make or remove, expected fragment
    ("records-is-file", "", ["--records", "recs"], {}, "--records recs: is a file"),
    (
        "records-under-dev-null",
        "",
        ["--records", "/dev/null/x"],
        {},
        "/dev/null is not a directory",
    ),
    (
        "no-dockerfile",
        'dockerfile = "Dockerfile.missing"',
        [],
        {},
        "'Dockerfile.missing' does not exist",
    ),
    ("context-dotdot", 'context = ".."', [], {}, "BUILDX_BAKE_ENTITLEMENTS_FS=0"),
    ("env-bad-tag", "", [], {"VERSION": "bad tag!"}, "from the environment variable VERSION"),
    (
        "timeout-not-seconds",
        "",
        [],
        {"BAKEPY_REGISTRY_TIMEOUT": "1m"},
        "BAKEPY_REGISTRY_TIMEOUT='1m' in the environment: not a number of seconds",
    ),
    (
        "token-strict",
        'args = { GITHUB_TOKEN = "not-a-real-token" }',
        ["--strict"],
        {},
        "GITHUB_TOKEN",
    ),
]


@pytest.mark.parametrize(
    ("case", "extra", "args", "env", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_builds_and_pushes_nothing(
    stack,
    tmp_path: Path,
    case: str,
    extra: str,
    args: list[str],
    env: dict[str, str],
    fragment: str,
) -> None:
    registry = stack.registries[0]
    repo = f"e2e/bad-input-{case}-{uuid.uuid4().hex[:8]}"
    tags = '"${VERSION}"' if case == "env-bad-tag" else '"1.0"'
    project = _project(tmp_path / "project", registry, repo, extra, tags)
    (project / "recs").write_text("not a folder\n")
    result = bakepy(["publish", "--progress", "plain", *args], project, env_for(stack, **env))
    shown = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, shown
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1, shown
    assert fragment in "\n".join(errors + hints), shown
    assert "Traceback" not in result.stderr
    assert "buildx bake" not in result.stderr, shown  # nothing was built
    assert api.list_tags(registry, repo) == []
    assert not api.repository_exists(registry, repo), shown  # nor pushed by digest
    assert "not-a-real-token" not in result.stdout + result.stderr


def test_the_check_sees_a_push_by_digest(stack, tmp_path: Path) -> None:
    """The control: a push by digest alone (no tag) does make the repository, so the check above has teeth."""
    registry = stack.registries[0]
    repo = f"e2e/bad-input-control-{uuid.uuid4().hex[:8]}"
    project = _project(tmp_path / "project", registry, repo)
    result = bakepy(
        ["build", "--platform", "linux/amd64", "--push-by-digest"], project, env_for(stack)
    )
    assert result.returncode == 0, result.stderr
    assert api.list_tags(registry, repo) == []
    assert api.repository_exists(registry, repo)
