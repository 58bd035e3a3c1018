"""The house layout, checked from the source: a pure core, one seam to docker, a thin CLI.

- the pure core (model/, config, schema, bake/render, bake/importer's pure steps, publish/plan, publish/index,
  publish/records' reading, ci/matrix and the CI file generators, tagging/) never starts a process, opens a socket or
  imports the engine, publish's running stages, or doctor;
- only bakepy/engine/ imports python_on_whales or talks HTTP to a registry;
- only bakepy/cli/ imports typer;
- every module opens with a docstring saying what it owns.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bakepy"
PURE = (
    "model/*.py",
    "config.py",
    "inputs.py",
    "schema.py",
    "errors.py",
    "bake/render.py",
    "bake/importer/imported.py",
    "bake/importer/printed.py",
    "bake/importer/conversion.py",
    "bake/importer/text.py",
    "bake/importer/toml.py",
    "bake/importer/python.py",
    "publish/plan.py",
    "publish/index.py",
    "ci/matrix.py",
    "ci/workflow.py",
    "ci/github.py",
    "ci/gitlab.py",
    "ci/summary.py",
    "ci/yaml.py",
    "tagging/*.py",
)
IMPURE = {
    "subprocess",
    "python_on_whales",
    "urllib",
    "http",
    "socket",
    "bakepy.engine",
    "bakepy.publish.build",
    "bakepy.publish.sources",
    "bakepy.publish.merge",
    "bakepy.publish.run",
    "bakepy.ci.split",
    "bakepy.doctor",
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _impure(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in IMPURE)


MODULES = sorted(PACKAGE.rglob("*.py"))
CORE = sorted({p for pattern in PURE for p in PACKAGE.glob(pattern)})


def test_the_core_list_names_real_files() -> None:
    for pattern in PURE:
        assert list(PACKAGE.glob(pattern)), f"{pattern} matches no module: update PURE"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_is_pure(path: Path) -> None:
    bad = {u for u in imports(path) if _impure(u)}
    assert not bad, f"bakepy/{path.relative_to(PACKAGE)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_one_seam_to_docker_and_a_thin_cli(path: Path) -> None:
    used = top(imports(path))
    relative = path.relative_to(PACKAGE)
    if "python_on_whales" in used:
        assert relative.parts[0] == "engine", (
            f"{relative} imports python_on_whales: go through bakepy.engine.runner"
        )
    if "urllib" in used or "http" in used:
        assert relative.parts[0] == "engine", (
            f"{relative} talks HTTP: registry access belongs in bakepy.engine"
        )
    if "typer" in used:
        assert relative.parts[0] == "cli", f"{relative} imports typer: only bakepy/cli may"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_what_it_owns(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"bakepy/{path.relative_to(PACKAGE)} has no module docstring"
