"""Import step 2 (pure): buildx's answers become an `ImportedProject`.

Every target with every attribute, every group with its resolved members, each variable kept as `${NAME}`
wherever its value lands verbatim (so an environment override still works as in bake), and an `ImportNote` for
anything bakepy cannot express, instead of dropping it silently."""

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bakepy.bake.importer.factoring import factor
from bakepy.bake.importer.imported import (
    BAKE_DEFAULTS,
    TARGET_ATTRIBUTES,
    ImportedGroup,
    ImportedProject,
    ImportedTarget,
    ImportedVariable,
    ImportNote,
    Template,
    Value,
    VarRef,
)
from bakepy.bake.importer.printed import _normalised_targets, _shape
from bakepy.bake.importer.resolve import BakeVariable, ResolvedBake, numeric_sentinel, sentinel


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{_path_key(k)}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _path_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _template_from(probed: str, sentinels: Mapping[str, str]) -> Template:
    """Split a probed string at the sentinels: `acme/app:bkpy0vx` → `acme/app:` + `${TAG}`."""
    if not sentinels:
        return Template((probed,))
    by_value = {v: k for k, v in sentinels.items()}
    pattern = re.compile("|".join(re.escape(v) for v in sorted(by_value, key=len, reverse=True)))
    parts: list[str | VarRef] = []
    pos = 0
    for match in pattern.finditer(probed):
        if match.start() > pos:
            parts.append(probed[pos : match.start()])
        parts.append(VarRef(by_value[match.group(0)]))
        pos = match.end()
    if pos < len(probed):
        parts.append(probed[pos:])
    return Template(tuple(parts))


@dataclass
class _Templating:
    """Where each variable lands: leaf path → Template, plus what could not be followed, per variable."""

    # Variable values in force at import.
    values: dict[str, str]
    templates: dict[str, Template] = field(default_factory=dict)
    # Variable → paths it changes that are written as their import-time value (no template follows it).
    frozen: dict[str, list[str]] = field(default_factory=dict)
    # Variables some value of which changes the definition's shape (targets, list lengths, keys).
    shaped: set[str] = field(default_factory=set)
    # Variable → templated paths it changes in a way the template does not follow.
    diverges: dict[str, list[str]] = field(default_factory=dict)
    # Variables buildx accepted no probe value for.
    unprobed: set[str] = field(default_factory=set)
    # Bool (or other non-text) variables that matter.
    nontext: set[str] = field(default_factory=set)


def _predicted(
    baseline: Mapping[str, Any], templates: Mapping[str, Template], assignment: Mapping[str, str]
) -> Any:
    """What bakepy resolves the imported targets to with `assignment`: the templates filled in, and list
    entries that became "" dropped (as bake and bakepy both do)."""

    def walk(value: Any, path: str, top: bool) -> Any:
        if path in templates:
            return templates[path].resolve(assignment)
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{_path_key(k)}", False) for k, v in value.items()}
        if isinstance(value, list):
            items = [walk(v, f"{path}[{i}]", False) for i, v in enumerate(value)]
            return [v for v in items if v != ""] if top else items
        return value

    out = {}
    for name, target in baseline.items():
        attrs = {k: walk(v, f"target.{_path_key(name)}.{k}", True) for k, v in target.items()}
        out[name] = {k: v for k, v in attrs.items() if v != [] or target[k] == []}  # bake omits []
    return out


