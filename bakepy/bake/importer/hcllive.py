"""Variables that stay live in the Python form of an import (issue 24, item 2): the bake file's conditions and
functions, translated to Python, instead of a variable frozen at its value.

A variable the import froze (bake computes with it: `notequal("master", MAILU_VERSION) ? … : ""`) goes live
when every target attribute whose HCL expression depends on it, directly or through a function, a top-level
attribute or another variable, can be written as a Python expression on the imported target that holds it:

- the attribute is one a target states whole (tags, platforms, text, a bool, cache-to, output), a map entry
  (args, labels, contexts, extra-hosts), or a list bake appends (cache-from, secret, …) where nothing is
  inherited to append to; in a target of the same name in the import, with no `matrix`;
- every target inheriting it in the bake file (a child's own value replaces, maps merge entry by entry) gets
  the expression too, unless a base the import gives it already has it; and no target gets it through a base
  the import made up that the bake file does not have;
- the expression uses only what `bakepy.bakefuncs` has (`hclpython` translates it), and with the values in
  force it gives exactly what the import holds (`livecheck` runs the code on those values).

Anything else (a matrix, `inherits` or a group computed from it, a default computed from it, the clock, a
function bakepy does not have, a JSON bake file) keeps today's behaviour for the variables it touches: frozen,
with its one-line note. `LiveForm` is what the Python writer (`python.py`) needs to write the module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.hclpython import (
    Code,
    Translator,
    Untranslatable,
    python_name,
)
from bakepy.bake.importer.imported import (
    BAKE_DEFAULTS,
    ImportedProject,
    ImportedTarget,
    Template,
    Value,
)
from bakepy.bake.importer.livecheck import (
    LISTS,
    check,
    imported_value,
    inherits_of,
    plain_default,
    values_in_force,
)
from bakepy.bake.importer.mergerules import MAPS, REPLACE

# -- the result ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionCode:
    name: str
    hcl_name: str
    params: tuple[str, ...]
    variadic: str | None
    result: Any


@dataclass
class LiveForm:
    """What the Python writer adds for live variables."""

    live: tuple[str, ...]  # the variables no longer frozen
    reads: tuple[tuple[str, str, str], ...]  # (python name, variable, parse function or "")
    attributes: tuple[tuple[str, Any], ...]  # top-level attributes: (python name, code)
    functions: tuple[FunctionCode, ...]
    #: target → attribute → code (a map attribute: its entries that are code, the rest kept as imported)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    imports: tuple[str, ...] = ()  # from bakepy.bakefuncs
    added: tuple[tuple[str, str | None], ...] = ()  # variables to declare that the import did not
    #: target → attribute → the value the import holds, written on the target so a base's code stops there
    pinned: dict[str, dict[str, Value]] = field(default_factory=dict)


#: Attributes a target states whole (bake's merge replaces them): text, bools, lists of text, and the entries
#: bakepy's model parses from buildx's CSV spelling (`type=registry,ref=…`).
_WHOLE = REPLACE - {"resources"}  # `resources` is merged field by field
#: Lists bake appends to a parent's: code only where nothing is inherited to append to.
_APPENDED = frozenset(
    {"cache-from", "secret", "ssh", "attest", "annotations", "no-cache-filter", "entitlements"}
)


def _free(e: Any, bound: frozenset[str] = frozenset()) -> Iterator[tuple[str, bool]]:
    """Names an expression reads: (name, is a function call)."""
    if isinstance(e, h.Name):
        if e.name not in bound:
            yield e.name, False
    elif isinstance(e, h.Call):
        yield e.name, True
        for a in e.args:
            yield from _free(a, bound)
    elif isinstance(e, h.For):
        yield from _free(e.collection, bound)
        inner = bound | set(e.names)
        for part in (e.value, e.key, e.condition):
            if part is not None:
                yield from _free(part, inner)
    elif isinstance(e, h.Template | h.TemplateIf | h.Tuple):
        children: Sequence[Any] = (
            e.parts
            if isinstance(e, h.Template)
            else e.items
            if isinstance(e, h.Tuple)
            else (e.condition, *e.then, *e.otherwise)
        )
        for c in children:
            if not isinstance(c, str):
                yield from _free(c, bound)
    elif isinstance(e, h.Object):
        for k, v in e.items:
            yield from _free(k, bound)
            yield from _free(v, bound)
    elif isinstance(e, h.GetAttr):
        yield from _free(e.value, bound)
    elif isinstance(e, h.Index):
        yield from _free(e.value, bound)
        yield from _free(e.key, bound)
    elif isinstance(e, h.Conditional):
        for c in (e.condition, e.then, e.otherwise):
            yield from _free(c, bound)
    elif isinstance(e, h.Binary):
        yield from _free(e.left, bound)
        yield from _free(e.right, bound)
    elif isinstance(e, h.Unary):
        yield from _free(e.value, bound)


class _Reach:
    """The bake variables each definition reads, through functions, top-level attributes and other variables."""

    def __init__(self, files: h.HclFiles) -> None:
        self.files = files
        self.memo: dict[tuple[str, str], frozenset[str]] = {}

    def of(self, e: h.Expr, bound: frozenset[str] = frozenset()) -> frozenset[str]:
        out: set[str] = set()
        for name, is_call in _free(e, bound):
            out |= self.name(name, is_call, ())
        return frozenset(out)

    def name(self, name: str, is_call: bool, stack: tuple[str, ...]) -> frozenset[str]:
        key = ("f" if is_call else "n", name)
        if key in self.memo:
            return self.memo[key]
        if name in stack:
            return frozenset()
        out: set[str] = set()
        files = self.files
        if is_call:
            fn = files.functions.get(name)
            if fn is not None:
                bound = frozenset((*fn.params, *((fn.variadic,) if fn.variadic else ())))
                for n, c in _free(fn.result, bound):
                    out |= self.name(n, c, (*stack, name))
        elif name in files.variables:
            out.add(name)
            default = files.variables[name].default
            if default is not None:
                for n, c in _free(default):
                    out |= self.name(n, c, (*stack, name))
        elif name in files.attributes:
            for n, c in _free(files.attributes[name]):
                out |= self.name(n, c, (*stack, name))
        self.memo[key] = frozenset(out)
        return self.memo[key]


# -- which attributes, which variables -----------------------------------------------------------------------


def _string_list(
    e: h.Expr | None, values: Mapping[str, str | None] | None = None
) -> tuple[str, ...] | None:
    """A list of text (`inherits = ["base"]`), with `values` for variables in it (`"test-${TYPE}"`: its
    variables are frozen, since `inherits` computes with them, so their values in force are the values)."""
    if e is None:
        return ()
    if not isinstance(e, h.Tuple):
        return None
    out = []
    for item in e.items:
        if not isinstance(item, h.Template):
            return None
        text = []
        for part in item.parts:
            if isinstance(part, str):
                text.append(part)
            elif (
                isinstance(part, h.Name)
                and values is not None
                and values.get(part.name) is not None
            ):
                text.append(str(values[part.name]))
            else:
                return None
        out.append("".join(text))
    return tuple(out)


def _null(var: h.HclVariable) -> bool:
    """`default = null` (or none): bakepy's Variable without a default, None in the code."""
    return var.default is None or (isinstance(var.default, h.Literal) and var.default.value is None)


