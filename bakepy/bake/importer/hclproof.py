"""The proof of the whole translation of an HCL bake file (`hclwhole`, issue 24 item 2). Statically, from the
HCL tree: which variables only ever land as a part of a text, so that the module may keep them as `${NAME}`
for bakepy to fill in and check at render (a probe cannot show that `x == ""` was computed on a placeholder).
By running: the written module is run in-process and rendered, with the values in force at import and again with each text variable the import
follows at a probe value, and what it renders must equal what the import renders (bake's print), up to what
bake itself leaves unordered. Also the project the proven module stands for (its variables and the notes that
still hold). Nothing here runs a process: the import is rendered from its TOML form, the module by `exec`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeAlias

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.hclexpr import (
    Binary,
    Call,
    Conditional,
    Expr,
    For,
    GetAttr,
    HclFiles,
    Index,
    Literal,
    Name,
    Object,
    Template,
    TemplateIf,
    Tuple,
    Unary,
    Unsupported,
)
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


# -- statically: where variables land ------------------------------------------------------------------------------------

#: How a value lands: "text" as a whole text (may be empty: bake drops an empty list item), "part" inside a
#: text that is not empty whatever the part is, "list" a list of "text", "map" a map whose values are "text";
#: None anywhere else (compared, computed with, a condition, a key, a matrix, a name).
Landing: TypeAlias = str | None


def text_only(
    files: HclFiles,
    text_keys: frozenset[str],
    list_keys: frozenset[str],
    map_keys: frozenset[str],
) -> frozenset[str]:
    """The variables whose every use, through top-level attributes and user functions' parameters, is a part
    of a text that lands in a target as is (`text_keys` attributes, `list_keys` items, `map_keys` values):
    never compared, never an argument of bake's functions, never a condition, key, matrix, name or group.
    Such a variable can stay `${NAME}` in the targets for bakepy to interpolate, and check, at render."""
    uses: dict[str, set[Landing]] = {name: set() for name in files.variables}
    walker = _Landings(files, uses)
    for var in files.variables.values():
        for e in (var.default, var.type):
            walker.walk(e, None, {}, frozenset())  # another variable's default reads it: computed
        for condition, message in var.validations:
            walker.walk(condition, None, {}, frozenset())
            walker.walk(message, None, {}, frozenset())
    for target in files.targets.values():
        matrix = target.attributes.get("matrix")
        keys = frozenset(_matrix_keys(matrix.items if isinstance(matrix, Object) else ()))
        for key, e in target.attributes.items():
            landing = "text" if key in text_keys else None
            landing = "list" if key in list_keys else "map" if key in map_keys else landing
            walker.walk(e, landing, {}, keys)
    for group in files.groups.values():
        for e in group.values():
            walker.walk(e, None, {}, frozenset())
    return frozenset(n for n, landings in uses.items() if landings and landings <= {"part"})


class _Landings:
    """Walks expressions, recording each variable's landings (`uses`); a user function's parameter stands for
    its argument, walked where the parameter lands."""

    def __init__(self, files: HclFiles, uses: dict[str, set[Landing]]) -> None:
        self.files = files
        self.uses = uses
        self.seen: set[tuple[str, Landing]] = set()  # top-level attributes walked, per landing
        self.depth = 0

    def walk(
        self,
        e: Expr | None,
        landing: Landing,
        params: Mapping[str, tuple[Expr, Mapping[str, Any], frozenset[str]]],
        local: frozenset[str],
    ) -> None:
        if e is None or isinstance(e, Literal | Unsupported):
            return
        if isinstance(e, Name):
            if e.name in params:
                arg, arg_params, arg_local = params[e.name]
                self.walk(arg, landing, arg_params, arg_local)
            elif e.name in local:
                return  # a matrix value or a `for` name
            elif e.name in self.uses:
                self.uses[e.name].add(landing)
            elif e.name in self.files.attributes and (e.name, landing) not in self.seen:
                self.seen.add((e.name, landing))
                self.walk(self.files.attributes[e.name], landing, {}, frozenset())
            return
        if isinstance(e, Template):
            solid = any(isinstance(p, str) and p for p in e.parts)  # not empty, whatever the rest
            inner = None if landing not in ("text", "part") else "part" if solid else landing
            self._parts(e.parts, inner, params, local)
            return
        if isinstance(e, Conditional):
            self.walk(e.condition, None, params, local)
            self.walk(e.then, landing, params, local)
            self.walk(e.otherwise, landing, params, local)
            return
        if isinstance(e, Tuple):
            for item in e.items:
                self.walk(item, "text" if landing == "list" else None, params, local)
            return
        if isinstance(e, Object):
            for key, value in e.items:
                self.walk(key, None, params, local)
                self.walk(value, "text" if landing == "map" else None, params, local)
            return
        if isinstance(e, Call) and e.name in self.files.functions and not e.expand:
            fn = self.files.functions[e.name]
            if fn.variadic is None and len(fn.params) == len(e.args) and self.depth < 20:
                bound = {p: (a, params, local) for p, a in zip(fn.params, e.args, strict=True)}
                self.depth += 1
                self.walk(fn.result, landing, bound, frozenset())
                self.depth -= 1
                return
        for child in _children_of(e):
            self.walk(child, None, params, local)
        if isinstance(e, For):
            self.walk(e.value, None, params, local | frozenset(e.names))
            self.walk(e.key, None, params, local | frozenset(e.names))
            self.walk(e.condition, None, params, local | frozenset(e.names))

    def _parts(
        self,
        parts: tuple[str | Expr | TemplateIf, ...],
        landing: Landing,
        params: Mapping[str, tuple[Expr, Mapping[str, Any], frozenset[str]]],
        local: frozenset[str],
    ) -> None:
        for part in parts:
            if isinstance(part, TemplateIf):
                self.walk(part.condition, None, params, local)
                self._parts(part.then, None, params, local)
                self._parts(part.otherwise, None, params, local)
            elif not isinstance(part, str):
                self.walk(part, landing, params, local)


def _matrix_keys(items: tuple[tuple[Expr, Expr], ...]) -> Iterator[str]:
    """A matrix's keys as written (`v`, `"v"`): the names its values go by in the target."""
    for key, _ in items:
        if isinstance(key, Name):
            yield key.name
        elif isinstance(key, Literal) and isinstance(key.value, str):
            yield key.value
        elif isinstance(key, Template):
            yield "".join(p for p in key.parts if isinstance(p, str))


def _children_of(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node that computes with them (a `for`'s body is walked in its own scope)."""
    if isinstance(e, GetAttr):
        return (e.value,)
    if isinstance(e, Index):
        return (e.value, e.key)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Unary):
        return (e.value,)
    if isinstance(e, For):
        return (e.collection,)
    return ()


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
