"""Import step 2b (pure): give a flat import back its structure, where that is proven equal.

`bake --print` answers with every target fully resolved, so a converted project is flat: a private `_common`
target's attributes are copied into each target that inherits it, and a matrix is one target per combination.
This module owns turning that back into `inherits` and `matrix`:

- **inherits**: a target whose attributes contain all of a private target's (same values; maps holding its
  entries; lists starting with its entries) inherits it and keeps only what it adds. Private targets inherit
  smaller private targets the same way. Only the original's own private targets (bake prints them under
  `--print '*'`) are used as parents, so the names are the user's.
- **matrix**: a group bake made of a matrix (not written as a group in the files) whose members differ only in
  some strings becomes one target with a `matrix` and a `name` template again.

Nothing is taken on trust: the factored project is resolved by bakepy (`Project.resolved`, bake's own merge and
matrix rules) and compared with the flat one target by target; a target that does not resolve to exactly the
same thing is written flat, as before. Private targets nothing inherits any more are left out, unless a group
names them or they were asked for.
"""

import itertools
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bakepy.bake.importer.bases import public_bases, shared_base
from bakepy.bake.importer.imported import (
    ImportedGroup,
    ImportedProject,
    ImportedTarget,
    MatrixRef,
    Template,
    Value,
    VarRef,
)
from bakepy.bake.importer.mergerules import APPEND as _APPEND
from bakepy.bake.importer.mergerules import MAPS as _MAPS
from bakepy.bake.importer.mergerules import REPLACE as _REPLACE

_Attributes = Mapping[str, Value]


def provides(child: _Attributes, parent: _Attributes, *, overrides: bool = False) -> bool:
    """Whether `child` holds everything `parent` sets, the way it would after inheriting it; with
    `overrides`, also when it replaces fewer of the parent's values (`platforms`, …) than it keeps."""
    if not parent:
        return False
    replaced = 0
    for key, value in parent.items():
        if key not in child:
            return False
        mine = child[key]
        if key in _REPLACE:
            if mine != value:
                if not overrides:
                    return False
                replaced += 1
        elif key in _MAPS:
            if not isinstance(mine, dict) or not isinstance(value, dict):
                return False
            if any(k not in mine for k in value):
                return False
            if any(mine[k] != v for k, v in value.items()):
                if not overrides:
                    return False
                replaced += 1
        elif key in _APPEND:
            if not isinstance(mine, list) or not isinstance(value, list):
                return False
            if mine[: len(value)] != value:
                return False
        else:
            return False
    return replaced * 2 <= len(parent) and replaced < len(parent)


def _merged(parents: Iterable[_Attributes]) -> dict[str, Value]:
    """What a target inheriting `parents` (in order) has before its own attributes (bake's Target.Merge)."""
    out: dict[str, Value] = {}
    for parent in parents:
        for key, value in parent.items():
            if key in _MAPS and isinstance(value, dict):
                previous = out.get(key)
                out[key] = {**(previous if isinstance(previous, dict) else {}), **value}
            elif key in _APPEND and isinstance(value, list):
                previous = out.get(key)
                out[key] = [*(previous if isinstance(previous, list) else []), *value]
            else:
                out[key] = value
    return out


def _residual(child: _Attributes, base: _Attributes) -> dict[str, Value] | None:
    """The attributes `child` must still write when it inherits `base`; None when it cannot be said."""
    out: dict[str, Value] = {}
    for key, value in child.items():
        if key not in base:
            out[key] = value
            continue
        given = base[key]
        if key in _REPLACE:
            if value != given:
                out[key] = value
        elif key in _MAPS and isinstance(value, dict) and isinstance(given, dict):
            extra = {k: v for k, v in value.items() if k not in given or given[k] != v}
            if extra:
                out[key] = extra
        elif key in _APPEND and isinstance(value, list) and isinstance(given, list):
            if value[: len(given)] != given:
                return None
            if value[len(given) :]:
                out[key] = value[len(given) :]
        else:
            return None
    if any(key not in child for key in base):
        return None
    return out


