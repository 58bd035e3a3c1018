"""The check of the Python form's live code (`hcllive`): run the code written for the bake file on the
variables' values in force at import, and compare what it gives with what the import holds (what bake printed),
attribute by attribute, as bake prints them. A difference keeps the variables frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.hclpython import inline, py_str
from bakepy.bake.importer.imported import (
    BAKE_DEFAULTS,
    ImportedProject,
    ImportedTarget,
    Template,
    Value,
)
from bakepy.bake.importer.mergerules import MAPS

if TYPE_CHECKING:
    from bakepy.bake.importer.hcllive import LiveForm

#: Lists bake drops empty entries from (and tags: repeats too).
LISTS = frozenset(
    {
        "tags",
        "platforms",
        "cache-to",
        "output",
        "cache-from",
        "secret",
        "ssh",
        "attest",
        "annotations",
        "no-cache-filter",
        "entitlements",
    }
)
#: The model class that reads an entry of a structured list (to compare code's CSV with bake's print).
_ENTRY_CLASSES = {
    "cache-from": "CacheEntry",
    "cache-to": "CacheEntry",
    "output": "Output",
    "secret": "Secret",
    "ssh": "SSH",
    "attest": "Attestation",
}


def values_in_force(project: ImportedProject, files: h.HclFiles) -> dict[str, str | None]:
    """Every variable's value at import: the imported default (templates filled in), else the HCL default."""
    raw: dict[str, str | Template | None] = {v.name: v.default for v in project.variables}
    var_names = set(files.variables)
    for name, var in files.variables.items():
        if name not in raw:
            raw[name] = plain_default(var, var_names)
    out: dict[str, str | None] = {}

    def value(name: str, stack: tuple[str, ...]) -> str | None:
        if name in out:
            return out[name]
        found = raw.get(name)
        result: str | None
        if isinstance(found, Template):
            if name in stack:
                return None
            result = "".join(
                p if isinstance(p, str) else (value(p.name, (*stack, name)) or "")
                for p in found.parts
            )
        elif isinstance(found, str) and "${" in found:
            from bakepy.model.interpolate import interpolate

            result = interpolate(found, lambda n: value(n, (*stack, name)) or "")
        else:
            result = found
        out[name] = result
        return result

    for name in raw:
        value(name, ())
    return out


def module_code(form: LiveForm) -> str:
    """The definitions as one-line Python source, to run them in the check (not the written layout)."""
    lines = []
    for python, variable, parse in form.reads:
        read = f"value[{py_str(variable)}]"
        lines.append(f"{python} = {parse}({read})" if parse else f"{python} = {read}")
    for fn in form.functions:
        params = [*fn.params, *((f"*{fn.variadic}",) if fn.variadic else ())]
        lines.append(f"def {fn.name}({', '.join(params)}):")
        if fn.variadic:
            lines.append(f"    {fn.variadic} = list({fn.variadic})")
        lines.append(f"    return {inline(fn.result)}")
    for name, code in form.attributes:
        lines.append(f"{name} = {inline(code)}")
    return "\n".join(lines)


def check(
    form: LiveForm,
    project: ImportedProject,
    values: Mapping[str, str | None],
    imported: Mapping[str, ImportedTarget],
) -> set[tuple[str, str, str | None]] | None:
    """Run the code with the values in force: the (target, key, entry) whose value differs from the import's;
    None when the code cannot run at all."""
    from bakepy import bakefuncs

    namespace: dict[str, Any] = {n: getattr(bakefuncs, n) for n in bakefuncs.__all__}
    namespace["value"] = dict(values)
    try:
        exec(compile(module_code(form), "<bakefile.py>", "exec"), namespace)
    except Exception:
        return None
    bad: set[tuple[str, str, str | None]] = set()
    cases: list[tuple[str, str, str | None, Any]] = [
        (t, k, None, c) for t, attrs in form.values.items() for k, c in attrs.items()
    ] + [
        (t, k, e, c)
        for t, attrs in form.entries.items()
        for k, es in attrs.items()
        for e, c in es.items()
    ]
    for target, key, entry, code in cases:
        try:
            got = eval(compile(inline(code), "<bakefile.py>", "eval"), namespace)
        except Exception:
            bad.add((target, key, entry))
            continue
        want = imported_value(imported, target, key, values)
        if want is None and entry is None:
            want = BAKE_DEFAULTS.get(
                key
            )  # the import leaves out `context = "."`: bake's own default
        if entry is not None:
            want = want.get(entry) if isinstance(want, dict) else None
        if _normal(key, got) != _normal(key, want):
            bad.add((target, key, entry))
    return bad


def _normal(key: str, value: Any) -> Any:
    """A value as bake prints it: lists without empty entries (tags without repeats either), no list as an
    empty one, structured entries (`type=registry,ref=…`) read by bakepy's model."""
    if value is None and key in LISTS:
        return []
    if value is None and key in MAPS:
        return {}
    if isinstance(value, list | tuple):
        items = [v for v in value if v != ""]
        if key == "tags":
            items = list(dict.fromkeys(items))
        if key in _ENTRY_CLASSES:
            import bakepy.model as model

            cls = getattr(model, _ENTRY_CLASSES[key])
            try:
                items = [cls.model_validate(v).bake_value() for v in items]
            except ValueError:
                return ("unreadable", items)
        return items
    return value


def inherits_of(target: ImportedTarget) -> list[str]:
    inherits = target.attributes.get("inherits")
    return [str(p) for p in inherits] if isinstance(inherits, list) else []


def _resolved(value: Value, values: Mapping[str, str | None]) -> Any:
    if isinstance(value, Template):
        return "".join(p if isinstance(p, str) else (values.get(p.name) or "") for p in value.parts)
    if isinstance(value, list):
        return [_resolved(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _resolved(v, values) for k, v in value.items()}
    return value


def imported_value(
    imported: Mapping[str, ImportedTarget],
    name: str,
    key: str,
    values: Mapping[str, str | None],
    stack: tuple[str, ...] = (),
) -> Any:
    """What the import resolves `key` of target `name` to (own value, else its bases', maps merged)."""
    target = imported.get(name)
    if target is None or name in stack:
        return None
    inherits = target.attributes.get("inherits")
    merged: Any = None
    for parent in inherits if isinstance(inherits, list) else ():
        got = imported_value(imported, str(parent), key, values, (*stack, name))
        if got is None:
            continue
        merged = {**merged, **got} if isinstance(merged, dict) and isinstance(got, dict) else got
    own = target.attributes.get(key)
    if own is None:
        return merged
    own = _resolved(own, values)
    if isinstance(own, dict) and isinstance(merged, dict):
        return {**merged, **own}
    return own


def plain_default(var: h.HclVariable, names: set[str]) -> str | None:
    """A variable default as bakepy text (`"1.0"`, `"${REPO}:x"`, `REPO` as `"${REPO}"`), or None when it
    computes something."""
    default = var.default
    if isinstance(default, h.Name) and default.name in names:
        return f"${{{default.name}}}"
    if isinstance(default, h.Literal) and default.value is not None:
        value = default.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return None if ("${" in value or "%{" in value) else value
        return str(value)
    if isinstance(default, h.Template):
        out = []
        for p in default.parts:
            if isinstance(p, str):
                if "${" in p or "%{" in p:
                    return None
                out.append(p)
            elif isinstance(p, h.Name) and p.name in names:
                out.append(f"${{{p.name}}}")
            else:
                return None
        return "".join(out)
    return None
