"""`bakepy import --python` keeps variables live that bake computes with (issue 24, item 2), checked against
buildx itself: for each bake file of tests/fixtures/bake/live-python-*.hcl, import once with the defaults,
then for every environment of `ENVS`, `docker buildx bake --print` of the original equals `--print` of
`bakepy render` of the import (rendered with that environment, and with `--var` for one of them). The written
module is `ruff format` clean, and the variables expected live are not frozen.

Only the docker CLI and buildx are needed (`--print` runs no build).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bake"

#: fixture → (variables the Python form keeps live, variables still frozen, environments to compare under)
CASES: dict[str, tuple[set[str], set[str], list[dict[str, str]]]] = {
    "live-python-tags.hcl": (
        {"VERSION"},
        set(),
        [
            {},
            {"VERSION": "main"},
            {"VERSION": "main-arm"},
            {"VERSION": "2.0"},
            {"VERSION": "main", "ORG": "other", "PREFIX": "x-"},
            {"PINNED": "9.9.9"},
        ],
    ),
    "live-python-constructs.hcl": (
        {"CHANNEL", "PLATFORMS", "PUSH", "BUILD_NUMBER", "EXTRA_TAGS", "VERSION"},
        set(),
        [
            {},
            {"CHANNEL": "edge"},
            {"CHANNEL": "lts", "PUSH": "true"},
            {"CHANNEL": "nightly-build", "PUSH": "1"},
            {"PLATFORMS": "linux/amd64"},
            {"BUILD_NUMBER": "41"},
            {"EXTRA_TAGS": "a, b,,c"},
            {"VERSION": "v2.0"},
            {"VERSION": "v10.20.30", "REGISTRY": "quay.io/x"},
        ],
    ),
    "live-python-frozen.hcl": (  # the whole translation (hclwhole) keeps the matrix and cache-from live
        {"LIVE", "VERSIONS", "CACHE"},
        set(),
        [{}, {"LIVE": "no"}, {"VERSIONS": "3.13,3.9"}, {"CACHE": "off"}],
    ),
}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed: {done.stderr.strip()}"
    return done.stdout


def _bake_print(cwd: Path, file: str, env: dict[str, str]) -> dict[str, object]:
    out = _run(
        ["docker", "buildx", "bake", "--progress=quiet", "-f", file, "--print", "*"], cwd, env
    )
    targets = json.loads(out)["target"]
    assert isinstance(targets, dict)
    return {name: t for name, t in targets.items() if not name.startswith("_")}


@pytest.fixture(scope="module")
def buildx() -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    done = subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip("docker buildx is not installed")


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_import_follows_bake(case: str, tmp_path: Path, buildx: None) -> None:
    live, frozen, envs = CASES[case]
    shutil.copy(FIXTURES / case, tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    clean = {name: "" for name in ("SOURCE_DATE_EPOCH",)}
    _run([*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, clean)
    module = (tmp_path / "bakefile.py").read_text()
    for name in live:
        assert f'"{name}": Variable(' in module
        assert not any(
            f'"{name}": Variable(' in line and "frozen=True" in line for line in module.splitlines()
        ), f"{name} is frozen in {case}"
    for name in frozen:
        assert any(
            f'"{name}": Variable(' in line and "frozen=True" in line for line in module.splitlines()
        ), f"{name} should stay frozen in {case}"
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--line-length", "100", "bakefile.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, f"bakefile.py is not ruff-format clean:\n{module}"
    for env in envs:
        original = _bake_print(tmp_path, "docker-bake.hcl", env)
        _run([*bakepy, "render", "-o", "rendered.json"], tmp_path, env)
        imported = _bake_print(tmp_path, "rendered.json", env)
        (tmp_path / "rendered.json").unlink()
        assert imported == original, f"{case} with {env}"
    # --var is the same as the environment
    name, value = next(iter(e for e in envs if e)).popitem()
    out = _run([*bakepy, "render", "--var", f"{name}={value}"], tmp_path, {})
    (tmp_path / "rendered.json").write_text(out)
    assert _bake_print(tmp_path, "rendered.json", {}) == _bake_print(
        tmp_path, "docker-bake.hcl", {name: value}
    )