def choose_parents(
    name: str,
    attributes: _Attributes,
    privates: Mapping[str, _Attributes],
    *,
    loose: Collection[str] | None = None,
) -> tuple[str, ...]:
    """The bases (`privates`: private targets, and public ones others hold entirely) `name` can inherit: each
    one it provides, less those another chosen one covers. A public target may replace some values of the
    bases in `loose` (default: all of them); a base inherits only exactly.

    A base only inherits strictly smaller ones (it provides them, they do not provide it), so the result never
    has a cycle; of two bases with the same attributes the first by name is used.
    """
    loose = privates.keys() if loose is None else loose
    candidates = [
        p
        for p, attrs in sorted(privates.items())
        if p != name
        and provides(attributes, attrs, overrides=name not in privates and p in loose)
        and not (name in privates and provides(attrs, attributes))
    ]

    def covered(p: str) -> bool:
        for q in candidates:
            if q == p or not provides(privates[q], privates[p]):
                continue
            if not provides(privates[p], privates[q]) or q < p:
                return True
        return False

    chosen = [p for p in candidates if not covered(p)]
    return tuple(sorted(chosen, key=lambda p: (len(privates[p]), p)))


def _with_inherits(
    target: ImportedTarget, parents: Sequence[str], privates: Mapping[str, _Attributes]
) -> ImportedTarget | None:
    residual = _residual(target.attributes, _merged(privates[p] for p in parents))
    if residual is None:
        return None
    return replace(target, attributes={"inherits": list(parents), **residual})


