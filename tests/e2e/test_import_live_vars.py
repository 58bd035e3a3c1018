"""`bakepy import --python` keeps variables live that bake computes with (issue 24, item 2), checked against
buildx itself: for each bake file of tests/fixtures/bake/live-python-*.hcl, import once with the defaults,
then for every environment of `ENVS`, `docker buildx bake --print` of the original equals `--print` of
`bakepy render` of the import (rendered with that environment, and with `--var` for one of them). The written
module is `ruff format` clean, and the variables expected live are not frozen.

Only the docker CLI and buildx are needed (`--print` runs no build).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import public_print, run_ok

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


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_import_follows_bake(case: str, tmp_path: Path, buildx_plugin: None) -> None:
    live, frozen, envs = CASES[case]
    shutil.copy(FIXTURES / case, tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    clean = {name: "" for name in ("SOURCE_DATE_EPOCH",)}
    run_ok([*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, clean)
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
        original = public_print(tmp_path, "docker-bake.hcl", env)["target"]
        run_ok([*bakepy, "render", "-o", "rendered.json"], tmp_path, env)
        imported = public_print(tmp_path, "rendered.json", env)["target"]
        (tmp_path / "rendered.json").unlink()
        assert imported == original, f"{case} with {env}"
    # --var is the same as the environment
    name, value = next(iter(e for e in envs if e)).popitem()
    out = run_ok([*bakepy, "render", "--var", f"{name}={value}"], tmp_path, {})
    (tmp_path / "rendered.json").write_text(out)
    rendered = public_print(tmp_path, "rendered.json", {})["target"]
    assert rendered == public_print(tmp_path, "docker-bake.hcl", {name: value})["target"]