def _kind_of(var: h.HclVariable) -> str:
    declared = var.type
    if isinstance(declared, h.Name) and declared.name in ("bool", "number", "string"):
        return {"bool": "bool", "number": "number", "string": "str"}[declared.name]
    if isinstance(var.default, h.Literal):
        value = var.default.value
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            return "number"
    return "str"


def live_form(
    project: ImportedProject, texts: Mapping[str, str], why: dict[str, str] | None = None
) -> LiveForm | None:
    """The live variables of `project` (imported from the HCL files `texts`, name → text in -f order) and the
    Python that keeps them live; None when no frozen variable can go live. `why` (when given) gets, for each
    frozen variable that stays frozen, the first reason found."""
    reasons: dict[str, str] = {} if why is None else why
    frozen = [v.name for v in project.variables if v.frozen]

    def drop(names: Iterable[str], reason: str) -> None:
        for name in names:
            if name in candidates:
                reasons.setdefault(name, reason)
                candidates.discard(name)

    if not frozen or not texts or any(not _is_hcl(name) for name in texts):
        return None
    try:
        files = h.parse_files(texts)
    except h.HclUnreadable:
        return None
    blocked: set[str] = set()
    for note in project.notes:
        name = note.where.removeprefix("variable.")
        if note.where.startswith("variable.") and any(
            why in note.message for why in ("built-in", "clock")
        ):
            blocked.add(name)
    candidates = {n for n in frozen if n in files.variables}
    drop(blocked, "a built-in, the clock or null")
    var_names = set(files.variables)
    for name in list(candidates):
        if (
            not _null(files.variables[name])
            and plain_default(files.variables[name], var_names) is None
        ):
            drop([name], "its default is computed")
    if not candidates:
        return None
    reach = _Reach(files)

    # Places bake uses a candidate where no Python can go: variable defaults, groups, matrix/name/inherits.
    for name, var in files.variables.items():
        if var.default is not None and not _null(var) and plain_default(var, var_names) is None:
            drop(reach.of(var.default) - {name}, f"the default of {name} computes with it")
    for group in files.groups.values():
        for value in group.values():
            drop(reach.of(value), "a group computes with it")
    parents: dict[str, tuple[str, ...]] = {}
    in_force = values_in_force(project, files)
    for target in files.targets.values():
        inherits = _string_list(target.attributes.get("inherits"), in_force)
        if inherits is None:
            reasons.update(dict.fromkeys(candidates, f"target.{target.name}.inherits is computed"))
            return None
        parents[target.name] = inherits
        for key in ("inherits", "matrix", "name"):
            if key in target.attributes:
                drop(
                    reach.of(target.attributes[key]), f"target.{target.name}.{key} computes with it"
                )
    if not candidates:
        return None

    # Global Python names: variables (and top-level attributes) the code reads.
    taken: set[str] = set()
    names: dict[str, tuple[str, str]] = {}
    for name, var in files.variables.items():
        names[name] = (python_name(name, taken), _kind_of(var))
        taken.add(names[name][0])
    for name in files.attributes:
        names[name] = (python_name(name, taken), "any")
        taken.add(names[name][0])
    translator = Translator(files, names)
    for name in files.functions:
        translator.functions[name] = python_name(name, taken)
        taken.add(translator.functions[name])
    for _ in range(2):  # a top-level attribute's type, for the code that reads it (`f"{repo}:x"`)
        for name, attribute in files.attributes.items():
            with contextlib.suppress(Untranslatable):
                names[name] = (names[name][0], translator.expr(attribute, {})[1])

    imported = {t.name: t for t in project.targets}
    jobs: list[tuple[str, str, str | None, h.Expr]] = []  # (target, key, map entry, expression)
    for target in files.targets.values():
        chain = _chain(target.name, parents, ())
        if chain is None:
            return None
        matrix = any("matrix" in files.targets[t].attributes for t in chain if t in files.targets)
        for key in sorted(
            {k for t in chain if t in files.targets for k in files.targets[t].attributes}
        ):
            if key in ("inherits", "matrix", "name"):
                continue
            providers = [
                files.targets[t].attributes[key]
                for t in chain
                if t in files.targets and key in files.targets[t].attributes
            ]
            dirty = frozenset().union(*(reach.of(p) for p in providers)) & candidates
            if not dirty:
                continue
            if matrix or (key not in _WHOLE and key not in MAPS and key not in _APPENDED):
                drop(
                    dirty,
                    f"target.{target.name}.{key} ({'a matrix' if matrix else 'not written as code'})",
                )
                continue
            if key in _APPENDED and (
                len(providers) > 1 or _inherits_a_value(imported, target.name, key)
            ):
                drop(dirty, f"target.{target.name}.{key} (a list bake appends to an inherited one)")
                continue
            if target.name not in imported:
                continue  # folded into its children, which carry the expression themselves
            if "matrix" in imported[target.name].attributes:
                drop(dirty, f"target.{target.name}.{key} (a matrix in the import)")
                continue
            if key in _WHOLE or key in _APPENDED:
                jobs.append((target.name, key, None, providers[-1]))
                continue
            written = all(
                isinstance(p, h.Object)
                and all(isinstance(k, h.Literal) and isinstance(k.value, str) for k, _ in p.items)
                for p in providers
            )
            if (
                not written
                and len(providers) == 1
                and not _inherits_a_value(imported, target.name, key)
            ):
                # a map computed whole (`contexts = A != B ? { … } : {}`), with nothing to merge into
                jobs.append((target.name, key, None, providers[-1]))
                continue
            entries: dict[str, h.Expr] = {}
            for p in providers:
                if not isinstance(p, h.Object):
                    drop(reach.of(p), f"target.{target.name}.{key} is not a map written out")
                    break
                for k, v in p.items:
                    if not isinstance(k, h.Literal) or not isinstance(k.value, str):
                        drop(reach.of(p), f"target.{target.name}.{key} has a computed key")
                        break
                    entries[k.value] = v
            for entry, value in entries.items():
                if reach.of(value) & candidates:
                    jobs.append((target.name, key, entry, value))

    pinned: dict[str, dict[str, Value]] = {}
    for (heir, place_key, place_entry), expr in _leaks(jobs, imported):
        # The heir's own value, written on it, stops the code its base gets; where that value is constant.
        whole = place_entry is None and place_key in _WHOLE
        pin = _pin(imported, heir, place_key) if whole else None
        if pin is not None:
            pinned.setdefault(heir, {})[place_key] = pin
            continue
        drop(
            reach.of(expr) & candidates,
            f"target.{heir}.{place_key} would inherit code the bake file does not give it",
        )
    jobs = [j for j in jobs if reach.of(j[3]) & candidates]
    jobs = _inherited_jobs_left_out(jobs, imported)

    # Translate; a job that cannot be written, or that does not give what the import holds, freezes its
    # variables again, until nothing changes.
    while True:
        live = frozenset(candidates)
        if not live:
            return None
        todo = [j for j in jobs if reach.of(j[3]) & live]
        translator.used_names.clear()
        translator.used_functions.clear()
        translator.used_stdlib.clear()
        codes: list[tuple[tuple[str, str, str | None, h.Expr], Any]] = []
        failed: set[str] = set()
        for job in todo:
            try:
                code, kind = translator.expr(job[3], {})
                if job[2] is not None:  # a map entry is text (`true`, `8` as bake prints them)
                    code = code if kind == "str" else translator.stdlib("tostring", code)
                elif job[1] in LISTS:
                    code = translator.stdlib("compact", code)  # bake drops empty entries
                else:
                    code = code if kind in ("str", "bool") else translator.stdlib("tostring", code)
                codes.append((job, code))
            except Untranslatable as exc:
                failed |= reach.of(job[3]) & live
                for name in reach.of(job[3]) & live:
                    reasons.setdefault(name, f"target.{job[0]}.{job[1]}: {exc}")
        functions, attrs = _definitions(translator, files, failed, reach, live)
        if not failed:
            form = _form(translator, files, names, functions, attrs, codes, live, project)
            mismatched = check(form, project, in_force, imported)
            if mismatched is None:
                reasons.update(dict.fromkeys(live, "the code does not run"))
                return None
            failed = {
                v
                for j, _ in codes
                if (j[0], j[1], j[2]) in mismatched
                for v in reach.of(j[3]) & live
            }
            for j, _ in codes:
                if (j[0], j[1], j[2]) in mismatched:
                    for name in reach.of(j[3]) & live:
                        reasons.setdefault(
                            name, f"target.{j[0]}.{j[1]}: the code gives another value"
                        )
            if not failed:
                form.pinned = {name: dict(values) for name, values in sorted(pinned.items())}
                return form
        drop(failed, "; ".join(translator.reasons.values()) or "not translatable")


