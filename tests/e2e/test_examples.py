"""The examples publish for real on the stack (each from a copy: publish writes .bakepy/ beside the project).

examples/hello is the README's main job (tests/e2e/test_publish.py); examples/native-runners is exercised by the
workflow tests and tests/e2e/test_native_runners.py. Registry contents are read through the registry HTTP API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import registry_api as api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BOTH = {"linux/amd64", "linux/arm64"}


def publish(project: Path, args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "bakepy", "publish", "--json", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_multi_publishes_the_same_images_from_either_form(stack, tmp_path: Path) -> None:
    project = tmp_path / "multi"
    shutil.copytree(EXAMPLES / "multi", project)
    version = f"0.0.{uuid.uuid4().int % 100000}"  # fresh tags for this run
    env = {**stack.env_overlay, "VERSION": version}

    from_toml = publish(project, ["-f", "bakepy.toml"], env)
    rows = from_toml["published"]
    assert isinstance(rows, list) and len(rows) == 3  # one app × three Python versions
    for row in rows:
        registry, rest = row["tags"][0].split("/", 1)
        repo = rest.rsplit(":", 1)[0]
        assert {"latest", version} <= set(api.list_tags(registry, repo))
        digest, index = api.get_manifest(registry, repo, version)
        assert api.platforms(index) == BOTH
        assert api.get_manifest(registry, repo, "latest")[0] == digest

    # The Python form describes the same images, so publishing from it moves no tag.
    from_python = publish(project, ["-f", "bakefile.py"], env)
    assert all(row["moved"] == [] for row in from_python["published"])  # type: ignore[union-attr]


def test_imported_publishes_with_its_registry_variable(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = tmp_path / "imported"
    shutil.copytree(EXAMPLES / "imported", project)
    registry = stack.registries[0]
    env = {**stack.env_overlay, "REGISTRY": f"{registry}/{unique_repo}", "TAG": "1.0"}

    result = publish(project, [], env)

    published = {row["target"] for row in result["published"]}  # type: ignore[union-attr]
    assert published == {"api", "worker-py311", "worker-py312"}
    for name in ("api", "worker-py3.11", "worker-py3.12"):
        _, index = api.get_manifest(registry, f"{unique_repo}/{name}", "1.0")
        assert api.platforms(index) == BOTH
    assert sorted(api.list_tags(registry, f"{unique_repo}/api")) == ["1.0", "latest"]


def test_rendered_file_is_a_drop_in_for_bake_push(stack, unique_repo: str, tmp_path: Path) -> None:
    # issue 10: `docker buildx bake -f rendered.json --push` publishes the example as a hand-written file would.
    project = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", project)
    registry = stack.registries[0]
    toml = (project / "bakepy.toml").read_text(encoding="utf-8")
    toml = toml.replace(
        'registries = ["127.0.0.1:5000"]', f'registries = ["{registry}/{unique_repo}"]'
    )
    (project / "bakepy.toml").write_text(toml, encoding="utf-8")
    env = {**os.environ, **stack.env_overlay}
    done = subprocess.run(
        [sys.executable, "-m", "bakepy", "render", "-o", "rendered.json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        ["docker", "buildx", "bake", "-f", "rendered.json", "--push", "--progress", "plain"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    repo = f"{unique_repo}/examples/hello"
    assert api.list_tags(registry, repo) == ["latest"]
    _, index = api.get_manifest(registry, repo, "latest")
    assert api.platforms(index) == BOTH