def _templating(resolved: ResolvedBake, baseline: Mapping[str, Any]) -> _Templating:
    """Find, for every string in the targets, whether it is a variable's value with text around it.

    A template is proposed by the combined probe (every text variable at its sentinel at once) and kept only
    if it gives back the printed value with the import-time values. Each single-variable probe then checks
    the templates against what bake printed for that probe value: a mismatch, or a value that changed where
    no template is, becomes a note for that variable.
    """
    values = {v.name: v.value for v in resolved.variables if v.value is not None}
    result = _Templating(values=dict(values))
    base_leaves = dict(_leaves(baseline, "target"))
    base_shape = _shape(baseline)

    # The probe values that stand for text: the variable's sentinels, and the empty string.
    text_probes = {
        v.name: (sentinel(i), numeric_sentinel(i), "") for i, v in enumerate(resolved.variables)
    }
    combined_sentinels: dict[str, str] = {}
    if resolved.combined is not None and resolved.combined.printed is not None:
        combined_sentinels = dict(resolved.combined.assignment)
        probed = dict(_leaves(_normalised_targets(resolved.combined.printed), "target"))
        for path, base in base_leaves.items():
            new = probed.get(path)
            if not isinstance(base, str) or not isinstance(new, str) or new == base:
                continue
            template = _template_from(new, combined_sentinels)
            if template.variables and template.resolve(values) == base:
                result.templates[path] = template

    for probe in resolved.probes:
        if len(probe.assignment) != 1 or probe.printed is None:
            continue
        ((name, value),) = probe.assignment
        probed_targets = _normalised_targets(probe.printed)
        if _shape(probed_targets) != base_shape:
            # `tags = ["${TAG}"]` with TAG="": bake drops the empty entry, and so does bakepy's resolution.
            if value != "" or _predicted(baseline, result.templates, {**values, name: ""}) != (
                probed_targets
            ):
                result.shaped.add(name)
            continue
        if value not in text_probes.get(name, ()):
            # The other boolean: it only tells whether the variable matters.
            if probed_targets != baseline:
                result.nontext.add(name)
            continue
        assignment = {**values, name: value}
        for path, new in _leaves(probed_targets, "target"):
            found = result.templates.get(path)
            if found is not None:
                if found.resolve(assignment) != new:
                    result.diverges.setdefault(name, []).append(path)
            elif new != base_leaves.get(path):
                result.frozen.setdefault(name, []).append(path)

    accepted = {
        p.assignment[0][0]
        for p in resolved.probes
        if len(p.assignment) == 1 and p.printed is not None
    }
    for var in resolved.variables:
        if var.name not in accepted and not _fixed_collection(var):
            result.unprobed.add(var.name)
    return result


def _fixed_collection(var: BakeVariable) -> bool:
    """A list/map variable with no declared type: bake itself refuses to override it from outside."""
    return var.type is None and var.value is not None and var.value[:1] in ("[", "{")


def _convert_value(value: Any, path: str, templating: _Templating) -> Value:
    if isinstance(value, dict):
        # Sorted keys: buildx prints maps sorted but structs (resources) in field order.
        return {
            k: _convert_value(value[k], f"{path}.{_path_key(k)}", templating) for k in sorted(value)
        }
    if isinstance(value, list):
        return [_convert_value(v, f"{path}[{i}]", templating) for i, v in enumerate(value)]
    if isinstance(value, str):
        return templating.templates.get(path, value)
    if isinstance(value, bool | int | float):
        return value
    raise TypeError(f"unexpected value {value!r} at {path}")


def _structured_order(entry: Mapping[str, Value]) -> dict[str, Value]:
    """Structured entries (cache-from, output, …) with `type` (or `id`) first, then the rest as printed."""
    first = [k for k in ("type", "id") if k in entry]
    return {**{k: entry[k] for k in first}, **{k: v for k, v in entry.items() if k not in first}}