def _inherits_a_value(imported: Mapping[str, ImportedTarget], name: str, key: str) -> bool:
    """Whether the import gives target `name` a value of `key` through its bases (or has no such target)."""
    if name not in imported:
        return True
    return any(
        imported_value(imported, parent, key, {}) is not None
        for parent in inherits_of(imported[name])
    )


def _pin(imported: Mapping[str, ImportedTarget], name: str, key: str) -> Value | None:
    """What the import holds for `key` of target `name` (its own value, else its nearest base's), when that
    has no variable in it; bake's default (`context = "."`) when nothing holds it; None otherwise."""

    def raw(target: str, depth: int) -> Value | None:
        if target not in imported or depth > 20:
            return None
        own = imported[target].attributes.get(key)
        if own is not None:
            return own
        for parent in reversed(inherits_of(imported[target])):
            found = raw(parent, depth + 1)
            if found is not None:
                return found
        return None

    value = raw(name, 0)
    if value is None:
        return BAKE_DEFAULTS.get(key)
    return None if _has_variable(value) else value


def _has_variable(value: Value) -> bool:
    if isinstance(value, Template):
        return bool(value.variables) or any(not isinstance(p, str) for p in value.parts)
    if isinstance(value, list):
        return any(_has_variable(v) for v in value)
    if isinstance(value, dict):
        return any(_has_variable(v) for v in value.values())
    return False


