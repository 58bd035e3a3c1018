"""The proof of the whole translation of an HCL bake file (`hclwhole`, issue 24 item 2): the written module is
run in-process and rendered, with the values in force at import and again with each text variable the import
follows at a probe value, and what it renders must equal what the import renders (bake's print), up to what
bake itself leaves unordered. Also the project the proven module stands for (its variables and the notes that
still hold). Nothing here runs a process: the import is rendered from its TOML form, the module by `exec`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.imported import ImportedProject, ImportedVariable, ImportNote

# -- the project the module stands for ---------------------------------------------------------------------


def written_project(
    project: ImportedProject,
    files: h.HclFiles,
    defaults: Mapping[str, str | None],
    constants: Collection[str],
) -> ImportedProject:
    """The import with the bake file's variables (none frozen), and only the notes that still hold: nothing is
    frozen (the clock included); a value from the environment at import is not the default any more."""
    described = {v.name: v.description for v in project.variables}
    variables = tuple(
        ImportedVariable(name, defaults.get(name), described.get(name))
        for name in files.variables
        if name not in constants
    )
    notes = []
    for note in project.notes:
        name = note.where.removeprefix("variable.")
        if any(w in note.message for w in ("frozen at", "timestamp()", "is null in bake")):
            continue  # nothing is frozen, the clock is read at render, a null entry is None as in bake
        if note.where.startswith("variable.") and "came from the environment" in note.message:
            note = ImportNote(
                note.where,
                f"its value at import came from the environment ({name} was set); the Python form keeps "
                "the bake file's default, and the environment overrides it at render, as in bake",
            )
        notes.append(note)
    # the bake file's private targets are translated too, not folded into the targets inheriting them
    remarks = tuple(r for r in project.remarks if not r.startswith("Private targets folded"))
    return replace(project, variables=variables, notes=tuple(notes), remarks=remarks)


# -- the proof ---------------------------------------------------------------------------------------------


def proven(
    text: str,
    project: ImportedProject,
    files: h.HclFiles,
    clock: bool,
    why: list[str],
    unordered: frozenset[str] = frozenset(),
    probed: Collection[str] = (),
) -> bool:
    """Whether the module renders what the import renders: with the values in force at import, and with each
    text variable the import follows (of `probed`: bake reads them from the environment as text) at a probe
    value (the import's templates stand for bake's probes). The
    members of the groups of `unordered` in any order (a matrix of several keys: bake lists them in Go's map
    order; `default`: bake sorts them)."""
    from bakepy.bake.importer.conversion import _unclocked

    def normal(value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("context"), str):
            value = {**value, "context": clean_path(value["context"])}
        if isinstance(value, str):
            return _unclocked(value) if clock else value
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value

    env_note = {
        n.where.removeprefix("variable.")
        for n in project.notes
        if n.where.startswith("variable.") and "came from the environment" in n.message
    }
    base: dict[str, str] = {}
    for var in project.variables:
        if var.name in env_note and isinstance(var.default, str):
            base[var.name] = var.default
    want = _render_import(project, base)
    got = _render_module(text, base, why)
    if want is None or got is None or not _same(normal(want), normal(got), why, unordered):
        why.append("it does not render what the import renders")
        return False
    for i, var in enumerate(project.variables):
        if var.frozen or var.name not in files.variables or var.name not in probed:
            continue
        env = {**base, var.name: f"bkpyw{i}x"}
        want = _render_import(project, env)
        if want is None:
            continue
        got = _render_module(text, env, why)
        if got is None or not _same(normal(want), normal(got), why, unordered):
            why.append(
                f"with {var.name} at a probe value it does not render what the import renders"
            )
            return False
    return True


def _same(
    want: dict[str, Any], got: dict[str, Any], why: list[str], unordered: frozenset[str]
) -> bool:
    """The renders agree: the same targets but the private ones (`_base`: the import folds the bake file's into
    the targets inheriting them, and may make up its own), each the same; every group the import has."""
    targets_w = {n: t for n, t in want.get("target", {}).items() if not n.startswith("_")}
    targets_g = {n: t for n, t in got.get("target", {}).items() if not n.startswith("_")}
    extra = set(targets_g) - set(targets_w)
    missing = set(targets_w) - set(targets_g)
    if extra or missing:
        why.append(f"targets {sorted(extra)} more, {sorted(missing)} fewer")
        return False
    for n in targets_w:
        if targets_w[n] != targets_g[n]:
            why.append(f"target {n}: {targets_g[n]} for {targets_w[n]}")
            return False
    groups_w, groups_g = want.get("group", {}), got.get("group", {})
    for n, g in groups_w.items():
        if n.startswith("_"):
            continue  # a group the import made up of a matrix it found
        ours, theirs = (
            (_members(groups_g.get(n)), _members(g)) if n in unordered else (groups_g.get(n), g)
        )
        if ours != theirs:
            why.append(f"group {n}: {groups_g.get(n)} for {g}")
            return False
    return True


def clean_path(path: str) -> str:
    """A local context as bake prints it (Go's filepath.Clean: `./plone` is `plone`)."""
    import posixpath

    if "://" in path or path.startswith(("git@", "target:", "docker-image:")) or path == "-":
        return path
    return posixpath.normpath(path)


def _members(group: Any) -> Any:
    if not isinstance(group, dict):
        return group
    members = group.get("targets")
    return {**group, "targets": sorted(members)} if isinstance(members, list) else group


def _render_import(project: ImportedProject, env: Mapping[str, str]) -> dict[str, Any] | None:
    from bakepy.bake.importer.toml import to_toml
    from bakepy.bake.render import render_bake
    from bakepy.config import load_toml

    try:
        return render_bake(load_toml(to_toml(project), env=env))
    except Exception:
        return None


def _render_module(text: str, env: Mapping[str, str], why: list[str]) -> dict[str, Any] | None:
    from bakepy.bake.render import render_bake
    from bakepy.model import ENVIRONMENT

    namespace: dict[str, Any] = {}
    token = ENVIRONMENT.set(dict(env))
    try:
        exec(compile(text, "<bakefile.py>", "exec"), namespace)
        return render_bake(namespace["project"])
    except Exception as exc:
        why.append(f"the module fails: {type(exc).__name__}: {exc}")
        return None
    finally:
        ENVIRONMENT.reset(token)