def convert(resolved: ResolvedBake) -> ImportedProject:
    """Turn what buildx said into an `ImportedProject` (step 2; pure)."""
    notes: list[ImportNote] = []
    remarks: list[str] = []
    baseline = _normalised_targets(resolved.printed)
    templating = _templating(resolved, baseline)

    groups = _groups(resolved)
    targets: list[ImportedTarget] = []
    for name in sorted(baseline):
        attrs: dict[str, Value] = {}
        unsupported: dict[str, Any] = {}
        raw = baseline[name]
        for key in _ordered_keys(raw):
            value = raw[key]
            path = f"target.{_path_key(name)}.{key}"
            if key in BAKE_DEFAULTS and value == BAKE_DEFAULTS[key]:
                continue
            reason = _unrepresentable(key, value)
            if reason is not None:
                unsupported[key] = resolved.printed["target"][name][key]
                notes.append(
                    ImportNote(
                        path,
                        f"{reason}; not imported (kept as a comment): "
                        f"{json.dumps(unsupported[key], sort_keys=True)}",
                    )
                )
                continue
            if isinstance(value, dict) and any(v is None for v in value.values()):
                for k in [k for k, v in value.items() if v is None]:
                    notes.append(
                        ImportNote(
                            f"{path}.{_path_key(k)}",
                            "is null in bake (unset); bakepy has no null: left out",
                        )
                    )
                value = {k: v for k, v in value.items() if v is not None}
            if key == "platforms" and any(isinstance(v, str) and "," in v for v in value):
                # bake splits each item at commas (compose's x-bake `platforms: linux/amd64,linux/arm64`)
                templated = any(f"{path}[{i}]" in templating.templates for i in range(len(value)))
                notes.append(
                    ImportNote(
                        path,
                        "names several platforms in one item, which bake splits at the commas: written one per "
                        "item"
                        + (
                            "; the variables in it are written as their values" if templated else ""
                        ),
                    )
                )
                attrs[key] = [p.strip() for v in value for p in str(v).split(",") if p.strip()]
                continue
            converted = _convert_value(value, path, templating)
            if isinstance(converted, list) and key in _STRUCTURED:
                converted = [_structured_order(e) if isinstance(e, dict) else e for e in converted]
            attrs[key] = converted
        targets.append(ImportedTarget(name, attrs, unsupported))

    described = {v.name: v for v in resolved.variables}

    def variables_of(kept: Sequence[ImportedTarget]) -> tuple[ImportedVariable, ...]:
        used = sorted({name for target in kept for name in _variables_in(target.attributes)})
        return tuple(
            ImportedVariable(name, templating.values[name], described[name].description)
            for name in used
        )

    # Private targets come along flat; `factor` writes inherits (and matrices) where that resolves the same,
    # and leaves out the private targets nothing inherits any more.
    factored = factor(
        ImportedProject(
            sources=resolved.sources,
            variables=variables_of(targets),
            targets=tuple(targets),
            groups=tuple(groups),
            notes=(),
        ),
        written_groups=resolved.written_groups,
        ordered_matrices=resolved.one_key_matrices,
        keep=resolved.requested,
    )
    # Every target bake printed is still there (written, or made by a matrix) but the folded private ones.
    kept_names = {t.name for t in factored.targets}
    visible = [t for t in targets if not t.name.startswith("_") or t.name in kept_names]
    notes = [
        n
        for n in notes
        if any(n.where.startswith(f"target.{_path_key(t.name)}.") for t in visible)
        or not n.where.startswith("target.")
    ]
    targets = list(factored.targets)
    groups = list(factored.groups)
    remarks.extend(factored.remarks)
    variables = variables_of(targets)
    used = [v.name for v in variables]
    notes.extend(_variable_notes(resolved, templating, visible, used))
    notes.extend(_frozen_notes(resolved, baseline, variables))
    for builtin in resolved.builtins_used:
        notes.append(
            ImportNote(
                f"variable.{builtin}",
                "is a bake built-in (it cannot be overridden, so the import cannot see where it lands); "
                "its value on this machine is written wherever the definitions use it",
            )
        )
    return ImportedProject(
        sources=resolved.sources,
        variables=variables,
        targets=tuple(targets),
        groups=tuple(groups),
        notes=tuple(notes),
        remarks=tuple(remarks),
    )


# What timestamp() (RFC 3339) and formatdate() of it commonly print: a date, optionally with a time.
_CLOCK_VALUE = re.compile(
    r"(?:19|20)\d\d(?P<d1>-?)[01]\d(?P<d2>-?)[0-3]\d"
    r"(?:(?P<at>[T ]?)(?P<hour>[0-2]\d)(?P<t1>:?)[0-5]\d(?:(?P<t2>:?)(?P<second>[0-5]\d))?(?P<zone>Z?))?"
)