def _leaks(
    jobs: list[tuple[str, str, str | None, h.Expr]], imported: Mapping[str, ImportedTarget]
) -> list[tuple[tuple[str, str, str | None], h.Expr]]:
    """Places where a target would get code from a base the import gave it that bake does not compute for
    it: the import's factoring makes a target inherit another that holds all its values (at import), which
    the bake file may not say (`lint` inheriting `build` because both print `output = cacheonly`)."""
    by_place = {(t, k, e): x for t, k, e, x in jobs}
    places = {(k, e) for _, k, e, _ in jobs}

    def holds(name: str, key: str, entry: str | None) -> bool:
        value = imported[name].attributes.get(key)
        return value is not None and (entry is None or (isinstance(value, dict) and entry in value))

    def first(name: str, key: str, entry: str | None, depth: int = 0) -> h.Expr | None:
        """The code the nearest base of `name` that sets the place has, or None (a plain value, or none)."""
        if depth > 20 or name not in imported:
            return None
        for parent in reversed(inherits_of(imported[name])):
            if (parent, key, entry) in by_place:
                return by_place[(parent, key, entry)]
            if parent in imported and holds(parent, key, entry):
                return None
            found = first(parent, key, entry, depth + 1)
            if found is not None:
                return found
        return None

    out = []
    for name in imported:
        for key, entry in sorted(places, key=lambda p: (p[0], p[1] or "")):
            if (name, key, entry) in by_place or holds(name, key, entry):
                continue
            expr = first(name, key, entry)
            if expr is not None:
                out.append(((name, key, entry), expr))
    return out


