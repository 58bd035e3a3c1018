"""The house layout, checked from the source: a pure core, one seam to docker, a thin CLI.

- model, config, render, plan, schema, matrix, ci never start a process nor talk to docker or a registry;
- only bakepy/runner.py imports python_on_whales (registry.py reaches docker through the runner);
- only bakepy/cli/ imports typer;
- every module opens with a docstring saying what it owns.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bakepy"
PURE = ("model", "config", "render", "plan", "schema", "matrix", "ci")
IMPURE = {
    "subprocess",
    "python_on_whales",
    "urllib",
    "socket",
    "bakepy.runner",
    "bakepy.registry",
    "bakepy.publish",
    "bakepy.split",
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


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("name", PURE)
def test_the_core_is_pure(name: str) -> None:
    used = imports(PACKAGE / f"{name}.py")
    bad = {u for u in used if u in IMPURE or u.split(".")[0] in IMPURE}
    assert not bad, f"bakepy/{name}.py imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_one_seam_to_docker_and_a_thin_cli(path: Path) -> None:
    used = top(imports(path))
    relative = path.relative_to(PACKAGE)
    if "python_on_whales" in used:
        assert relative == Path("runner.py"), (
            f"{relative} imports python_on_whales: go through bakepy.runner"
        )
    if "typer" in used:
        assert relative.parts[0] == "cli", f"{relative} imports typer: only bakepy/cli may"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_what_it_owns(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"bakepy/{path.relative_to(PACKAGE)} has no module docstring"