def _stamped(value: str, clock: re.Match[str]) -> str:
    """`value` as a shell word whose clock part `date -u` makes in the same shape: "RELEASE.2026-11-29" →
    "RELEASE.$(date -u +%Y-%m-%d)", so what the example sets has the form the import saw (a tag stays valid)."""
    import shlex

    part = clock.groupdict()
    form = f"%Y{part['d1']}%m{part['d2']}%d"
    if part["hour"] is not None:
        form += f"{part['at']}%H{part['t1']}%M"
        if part["second"] is not None:
            form += f"{part['t2']}%S"
        form += part["zone"] or ""

    def literal(text: str) -> str:
        return re.sub(r'([\\"$`])', r"\\\1", text)

    before, after = value[: clock.start()], value[clock.end() :]
    return f'"{literal(before)}$(date -u +{shlex.quote(form)}){literal(after)}"'


def _frozen_notes(
    resolved: ResolvedBake, baseline: Mapping[str, Any], variables: Sequence[ImportedVariable]
) -> Iterator[ImportNote]:
    """Values that depend on when or where the import ran, written as they were then (issue 10): the clock
    (timestamp(), formatdate(…, timestamp())) and variables set in the import's environment."""
    if resolved.clock_used:
        for variable in variables:
            if variable.default and (clock := _CLOCK_VALUE.search(variable.default)):
                what = (
                    "is the clock (timestamp()) in bake; its default is the time of the import"
                    if clock.group(0) == variable.default
                    else "is made from the clock (timestamp()) in bake; its default is its value at the import"
                )
                yield ImportNote(
                    f"variable.{variable.name}",
                    f"{what}, {json.dumps(variable.default)}, frozen: set {variable.name} at build time "
                    f"(e.g. {variable.name}={_stamped(variable.default, clock)}) to stamp each build",
                )
        followed = {v.name for v in variables}
        for path, value in _leaves(baseline, "target"):
            if not isinstance(value, str) or not _CLOCK_VALUE.search(value):
                continue
            owner = (
                next(  # a kept variable whose value lands in it: `${NAME}` there follows the clock
                    (
                        v
                        for v in resolved.variables
                        if v.name in followed
                        and v.value
                        and _CLOCK_VALUE.search(v.value)
                        and v.value in value
                    ),
                    None,
                )
            )
            if owner is None:
                yield ImportNote(
                    path,
                    f"looks computed from the clock (timestamp()); written as it was at import, "
                    f"{json.dumps(value)}, frozen",
                )
    for name in resolved.compose_variables:
        yield ImportNote(
            name,
            "a compose file's variables (${NAME:-default}, .env, the environment) are applied at import: bake "
            "lists none for compose files, so the values in force now are written as they are; set them and "
            "import again to change them, or declare [variable.NAME] by hand",
        )
    for name in resolved.from_environment:
        if any(v.name == name for v in variables):
            yield ImportNote(
                f"variable.{name}",
                f"its value at import came from the environment ({name} was set), so that value is its "
                "default now; the environment still overrides it at render, as in bake",
            )


def _unrepresentable(key: str, value: Any) -> str | None:
    """Why bakepy cannot hold this attribute as bake printed it, or None when it can."""
    if key not in TARGET_ATTRIBUTES:
        return f"bakepy has no {key!r} attribute"
    if key == "policy" and any(
        isinstance(p, dict) and isinstance(p.get("filename"), list) for p in value
    ):
        return "a policy entry with several files (a bakepy policy entry has one filename)"
    return None


def _variables_in(value: Value | Mapping[str, Value]) -> Iterator[str]:
    if isinstance(value, Template):
        yield from value.variables
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _variables_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _variables_in(v)


_STRUCTURED = frozenset({"attest", "cache-from", "cache-to", "output", "secret", "ssh"})