def _inherited_jobs_left_out(
    jobs: list[tuple[str, str, str | None, h.Expr]], imported: Mapping[str, ImportedTarget]
) -> list[tuple[str, str, str | None, h.Expr]]:
    """The jobs without those a target gets from a base the import gives it: a child that holds nothing of its
    own there, whose last base providing the attribute (or map entry) gets the same expression as code."""
    by_place = {(t, k, e): x for t, k, e, x in jobs}

    def holds(name: str, key: str, entry: str | None) -> bool:
        value = imported[name].attributes.get(key) if name in imported else None
        return value is not None and (entry is None or (isinstance(value, dict) and entry in value))

    def provider(name: str, key: str, entry: str | None, expr: h.Expr, depth: int = 0) -> str:
        """What the bases of `name` give it there: "code" (this expression), "other" or "none"."""
        if name not in imported or depth > 20:
            return "other"
        for parent in reversed(inherits_of(imported[name])):
            if by_place.get((parent, key, entry)) is expr:
                return "code"
            if holds(parent, key, entry):
                return "other"
            found = provider(parent, key, entry, expr, depth + 1)
            if found != "none":
                return found
        return "none"

    return [(t, k, e, x) for t, k, e, x in jobs if holds(t, k, e) or provider(t, k, e, x) != "code"]


def _is_hcl(name: str) -> bool:
    return not name.endswith((".json", ".yml", ".yaml")) and name != "-"