def _resolved(project: ImportedProject) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What bakepy resolves `project` to: targets as bake JSON and group members; None if it refuses it."""
    from bakepy.bake.importer.toml import to_toml
    from bakepy.bake.render import target_to_bake
    from bakepy.config import load_toml
    from bakepy.errors import BakepyError

    try:
        resolved = load_toml(to_toml(project), env={}).resolved
    except BakepyError:
        return None
    targets = {name: target_to_bake(t) for name, t in resolved.targets.items()}
    groups = {name: tuple(g.targets) for name, g in resolved.groups.items()}
    return targets, groups


def factor(
    project: ImportedProject,
    *,
    written_groups: Sequence[str] | None = None,
    ordered_matrices: Collection[str] = (),
    keep: Iterable[str] = (),
) -> ImportedProject:
    """`project` (flat, private targets included) with inherits and matrices where they resolve the same.

    `written_groups` are the groups the files define (others are bake's matrix groups; None: unknown, so no
    matrix is rebuilt); `ordered_matrices`, the matrix groups whose members bake lists in written order (a
    matrix of one key), keep that order; private targets in `keep` (asked for by name) stay even when nothing
    inherits them.
    """
    privates = {t.name: t.attributes for t in project.targets if t.name.startswith("_")}
    holds = {  # strictly: a target the same as another is no base of it
        t.name: [
            o.name
            for o in project.targets
            if o is not t
            and provides(t.attributes, o.attributes)
            and not provides(o.attributes, t.attributes)
        ]
        for t in project.targets
    }
    bases = {
        **privates,
        **{n: _attributes_of(project, n) for n in public_bases(project.targets, holds)},
    }
    made = None
    if not bases:
        taken = {t.name for t in project.targets} | {g.name for g in project.groups}
        made = shared_base(project.targets, taken)
        if made is not None:
            project = replace(project, targets=(made, *project.targets))
            bases = privates = {made.name: made.attributes}
    flat = _resolved(project)
    in_groups = {m for g in project.groups for m in g.targets}
    wanted = in_groups | set(keep)
    if flat is None:
        return _unmade(_prune(project, wanted), made)

    by_name = {t.name: t for t in project.targets}
    factored: dict[str, ImportedTarget] = {}
    for target in project.targets:
        parents = choose_parents(target.name, target.attributes, bases, loose=set(privates))
        written = _with_inherits(target, parents, bases) if parents else None
        factored[target.name] = written or target

    candidate = _prune(replace(project, targets=tuple(factored.values())), wanted)
    for _ in range(len(project.targets) + 1):
        got = _resolved(candidate)
        if got is None:
            return _prune(project, wanted)
        wrong = _differences(flat, got)
        if not wrong:
            break
        factored.update({name: by_name[name] for name in wrong if name in by_name})
        candidate = _prune(replace(project, targets=tuple(factored.values())), wanted)
    else:  # pragma: no cover - each round writes at least one more target flat
        return _prune(project, wanted)

    if written_groups is not None:
        candidate = _matrices(candidate, flat, set(written_groups), set(ordered_matrices))
    return _unmade(candidate, made)


def _attributes_of(project: ImportedProject, name: str) -> Mapping[str, Value]:
    return next(t.attributes for t in project.targets if t.name == name)


def _unmade(project: ImportedProject, made: ImportedTarget | None) -> ImportedProject:
    """`project` without a base the import made (`bases.shared_base`) that nothing inherits in the end, and
    without it in the header's list of folded private targets (it was never the user's)."""
    if made is None:
        return project
    remarks = []
    for remark in project.remarks:
        if remark.startswith(_FOLDED):
            names = [n for n in remark[len(_FOLDED) :].strip().split(", ") if n != made.name]
            remark = f"{_FOLDED} {', '.join(names)}" if names else ""
        if remark:
            remarks.append(remark)
    return replace(project, remarks=tuple(remarks))


def _differences(
    flat: tuple[dict[str, Any], dict[str, Any]],
    got: tuple[dict[str, Any], dict[str, Any]],
    *,
    unordered: Collection[str] = (),
) -> set[str]:
    """Targets (and the members of groups) that do not resolve as in the flat project. Among the targets named
    in `unordered` (the members of a matrix of several keys, which bake lists in Go map order: `_row_order`), the
    order within every group is free; every other member keeps its place."""
    targets, groups = flat
    new_targets, new_groups = got
    wrong = {n for n in targets if n in new_targets and targets[n] != new_targets[n]}
    wrong |= {n for n in new_targets if n not in targets}  # a private target now kept
    for name, members in groups.items():
        found = new_groups.get(name, ())
        if _free_order(found, unordered) != _free_order(members, unordered):
            wrong |= set(members)
    return wrong


def _free_order(members: Sequence[str], free: Collection[str]) -> tuple[str, ...]:
    """`members` with the ones in `free` sorted among the places they hold."""
    places = [i for i, m in enumerate(members) if m in free]
    out = list(members)
    for i, member in zip(places, sorted(members[i] for i in places), strict=True):
        out[i] = member
    return tuple(out)


def _prune(project: ImportedProject, wanted: set[str]) -> ImportedProject:
    """Leave out private targets nothing inherits (transitively), a group names or the user asked for."""
    by_name = {t.name: t for t in project.targets}
    needed: set[str] = set()
    todo = [
        t.name
        for t in project.targets
        if not t.name.startswith("_") or t.name in wanted or "matrix" in t.attributes
    ]
    while todo:
        name = todo.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        inherits = by_name[name].attributes.get("inherits")
        if isinstance(inherits, list):
            todo += [p for p in inherits if isinstance(p, str)]
    folded = [t.name for t in project.targets if t.name not in needed]
    remarks = [r for r in project.remarks if not r.startswith(_FOLDED)]
    if folded:
        remarks.append(f"{_FOLDED} {', '.join(folded)}")
    return replace(
        project,
        targets=tuple(t for t in project.targets if t.name in needed),
        remarks=tuple(remarks),
    )


_FOLDED = "Private targets folded into the targets that used them, not imported on their own:"


# -- matrices ----------------------------------------------------------------------------------------------


def _matrices(
    project: ImportedProject,
    flat: tuple[dict[str, Any], dict[str, Any]],
    written_groups: set[str],
    ordered: set[str],
) -> ImportedProject:
    """Each group bake made of a matrix, written as that matrix again where it resolves the same; the members of
    an `ordered` one (a matrix of one key) in the order bake listed them, those of the others in `_row_order`."""
    current = project
    # the members of the matrices of several keys rebuilt so far: bake's order of them is no order
    free: set[str] = set()
    for group in project.groups:
        if group.name in written_groups or len(group.targets) < 2:
            continue
        keep_order = group.name in ordered
        rebuilt = _as_matrix(current, group, keep_order=keep_order) or _as_matrices(
            current, group, keep_order=keep_order
        )
        if rebuilt is None:
            continue
        before, got = _resolved(current), _resolved(rebuilt)
        if before is None or got is None:
            continue
        unordered = free if keep_order else free | set(group.targets)
        if not _differences(flat, got, unordered=unordered) and set(got[0]) == set(before[0]):
            current, free = rebuilt, unordered
    return current


def _row_order(columns: Mapping[str, Sequence[str]]) -> list[int]:
    """The rows of a matrix in one order whatever order bake listed them in.

    A matrix of several keys is expanded by bake in Go map order: the nesting of the keys, and with it the order
    of the group's members, changes from run to run, while each key's values keep their written order. Where the
    rows are exactly every combination of some columns' values (the keys, the other columns following from
    them), they are sorted by each such value's first place in its own column, column by column: the same order
    for every nesting, so an import is the same file every time. Otherwise (a matrix of one key, whose rows bake
    lists as written) the order is kept."""
    count = len(next(iter(columns.values()), ()))
    distinct = {k: list(dict.fromkeys(values)) for k, values in columns.items()}
    candidates = [k for k, values in distinct.items() if 1 < len(values) < count]
    for size in range(2, len(candidates) + 1):
        for keys in itertools.combinations(candidates, size):
            if math.prod(len(distinct[k]) for k in keys) != count:
                continue
            rows = {tuple(columns[k][i] for k in keys) for i in range(count)}
            if len(rows) == count:  # every combination, each once
                rank = {k: {value: r for r, value in enumerate(distinct[k])} for k in keys}
                return sorted(
                    range(count), key=lambda i: tuple(rank[k][columns[k][i]] for k in keys)
                )
    return list(range(count))


def _as_matrix(
    project: ImportedProject,
    group: ImportedGroup,
    *,
    keep_order: bool = False,
    part: tuple[str, Sequence[str]] | None = None,
) -> ImportedProject | None:
    """`project` with the members of `group` written as one matrix target named after it (the group is then
    the matrix's own); with `part` (a label and some of the members), only those, as a matrix target of that
    label, the group staying written."""
    by_name = {t.name: t for t in project.targets}
    label, names_in = part if part is not None else (group.name, group.targets)
    members = [by_name.get(m) for m in names_in]
    if label in by_name or (group.description and part is None):
        return None
    if any(m is None or m.unsupported or m.name.startswith("_") for m in members):
        return None
    targets = [m for m in members if m is not None]
    if len({m.name for m in targets}) != len(targets):
        return None
    leaves = [dict(_string_leaves(t.attributes, ())) for t in targets]
    shapes = [_shape(t.attributes) for t in targets]
    if any(s != shapes[0] for s in shapes) or any(set(lv) != set(leaves[0]) for lv in leaves):
        return None
    if any(t.attributes.get("inherits") != targets[0].attributes.get("inherits") for t in targets):
        return None
    varying: dict[tuple[Any, ...], list[_Parts]] = {("name",): [(t.name,) for t in targets]}
    for path in leaves[0]:
        values = [lv[path] for lv in leaves]
        if any(v != values[0] for v in values):
            if not all(isinstance(v, str | Template) for v in values):
                return None  # a bool or number that differs
            varying[path] = [v.parts if isinstance(v, Template) else (v,) for v in values]

    # Each varying string is written with the matrix values found so far (`acme/app:py${version}`); where a
    # piece of it still differs, that piece becomes a matrix value of its own. The target name goes last.
    columns: dict[str, tuple[str, ...]] = {}
    pieces: dict[tuple[Any, ...], tuple[str | VarRef | _Column, ...]] = {}
    paths = sorted(
        list(varying)[1:], key=lambda p: p[0] != "args"
    )  # build args first: matrix values
    for path in [*paths, ("name",)]:
        parts = _express(varying[path], columns, path, whole=path[0] == "args")
        if parts is None:
            return None
        pieces[path] = parts
    _drop_derived(columns, pieces)
    single = len(columns) == 1

    def spliced(path: tuple[Any, ...]) -> Template:
        return Template(
            tuple(
                MatrixRef(p.key if single else f"item.{p.key}") if isinstance(p, _Column) else p
                for p in pieces[path]
                if p != ""
            )
        )

    matrix: dict[str, Value]
    if single:
        ((only_key, only),) = columns.items()
        matrix = {only_key: list(only)}
    else:
        order = range(len(names_in)) if keep_order else _row_order(columns)
        rows: list[Value] = [{k: v[i] for k, v in columns.items()} for i in order]
        matrix = {"item": rows}

    attributes: dict[str, Value] = {}
    first = targets[0].attributes
    inherits = first.get("inherits")
    if inherits is not None:
        attributes["inherits"] = inherits
    attributes["matrix"] = matrix
    attributes["name"] = spliced(("name",))
    for key, value in first.items():
        if key != "inherits":
            attributes[key] = _substitute(value, (key,), pieces, spliced)
    definition = ImportedTarget(label, attributes)
    names = set(names_in)
    targets_out: list[ImportedTarget] = []
    for target in project.targets:
        if target.name == targets[0].name:
            targets_out.append(definition)
        elif target.name not in names:
            targets_out.append(target)
    return replace(
        project,
        targets=tuple(targets_out),
        groups=tuple(g for g in project.groups if g.name != group.name or part is not None),
    )


def _parts(project: ImportedProject, group: ImportedGroup) -> list[list[str]]:
    """The members of `group` in families that one matrix each can write: the same attributes, list lengths
    and parents (`tags` with two more rolling tags on some rows makes two families); single ones stay flat."""
    by_name = {t.name: t for t in project.targets}
    families: dict[str, list[str]] = {}
    for name in group.targets:
        target = by_name.get(name)
        if target is None or target.unsupported or name.startswith("_"):
            return []
        key = repr((_shape(target.attributes), target.attributes.get("inherits")))
        families.setdefault(key, []).append(name)
    return sorted((f for f in families.values() if len(f) > 1), key=len, reverse=True)


def _as_matrices(
    project: ImportedProject, group: ImportedGroup, *, keep_order: bool
) -> ImportedProject | None:
    """`group`'s members as one matrix target per family (`_parts`), named `_GROUP-1`, `_GROUP-2`, …, the
    group listing every member (in one order, as `_row_order` does, for a matrix of several keys)."""
    parts = _parts(project, group)
    if len(parts) < 2 and not (parts and len(parts[0]) < len(group.targets)):
        return None
    taken = {t.name for t in project.targets} | {g.name for g in project.groups}
    current = project
    for i, family in enumerate(parts, 1):
        # bake lists a matrix of several keys in Go map order: the rows of a family that is not every
        # combination of its keys (`_row_order`) are sorted by name, so two imports write the same file
        family = family if keep_order else sorted(family)
        label = f"_{group.name}-{i}"
        while label in taken:
            label += "x"
        rebuilt = _as_matrix(current, group, keep_order=keep_order, part=(label, family))
        if rebuilt is None:
            return None
        current = rebuilt
    members = group.targets if keep_order else tuple(sorted(group.targets))
    return replace(
        current,
        groups=tuple(replace(g, targets=members) if g is group else g for g in current.groups),
    )


def _string_leaves(value: Any, path: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _string_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_leaves(v, (*path, i))
    else:
        yield path, value


def _shape(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str | Template):
        return ""
    return value


def _substitute(
    value: Any, path: tuple[Any, ...], pieces: Mapping[tuple[Any, ...], Any], spliced: Any
) -> Any:
    if path in pieces:
        return spliced(path)
    if isinstance(value, Mapping):
        return {k: _substitute(v, (*path, k), pieces, spliced) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), pieces, spliced) for i, v in enumerate(value)]
    return value


@dataclass(frozen=True)
class _Column:
    key: str


#: Where a word of a name or tag ends: `bun-1_3` is `bun-` and `1_3`, `acme/app:1.2` is `acme/app:` and `1.2`.
_BOUNDARY = re.compile(r"[^A-Za-z0-9._]")


#: A string as literal text and variable references (a `Template`'s parts).
_Parts = tuple[str | VarRef, ...]


def _express(
    values: Sequence[_Parts],
    columns: dict[str, tuple[str, ...]],
    path: tuple[Any, ...],
    *,
    whole: bool = False,
) -> tuple[str | VarRef | _Column, ...] | None:
    """The strings `values` (one per matrix target) as literal text, variables and matrix values, the same
    for every target; a new matrix value is added to `columns` for the one piece that still differs, if any."""
    for known in (columns, {}):
        found = _express_with(values, columns, known, path, whole)
        if found is not None:
            return found
    return None


def _express_with(
    values: Sequence[_Parts],
    columns: dict[str, tuple[str, ...]],
    known: Mapping[str, tuple[str, ...]],
    path: tuple[Any, ...],
    whole: bool,
) -> tuple[str | VarRef | _Column, ...] | None:
    tokenized = [
        tuple(
            piece
            for part in parts
            for piece in (
                _tokenize(part, {k: c[i] for k, c in known.items()})
                if isinstance(part, str)
                else (part,)
            )
        )
        for i, parts in enumerate(values)
    ]
    first = tokenized[0]
    if all(t == first for t in tokenized):
        return first
    if any(len(t) != len(first) for t in tokenized):
        return None
    differing = [i for i in range(len(first)) if any(t[i] != first[i] for t in tokenized)]
    if len(differing) != 1 or not all(isinstance(t[differing[0]], str) for t in tokenized):
        return None
    at = differing[0]
    texts = [str(t[at]) for t in tokenized]
    prefix, middles, suffix = ("", tuple(texts), "") if whole else _split(texts)
    key = next((k for k, c in columns.items() if c == middles), None)
    if key is None:
        key = _column_name(path, set(columns))
        columns[key] = middles
    return (*first[:at], prefix, _Column(key), suffix, *first[at + 1 :])


def _drop_derived(
    columns: dict[str, tuple[str, ...]],
    pieces: dict[tuple[Any, ...], tuple[str | VarRef | _Column, ...]],
) -> None:
    """Leave out the matrix values that are made of other matrix values the same way in every row (a build
    arg `BASE` of `debian:${tag}-slim@sha256:${digest}`, `EXTENSIONS` of `postgresql-${major}-pgaudit …`):
    where one was used, its template is written instead, so a row holds only what varies on its own. The
    longest values are tried first, each against the columns still kept."""
    for key in sorted(columns, key=lambda k: (-sum(map(len, columns[k])), k)):
        others = {k: c for k, c in columns.items() if k != key}
        made = {
            _tokenize(value, {k: c[i] for k, c in others.items()})
            for i, value in enumerate(columns[key])
        }
        if len(made) != 1:
            continue
        (template,) = made
        if not any(isinstance(t, _Column) for t in template):
            continue
        del columns[key]
        for path, parts in pieces.items():
            pieces[path] = tuple(
                piece for part in parts for piece in (template if part == _Column(key) else (part,))
            )


def _tokenize(text: str, values: Mapping[str, str]) -> tuple[str | _Column, ...]:
    """`text` with each occurrence of a matrix value (longest first) replaced by its column."""
    by_value: dict[str, str] = {}
    for key, value in values.items():
        if value and value not in by_value:
            by_value[value] = key
    if not by_value:
        return (text,)
    # A value is not taken out of a longer number: "16" in "16.4" is part of the version, not the major.
    pattern = re.compile(
        "|".join(
            rf"(?<![0-9.]){re.escape(v)}(?![0-9.])" for v in sorted(by_value, key=len, reverse=True)
        )
    )
    out: list[str | _Column] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append(text[pos : match.start()])
        out.append(_Column(by_value[match.group(0)]))
        pos = match.end()
    out.append(text[pos:])
    return tuple(out)


def _split(values: Sequence[str]) -> tuple[str, tuple[str, ...], str]:
    """Common prefix, the differing middles, common suffix, cut where words end (`bun-` `1_3`, not
    `bun-1_` `3`) and never between a `$`/`%` and its `{`."""
    shortest = min(len(v) for v in values)
    p = 0
    while p < shortest and all(v[p] == values[0][p] for v in values):
        p += 1
    s = 0
    while s < shortest - p and all(
        v[len(v) - 1 - s] == values[0][len(values[0]) - 1 - s] for v in values
    ):
        s += 1
    prefix, suffix = values[0][:p], values[0][len(values[0]) - s :]
    if any(len(v) > p and not _BOUNDARY.match(v[p]) for v in values) or any(
        len(v) == p for v in values
    ):
        while prefix and not _BOUNDARY.match(prefix[-1]):
            prefix = prefix[:-1]
    if any(
        len(v) - s - 1 >= len(prefix) and not _BOUNDARY.match(v[len(v) - s - 1]) for v in values
    ):
        while suffix and not _BOUNDARY.match(suffix[0]):
            suffix = suffix[1:]
    while prefix and prefix[-1] in "$%":
        prefix = prefix[:-1]
    while suffix and suffix[0] == "{":
        suffix = suffix[1:]
    middles = tuple(v[len(prefix) : len(v) - len(suffix)] for v in values)
    return prefix, middles, suffix


def _column_name(path: tuple[Any, ...], taken: set[str]) -> str:
    """A readable matrix key for the strings at `path`: `name`, `version` for args.VERSION or for the label
    org.opencontainers.image.version, `tag` for a piece of tags[0], …"""
    named = [p for p in path if isinstance(p, str)]
    # a dotted label or annotation key by its last word: `digest` for org.opencontainers.image.base.digest
    base = (named[-1].rsplit(".", 1)[-1] or named[-1] if named else "value").lower()
    if len(path) > 1 and isinstance(path[-1], int) and base.endswith("s"):
        base = base[:-1]  # a piece of tags[0]: `tag`
    base = "".join(c if c.isalnum() else "_" for c in base).strip("_") or "value"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name