def _ordered_keys(raw: Mapping[str, Any]) -> list[str]:
    order = {k: i for i, k in enumerate(TARGET_ATTRIBUTES)}
    return sorted(raw, key=lambda k: (order.get(k, len(order)), k))


def _groups(resolved: ResolvedBake) -> list[ImportedGroup]:
    printed = resolved.printed.get("group") or {}
    out = []
    for name in sorted(printed):
        if name == "default":
            continue  # always rewritten by bake --print of several names; taken from its own call below
        g = printed[name] or {}
        members = _members(g.get("targets"), resolved.written_groups, name)
        out.append(ImportedGroup(name, members, g.get("description") or None))
    if resolved.default_group is not None:
        desc = next(
            (e.description for e in resolved.listing if e.name == "default" and e.group), None
        )
        # --list describes a group as "DESCRIPTION (members)"; keep only a real description.
        real = desc.rsplit(" (", 1)[0] if desc and desc.endswith(")") and " (" in desc else None
        members = _members(resolved.default_group, resolved.written_groups, "default")
        out.append(ImportedGroup("default", members, real))
        out.sort(key=lambda g: g.name)
    return out


def _members(
    targets: Iterable[str] | None, written: Sequence[str] | None, name: str
) -> tuple[str, ...]:
    """A group's members in bake's order, each once: the order the files write them (`vendor`, `format`,
    `build` is part of what the user wrote), and a one-key matrix's values in order. Only a matrix of several
    keys has no stable order in bake (Go map order picks the key that varies first); its group is kept as
    this run printed it, so `written` (the groups the files define) is informational here."""
    del written, name
    return tuple(dict.fromkeys(targets or ()))


def _places(paths: Sequence[str], limit: int = 4) -> str:
    unique = list(dict.fromkeys(paths))
    shown = ", ".join(unique[:limit])
    return shown + (f" and {len(unique) - limit} more" if len(unique) > limit else "")


def _variable_notes(
    resolved: ResolvedBake, t: _Templating, kept: Sequence[ImportedTarget], used: Sequence[str]
) -> Iterable[ImportNote]:
    """One note per variable that bakepy cannot follow everywhere bake does."""
    prefixes = tuple(f"target.{_path_key(target.name)}." for target in kept)

    def visible(paths: Sequence[str]) -> list[str]:
        return [p for p in paths if p.startswith(prefixes)]

    for var in resolved.variables:
        name = var.name
        value = t.values.get(name)
        shown = "null" if value is None else json.dumps(value)
        problems: list[str] = []
        if name in t.shaped:
            problems.append(
                "some values of it change the shape of the definition (which targets exist, list lengths, "
                "keys or conditions), which bakepy cannot follow"
            )
        elif name in t.nontext:
            problems.append(
                f"it is not text ({var.type or 'a bool or number'}) and decides parts of the definition"
            )
        elif name in t.unprobed:
            problems.append(
                "buildx accepted no probe value for it, so the import cannot tell where it is used"
            )
        frozen = visible(t.frozen.get(name, []))
        if frozen:
            problems.append(
                f"it reaches {_places(frozen)} through a function or condition, written there as the value at import"
            )
        bends = visible(t.diverges.get(name, []))
        if bends:
            problems.append(
                f"bake also derives {_places(bends)} from it (through another variable, a function or a "
                "condition), which the ${…} references there do not follow"
            )
        if not problems:
            continue
        if value is None:
            outcome = f"not kept as a variable (it is null, so bake leaves out what uses it): {'; '.join(problems)}"
        elif name in used:
            outcome = f"bakepy follows it as ${{{name}}} where its value lands as is, but {'; '.join(problems)}"
        else:
            outcome = f"not kept as a variable, its value {shown} is written where it is used: {'; '.join(problems)}"
        yield ImportNote(
            f"variable.{name}",
            f"{outcome}. The import is exact for {name}={shown}; to change it, set it and run bakepy import again",
        )


def with_remark(project: ImportedProject, remark: str) -> ImportedProject:
    """`project` with one more informational line for the header."""
    return replace(project, remarks=(*project.remarks, remark))
