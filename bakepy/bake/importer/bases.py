"""Which targets an import may write others as inheriting from (issue 24, item 6: imports people keep).

`factoring.factor` writes a target as `inherits` of a base where that resolves to exactly what bake printed. The
bases it may use, chosen here (pure, on the flat import):

- the original's private targets (`_common`), as before;
- a public target that at least two others hold entirely (Mailu's `defaults`, which every image inherits): it is
  written once, and stays a target of its own;
- when the original has neither, a private base made of what many targets share (`_common`): the attributes of
  the same value in all of them, the map entries they all hold, the list entries they all start with. Only when
  it saves lines: a matrix bake expanded into 54 targets with the same platforms, outputs and a dozen labels
  writes them once.
"""

from collections.abc import Mapping, Sequence

from bakepy.bake.importer.imported import ImportedTarget, Value
from bakepy.bake.importer.mergerules import APPEND as _APPEND
from bakepy.bake.importer.mergerules import MAPS as _MAPS

#: Attributes that name what a target is, never shared through a made-up base.
_OWN = frozenset({"inherits", "matrix", "name", "tags", "description"})
#: A made-up base must save at least this many lines to be worth a name of its own.
_WORTH = 10

SHARED_BASE = "_common"


def public_bases(
    targets: Sequence[ImportedTarget], holds: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """The public targets that at least two others hold entirely (`holds`: target → the targets whose
    attributes it holds, computed by the caller with bake's merge rules)."""
    held_by: dict[str, int] = {}
    for holder, held in holds.items():
        for name in held:
            if name != holder:
                held_by[name] = held_by.get(name, 0) + 1
    return tuple(
        t.name
        for t in targets
        if not t.name.startswith("_")
        and t.attributes
        and not t.unsupported
        and "matrix" not in t.attributes
        and held_by.get(t.name, 0) >= 2
    )


def shared_base(targets: Sequence[ImportedTarget], taken: set[str]) -> ImportedTarget | None:
    """A private base holding what every public target shares, or None when that saves fewer than `_WORTH`
    lines (or there are fewer than three targets)."""
    publics = [
        t
        for t in targets
        if not t.name.startswith("_") and not t.unsupported and "inherits" not in t.attributes
    ]
    if len(publics) < 3:
        return None
    common: dict[str, Value] = {k: v for k, v in publics[0].attributes.items() if k not in _OWN}
    for target in publics[1:]:
        attributes = target.attributes
        for key in list(common):
            mine, shared = attributes.get(key), common[key]
            if mine is None:
                del common[key]
            elif key in _MAPS and isinstance(mine, dict) and isinstance(shared, dict):
                kept = {k: v for k, v in shared.items() if k in mine and mine[k] == v}
                if kept:
                    common[key] = kept
                else:
                    del common[key]
            elif key in _APPEND and isinstance(mine, list) and isinstance(shared, list):
                n = 0
                while n < min(len(mine), len(shared)) and mine[n] == shared[n]:
                    n += 1
                if n:
                    common[key] = shared[:n]
                else:
                    del common[key]
            elif mine != shared:
                del common[key]
    size = sum(len(v) if isinstance(v, dict | list) else 1 for v in common.values())
    # each target writes `inherits` instead of the shared lines; the base writes them once more
    if size * len(publics) - (size + 2 + len(publics)) < _WORTH:
        return None
    name = SHARED_BASE
    while name in taken:
        name += "_"
    return ImportedTarget(name, common)