def _chain(
    name: str, parents: Mapping[str, tuple[str, ...]], stack: tuple[str, ...]
) -> list[str] | None:
    """The targets bake merges for `name`, first to last (parents in order, then the target itself)."""
    if name in stack:
        return None
    out: list[str] = []
    for parent in parents.get(name, ()):
        sub = _chain(parent, parents, (*stack, name))
        if sub is None:
            return None
        out += sub
    return [*out, name]


def _definitions(
    translator: Translator,
    files: h.HclFiles,
    failed: set[str],
    reach: _Reach,
    live: frozenset[str],
) -> tuple[list[FunctionCode], list[tuple[str, Any]]]:
    """The user functions and top-level attributes the code calls, translated (transitively)."""
    functions: dict[str, FunctionCode] = {}
    attributes: dict[str, Any] = {}
    while True:
        pending_f = [f for f in sorted(translator.used_functions) if f not in functions]
        pending_a = [
            a
            for a in sorted(translator.used_names)
            if a in files.attributes and a not in attributes
        ]
        if not pending_f and not pending_a:
            break
        for name in pending_f:
            fn = files.functions[name]
            taken = {n for n, _ in translator.names.values()} | set(translator.functions.values())
            scope = {
                p: python_name(p, taken)
                for p in (*fn.params, *((fn.variadic,) if fn.variadic else ()))
            }
            try:
                result, _ = translator.expr(fn.result, scope)
            except Untranslatable as exc:
                failed |= reach.name(name, True, ()) & live
                translator.reasons.setdefault(name, f'function "{name}": {exc}')
                result = Code("None")
            functions[name] = FunctionCode(
                translator.functions[name],
                name,
                tuple(scope[p] for p in fn.params),
                scope[fn.variadic] if fn.variadic else None,
                result,
            )
        for name in pending_a:
            try:
                code, _ = translator.expr(files.attributes[name], {})
            except Untranslatable as exc:
                failed |= reach.name(name, False, ()) & live
                translator.reasons.setdefault(name, f"{name}: {exc}")
                code = Code("None")
            attributes[name] = code
    # Attributes in the order they depend on each other (a reads b: b first).
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order or name in stack:
            return
        for dep, is_call in _free(files.attributes[name]):
            if not is_call and dep in attributes:
                visit(dep, (*stack, name))
        order.append(name)

    for name in sorted(attributes):
        visit(name, ())
    return [functions[f] for f in sorted(functions)], [
        (translator.names[a][0], attributes[a]) for a in order
    ]


def _form(
    translator: Translator,
    files: h.HclFiles,
    names: Mapping[str, tuple[str, str]],
    functions: list[FunctionCode],
    attributes: list[tuple[str, Any]],
    codes: list[tuple[tuple[str, str, str | None, h.Expr], Any]],
    live: frozenset[str],
    project: ImportedProject,
) -> LiveForm:
    read = sorted(n for n in translator.used_names if n in files.variables)
    declared = {v.name for v in project.variables}
    reads = []
    for name in read:
        kind = names[name][1]
        parse = {"bool": "parse_bool", "number": "parse_number"}.get(kind, "")
        if parse:
            translator.used_stdlib.add(parse)
        reads.append((names[name][0], name, parse))
    added: dict[str, str | None] = {}
    todo = [n for n in read if n not in declared]
    var_names = set(files.variables)
    while (
        todo
    ):  # a variable the code reads that the import did not declare, and the ones its default names
        name = todo.pop()
        if name in added or name in declared:
            continue
        added[name] = plain_default(files.variables[name], var_names)
        for dep, _ in _free(files.variables[name].default) if files.variables[name].default else ():
            if dep in files.variables:
                todo.append(dep)
    values: dict[str, dict[str, Any]] = {}
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    for (target, key, entry, _), code in codes:
        if entry is None:
            values.setdefault(target, {})[key] = code
        else:
            entries.setdefault(target, {}).setdefault(key, {})[entry] = code
    return LiveForm(
        live=tuple(sorted(live)),
        reads=tuple(reads),
        attributes=tuple(attributes),
        functions=tuple(functions),
        values=values,
        entries=entries,
        imports=tuple(sorted(translator.used_stdlib)),
        added=tuple(sorted(added.items())),
    )
