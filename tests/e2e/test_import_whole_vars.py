"""`bakepy import --python` translates a bake file whole where it can (issue 24 item 2, `hclwhole`), checked
against buildx itself: for each bake file of tests/fixtures/whole-vars, import once with the defaults, then for
every environment of `ENVS`, `docker buildx bake --print` of the original (the variables set) equals `--print`
of `bakepy render` of the import (rendered with them in the environment, and with `--var` for one of them):
targets and groups, even where the values decide which targets there are. The written module is
`ruff format` clean, passes `mypy --strict`, and freezes nothing.

Only the docker CLI and buildx are needed (`--print` runs no build).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whole-vars"

#: fixture → environments to compare under (tests/unit/test_import_whole_python.py has the same files)
ENVS: dict[str, list[dict[str, str]]] = {
    "matrix.hcl": [
        {},
        {"VERSIONS": "3.13"},
        {"VERSIONS": "3.9,3.10,3.11", "ENV": "production"},
        {"REGISTRY": "quay.io/x"},
    ],
    "inherits.hcl": [
        {},
        {"BASE": "full"},
        {"CACHE": "acme/c"},
        {"PLATFORM": "linux/arm64", "TAG": ""},
        {"FULL_TAG": "edge", "TAG": "9"},
    ],
    "clock.hcl": [{}, {"REPO": "other/app"}],
    # prose defaults: bake prints the tags they make, so does render (plan refuses them, naming the variable)
    "text.hcl": [
        {},
        {"REGISTRY": "quay.io/org/", "SHA": "abc"},
        {"FLAVOR": "full", "SHA": ""},
        {"REGISTRY": "", "SHA": "1.0"},
    ],
}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed: {done.stderr.strip()}{done.stdout}"
    return done.stdout


def _bake_print(cwd: Path, file: str, env: dict[str, str]) -> dict[str, Any]:
    """Every target and group bake prints, but private ones (`_base`); a group's members sorted (bake lists
    a matrix of several keys in Go's map order)."""
    out = _run(
        ["docker", "buildx", "bake", "--progress=quiet", "-f", file, "--print", "*"], cwd, env
    )
    printed = json.loads(out)
    targets = {n: t for n, t in printed["target"].items() if not n.startswith("_")}
    groups = {
        n: sorted(m for m in g.get("targets", []) if not m.startswith("_"))
        for n, g in printed.get("group", {}).items()
        if not n.startswith("_")
    }
    return {"target": targets, "group": groups}


@pytest.fixture(scope="module")
def buildx() -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    done = subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip("docker buildx is not installed")


@pytest.mark.parametrize("case", sorted(ENVS))
def test_whole_translation_follows_bake(case: str, tmp_path: Path, buildx: None) -> None:
    envs = ENVS[case]
    shutil.copy(FIXTURES / case, tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    _run([*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, {"SOURCE_DATE_EPOCH": ""})
    module = (tmp_path / "bakefile.py").read_text()
    assert "frozen" not in module
    # every variable read live, or kept as `${NAME}` where it only lands as a part of a text
    assert "value = variable_values(variables)" in module or ' = "${' in module
    checks = [
        ["ruff", "format", "--check", "--line-length", "100", "bakefile.py"],
        ["mypy", "--strict", "--no-incremental", "bakefile.py"],
    ]
    for check in checks:
        done = subprocess.run(
            [sys.executable, "-m", *check],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert done.returncode == 0, f"{check[0]}: {done.stdout}{done.stderr}\n{module}"
    for env in envs:
        original = _bake_print(tmp_path, "docker-bake.hcl", env)
        _run([*bakepy, "render", "-o", "rendered.json"], tmp_path, env)
        imported = _bake_print(tmp_path, "rendered.json", {})
        (tmp_path / "rendered.json").unlink()
        assert imported == original, f"{case} with {env}"
    # --var is the same as the environment
    name, value = next(iter(e for e in envs if e)).popitem()
    out = _run([*bakepy, "render", "--var", f"{name}={value}"], tmp_path, {})
    (tmp_path / "rendered.json").write_text(out)
    assert _bake_print(tmp_path, "rendered.json", {}) == _bake_print(
        tmp_path, "docker-bake.hcl", {name: value}
    )


def test_a_prose_default_is_refused_by_plan_naming_the_variable(
    tmp_path: Path, buildx: None
) -> None:
    """Issue 24 item 15: whole-vars/text.hcl's REGISTRY stays `${REGISTRY}`; with its prose default render
    writes the tags bake prints, and `bakepy plan` refuses them, naming the variable."""
    shutil.copy(FIXTURES / "text.hcl", tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    _run([*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, {})
    assert 'REGISTRY = "${REGISTRY}"' in (tmp_path / "bakefile.py").read_text()
    done = subprocess.run(
        [*bakepy, "plan"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the default of variable.REGISTRY" in done.stderr
    _run([*bakepy, "plan"], tmp_path, {"REGISTRY": "quay.io/org/", "SHA": "abc"})
