"""`bakepy import --python` translates a bake file whole where it can (issue 24 item 2, `hclwhole`), checked
against buildx itself: for each bake file of tests/fixtures/whole-vars, import once with the defaults, then for
every environment of `ENVS`, `docker buildx bake --print` of the original (the variables set) equals `--print`
of `bakepy render` of the import (rendered with them in the environment, and with `--var` for one of them):
targets and groups, even where the values decide which targets there are. The written module is
`ruff format` clean, passes `mypy --strict`, and freezes nothing.

Only the docker CLI and buildx are needed (`--print` runs no build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import public_print, run_ok

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


@pytest.mark.parametrize("case", sorted(ENVS))
def test_whole_translation_follows_bake(case: str, tmp_path: Path, buildx_plugin: None) -> None:
    envs = ENVS[case]
    shutil.copy(FIXTURES / case, tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    run_ok(
        [*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, {"SOURCE_DATE_EPOCH": ""}
    )
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
        original = public_print(tmp_path, "docker-bake.hcl", env)
        run_ok([*bakepy, "render", "-o", "rendered.json"], tmp_path, env)
        imported = public_print(tmp_path, "rendered.json", {})
        (tmp_path / "rendered.json").unlink()
        assert imported == original, f"{case} with {env}"
    # --var is the same as the environment
    name, value = next(iter(e for e in envs if e)).popitem()
    out = run_ok([*bakepy, "render", "--var", f"{name}={value}"], tmp_path, {})
    (tmp_path / "rendered.json").write_text(out)
    assert public_print(tmp_path, "rendered.json", {}) == public_print(
        tmp_path, "docker-bake.hcl", {name: value}
    )


def test_a_prose_default_is_refused_by_plan_naming_the_variable(
    tmp_path: Path, buildx_plugin: None
) -> None:
    """Issue 24 item 15: whole-vars/text.hcl's REGISTRY stays `${REGISTRY}`; with its prose default render
    writes the tags bake prints, and `bakepy plan` refuses them, naming the variable."""
    shutil.copy(FIXTURES / "text.hcl", tmp_path / "docker-bake.hcl")
    bakepy = [sys.executable, "-m", "bakepy"]
    run_ok([*bakepy, "import", "--python", "-o", "bakefile.py"], tmp_path, {})
    assert 'REGISTRY = "${REGISTRY}"' in (tmp_path / "bakefile.py").read_text()
    done = subprocess.run(
        [*bakepy, "plan"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the default of variable.REGISTRY" in done.stderr
    run_ok([*bakepy, "plan"], tmp_path, {"REGISTRY": "quay.io/org/", "SHA": "abc"})
