"""A merge that fails in one registry after another registry's tags moved: every tag is put back.

The test owns a second registry so it can make it read-only between the build and the merge (reads still work,
writes fail), which is the moment `imagetools create` fails for that registry only. Everything is checked through
the registries' HTTP API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import ScratchRegistry

from bakepy.bake.render import dumps, render_bake
from bakepy.config import load_project
from bakepy.engine.runner import Runner
from bakepy.errors import RegistryError
from bakepy.publish.build import build_by_digest
from bakepy.publish.plan import plan_publish
from bakepy.publish.run import merge_collected, specs_from_plan, workdir
from bakepy.publish.sources import collect_all

TAGS = ("latest", "1.0")


@pytest.fixture
def own_registry(stack, tmp_path: Path) -> Iterator[ScratchRegistry]:
    registry = ScratchRegistry(tmp_path / "registry")
    registry.serve()
    yield registry
    registry.stop()


def write_project(root: Path, registries: list[str], repo: str, version: str) -> None:
    root.mkdir(exist_ok=True)
    (root / "Dockerfile").write_text(f"FROM busybox\nRUN echo {version} > /version\n")
    regs = ", ".join(f'"{r}"' for r in registries)
    (root / "bakepy.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]
            tags = ["latest", "1.0"]

            [target.app]
            image = "{repo}"
            context = "."
            """
        )
    )


def digests(registries: list[str], repo: str) -> dict[str, str]:
    return {f"{r}:{t}": api.get_manifest(r, repo, t)[0] for r in registries for t in TAGS}


def test_a_merge_failing_in_one_registry_puts_every_tag_back(
    stack,
    own_registry: ScratchRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registries = [stack.registries[0], own_registry.address]
    project_dir = tmp_path / "proj"
    write_project(project_dir, registries, unique_repo, "v1")
    first = subprocess.run(
        [sys.executable, "-m", "bakepy", "publish"],
        cwd=project_dir,
        env={**os.environ, **stack.env_overlay},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    before = digests(registries, unique_repo)

    # v2: built and pushed by digest to both registries, sources checked...
    write_project(project_dir, registries, unique_repo, "v2")
    for key, value in stack.env_overlay.items():
        monkeypatch.setenv(key, value)
    loaded = load_project(project_dir / "bakepy.toml")
    plan = plan_publish(loaded.project)
    specs = specs_from_plan(plan, loaded.project)
    work = workdir(project_dir)
    (work / "docker-bake.json").write_text(dumps(render_bake(loaded.project, publish=True)))
    runner = Runner(log=lambda line: None, echo_output=False)
    built = build_by_digest(
        runner,
        work / "docker-bake.json",
        ["app"],
        cwd=project_dir,
        metadata_file=work / "metadata.json",
    )
    collected = collect_all(runner, [(spec, [built[spec.name]]) for spec in specs])

    # ...then the second registry turns read-only: its merge fails after the first registry's tags moved.
    own_registry.serve(read_only=True)
    with pytest.raises(RegistryError) as failure:
        merge_collected(runner, collected)

    message = str(failure.value)
    assert message.startswith("merge of target app failed: ")
    assert own_registry.address in message  # the failing registry, from imagetools' own words
    assert message.endswith("; put back 2 tag(s) moved in this run")
    assert digests(registries, unique_repo) == before
