"""Pass-through options against real buildx (issue 10 item 6): render's --set/--var give the file buildx's own
--set would, publish --var tags what the variable says (read back through the registry API), and build --load
is refused before building where no Docker daemon answers (this stack has none)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import registry_api as api
from e2e_support import bake_print, bakepy, env_for, small_project

pytestmark = pytest.mark.e2e

PROJECT = """
[project]
registries = [{registry!r}]
platforms = ["linux/amd64", "linux/arm64"]
tags = ["${{TAG}}"]

[variable.TAG]
default = "latest"

[target.app]
image = "{repo}"
args = {{ TAG = "${{TAG}}" }}
labels = {{ "org.example.tag" = "${{TAG}}" }}

[target.other]
image = "{repo}-other"
"""
SETS = [
    "*.args.EXTRA=x",
    "app.platform=linux/arm64",
    "app.tags+=127.0.0.1:5001/extra/app:dev",
    "app.cache-to=type=registry,ref=127.0.0.1:5000/cache,mode=max",
    "other.no-cache=true",
    "*.labels.org.example.by=set",
    "other.args.N=${literal}",
]


def buildx_print(bake_file: Path, cwd: Path, env: dict[str, str], *extra: str) -> Any:
    return bake_print([bake_file], ["app", "other"], cwd, env, *extra)["target"]


def test_render_set_and_var_give_what_buildx_set_gives(stack, tmp_path: Path) -> None:
    project = small_project(
        tmp_path / "p", PROJECT.format(registry="127.0.0.1:5000/pt", repo="app")
    )
    env = env_for(stack)
    plain = bakepy(["render", "--var", "TAG=1.2.3", "-o", "plain.json"], project, env)
    assert plain.returncode == 0, plain.stderr
    sets = [a for s in SETS for a in ("--set", s)]
    carried = bakepy(["render", "--var", "TAG=1.2.3", *sets, "-o", "set.json"], project, env)
    assert carried.returncode == 0, carried.stderr
    by_buildx = buildx_print(project / "plain.json", project, env, *sets)
    assert buildx_print(project / "set.json", project, env) == by_buildx
    assert by_buildx["app"]["args"] == {"EXTRA": "x", "TAG": "1.2.3"}
    assert by_buildx["app"]["platforms"] == ["linux/arm64"]


def test_publish_var_tags_what_the_variable_says(stack, unique_repo: str, tmp_path: Path) -> None:
    project = small_project(
        tmp_path / "p", PROJECT.format(registry="127.0.0.1:5000", repo=unique_repo)
    )
    tag = f"v{uuid.uuid4().hex[:8]}"
    done = bakepy(["publish", "--json", "--var", f"TAG={tag}", "app"], project, env_for(stack))
    assert done.returncode == 0, done.stderr
    assert api.list_tags("127.0.0.1:5000", unique_repo) == [tag]
    _, index = api.get_manifest("127.0.0.1:5000", unique_repo, tag)
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
    descriptor = api.image_manifests(index)["linux/arm64"]
    _, manifest = api.get_manifest("127.0.0.1:5000", unique_repo, descriptor["digest"])
    config = json.loads(api.get_blob("127.0.0.1:5000", unique_repo, manifest["config"]["digest"]))
    assert config["config"]["Labels"]["org.example.tag"] == tag

    refused = bakepy(["publish", "--var", "TGA=x"], project, env_for(stack))
    assert refused.returncode == 2
    assert (
        refused.stderr.splitlines()[-1]
        == ("error: --var TGA: bakepy.toml declares no variable 'TGA'; did you mean 'TAG'?")
        or "did you mean 'TAG'" in refused.stderr
    )


def test_build_load_without_a_daemon_is_refused_before_building(stack, tmp_path: Path) -> None:
    project = small_project(tmp_path / "p", PROJECT.format(registry="127.0.0.1:5000", repo="x"))
    done = bakepy(["build", "--platform", "linux/amd64", "--load", "app"], project, env_for(stack))
    assert done.returncode == 4, done.stderr
    assert (
        "error: --load loads the image into the local Docker daemon, and no Docker daemon answers; "
        "nothing was built"
    ) in done.stderr.splitlines()
    ran = [line for line in done.stderr.splitlines() if line.startswith("+ ")]
    assert not any("buildx bake" in line for line in ran), ran  # refused before any bake ran
