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
    BUILTIN_VARIABLES,
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
from bakepy.bake.importer.printed import (
    _normalised_targets,
    _shape,
    collapsed,
    expands_to,
    substituted,
)
from bakepy.bake.importer.resolve import (
    BakeVariable,
    Probe,
    ResolvedBake,
    numeric_sentinel,
    sentinel,
)


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
    # Variables whose default is text and other variables (`"${REPO}:${TAG}"`): kept as that template.
    derived: dict[str, Template] = field(default_factory=dict)
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
    result = _Templating(values=dict(values), derived=_derived(resolved))
    base_leaves = dict(_leaves(baseline, "target"))
    base_shape = _shape(baseline)

    def printed(probe: Probe) -> dict[str, Any]:
        targets = _normalised_targets(probe.printed or {})
        # Each --print reads the clock again (timestamp()): a later second is not the probe value's doing.
        return _reclocked(targets, baseline) if resolved.clock_used else targets

    # The probe values that stand for text: the variable's sentinels, and the empty string.
    text_probes = {
        v.name: (sentinel(i), numeric_sentinel(i), "") for i, v in enumerate(resolved.variables)
    }
    combined_sentinels: dict[str, str] = {}
    if resolved.combined is not None and resolved.combined.printed is not None:
        combined_sentinels = dict(resolved.combined.assignment)
        probed = dict(_leaves(printed(resolved.combined), "target"))
        for path, base in base_leaves.items():
            new = probed.get(path)
            if not isinstance(base, str) or not isinstance(new, str) or new == base:
                continue
            template = _template_from(new, combined_sentinels)
            resolved_value = template.resolve(values)
            if template.variables and (
                resolved_value == base
                or (resolved.clock_used and _unclocked(resolved_value) == _unclocked(base))
            ):
                result.templates[path] = template

    for probe in resolved.probes:
        if len(probe.assignment) != 1 or probe.printed is None:
            continue
        ((name, value),) = probe.assignment
        probed_targets = printed(probe)
        assignment = _assigned(values, result.derived, {name: value})
        if _shape(probed_targets) != base_shape:
            # `tags = ["${TAG}"]` with TAG="": bake drops the empty entry, and so does bakepy's resolution;
            # two tags that become equal are one tag, in bake and in bakepy.
            if collapsed(_predicted(baseline, result.templates, assignment)) != (
                collapsed(probed_targets)
            ):
                result.shaped.add(name)
            continue
        if value not in text_probes.get(name, ()):
            # The other boolean: it only tells whether the variable matters.
            if probed_targets != baseline:
                result.nontext.add(name)
            continue
        for path, new in _leaves(probed_targets, "target"):
            found = result.templates.get(path)
            if found is not None:
                got = found.resolve(assignment)
                if got != new and not (
                    resolved.clock_used
                    and isinstance(new, str)
                    and _unclocked(got) == _unclocked(new)
                ):
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


def _derived(resolved: ResolvedBake) -> dict[str, Template]:
    """The variable defaults the files write as text and other variables, where that gives the value in force
    (not when the environment or --var set the variable itself)."""
    values = {v.name: v.value for v in resolved.variables if v.value is not None}
    derived = dict(resolved.derived)
    out: dict[str, Template] = {}
    for name, template in derived.items():
        if name not in values or any(v not in values for v in template.variables):
            continue
        if _assigned(values, derived, {}).get(name) == values[name]:
            out[name] = template
    return out


def _assigned(
    values: Mapping[str, str], derived: Mapping[str, Template], assignment: Mapping[str, str]
) -> dict[str, str]:
    """The value of every variable when `assignment` sets some of them: the derived ones (`FULL` of
    `"${REPO}:${TAG}"`) follow the ones they are made of, as in bake, unless set themselves."""
    out = {**values, **assignment}
    for _ in range(len(derived) + 1):
        changed = False
        for name, template in derived.items():
            if name in assignment or any(v not in out for v in template.variables):
                continue
            value = template.resolve(out)
            if out.get(name) != value:
                out[name], changed = value, True
        if not changed:
            break
    return out


def _unclocked(text: str) -> str:
    """`text` with the digits of every clock value (`_CLOCK_VALUE`) blanked, its shape kept: two prints of
    timestamp() a second apart agree, a date and a time do not."""
    return _CLOCK_VALUE.sub(lambda m: re.sub(r"\d", "0", m.group(0)), text)


def _reclocked(targets: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """`targets` with each clock value (a date and time, `_CLOCK_VALUE`) put back as the baseline has it at
    the same place, where both hold as many: a probe printed a second later is not changed by its value."""

    def walk(value: Any, base: Any) -> Any:
        if isinstance(value, dict):
            base_map = base if isinstance(base, dict) else {}
            return {k: walk(v, base_map.get(k)) for k, v in value.items()}
        if isinstance(value, list):
            base_list = base if isinstance(base, list) else []
            return [
                walk(v, base_list[i] if i < len(base_list) else None) for i, v in enumerate(value)
            ]
        if isinstance(value, str) and isinstance(base, str) and value != base:
            theirs = [m.group(0) for m in _CLOCK_VALUE.finditer(base)]
            mine = list(_CLOCK_VALUE.finditer(value))
            if theirs and len(theirs) == len(mine):
                out, pos = [], 0
                for match, stamp in zip(mine, theirs, strict=True):
                    out += [value[pos : match.start()], stamp]
                    pos = match.end()
                return "".join([*out, value[pos:]])
        return value

    return {name: walk(attrs, baseline.get(name)) for name, attrs in targets.items()}


def _expanded(resolved: ResolvedBake, baseline: dict[str, Any]) -> dict[str, Any]:
    """The targets with the list entries bake merged or dropped only because the values in force made them
    equal or empty, as the combined probe shows them: `tags = ["org/app:${VERSION}", "org/app:${CHANNEL}"]`
    with both empty prints one `org/app:`, but is two tags as soon as either is set (issue 24, item 15)."""
    combined = resolved.combined
    if combined is None or combined.printed is None:
        return baseline
    values = {v.name: v.value for v in resolved.variables if v.value is not None}
    back = {probe: values[name] for name, probe in combined.assignment if name in values}
    probed = _normalised_targets(combined.printed)
    return substituted(probed, back) if expands_to(baseline, probed, back) else baseline


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
    baseline = _expanded(resolved, _normalised_targets(resolved.printed))
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
    frozen: dict[str, str] = {}  # variable → why bakepy.toml cannot follow it (`_variable_notes`)

    def variables_of(kept: Sequence[ImportedTarget]) -> tuple[ImportedVariable, ...]:
        used = {name for target in kept for name in _variables_in(target.attributes)}
        todo = list(used | set(frozen))
        while todo:  # the variables a kept default is made of (`"${REPO}:${TAG}"`)
            derived = templating.derived.get(todo.pop())
            for name in derived.variables if derived is not None else ():
                if name not in used:
                    used.add(name)
                    todo.append(name)
        return tuple(
            ImportedVariable(
                name,
                templating.derived.get(name) or templating.values.get(name),
                described[name].description,
                frozen=name in frozen,
            )
            for name in sorted(used | set(frozen))
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
    used = [v.name for v in variables_of(targets)]
    for note in _variable_notes(resolved, templating, visible, used):
        frozen[note.where.removeprefix("variable.")] = note.message
        notes.append(note)
    variables = variables_of(targets)
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
            default = variable.default
            if isinstance(default, str) and (clock := _CLOCK_VALUE.search(default)):
                what = "is the clock" if clock.group(0) == default else "is made from the clock"
                yield ImportNote(
                    f"variable.{variable.name}",
                    f"{what} (timestamp()) in bake, frozen at {json.dumps(default)}: set it at build time "
                    f"({variable.name}={_stamped(default, clock)})",
                )
        followed = [
            v.value
            for v in resolved.variables
            if any(k.name == v.name for k in variables) and v.value and _CLOCK_VALUE.search(v.value)
        ]
        stamped = [
            (path, value)
            for path, value in _leaves(baseline, "target")
            if isinstance(value, str)
            and _CLOCK_VALUE.search(value)
            and not any(  # `${NAME}` there follows the clock
                _unclocked(kept) in _unclocked(value) for kept in followed
            )
        ]
        if stamped:
            # One note for every value made from the clock outside a variable (`now = timestamp()` used in
            # every target's labels and tags is one construct, not one note per place).
            stamps = sorted({m.group(0) for _, v in stamped for m in _CLOCK_VALUE.finditer(v)})
            yield ImportNote(
                stamped[0][0],
                f"and {len(stamped) - 1} more values look made from the clock (timestamp()): frozen at "
                f"{', '.join(json.dumps(s) for s in stamps[:2])}{' …' if len(stamps) > 2 else ''}; import "
                "again to restamp, or make the time a variable in the bake file"
                if len(stamped) > 1
                else f"looks made from the clock (timestamp()): frozen at {json.dumps(stamped[0][1])}",
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


def _variable_notes(
    resolved: ResolvedBake, t: _Templating, kept: Sequence[ImportedTarget], used: Sequence[str]
) -> Iterable[ImportNote]:
    """One note, on one line, per variable bakepy.toml cannot follow everywhere bake does: such a variable is
    written frozen (`frozen = true`), so that render and publish refuse another value of it instead of
    ignoring it (issue 24, item 2)."""
    prefixes = tuple(f"target.{_path_key(target.name)}." for target in kept)
    computed = dict(resolved.computed)

    def visible(paths: Sequence[str]) -> list[str]:
        return [p for p in paths if p.startswith(prefixes)]

    for var in resolved.variables:
        name = var.name
        if name in BUILTIN_VARIABLES:
            continue
        value = t.values.get(name)
        problems: list[str] = []
        if name in computed:
            problems.append(f"bake computes with it ({computed[name]})")
        if name in t.shaped:
            problems.append(
                "some values of it change which targets, list entries or keys there are"
            )
        elif name in t.nontext:
            problems.append(
                f"it is a {var.type or 'bool or number'} that decides parts of the definition"
            )
        elif name in t.unprobed:
            problems.append("buildx took no probe value for it, so where it lands is unknown")
        frozen = visible(t.frozen.get(name, []))
        if frozen and name not in computed:
            problems.append(f"it reaches {_places(frozen)} through a function or condition")
        bends = visible(t.diverges.get(name, []))
        if bends and name not in computed:
            problems.append(f"bake also derives {_places(bends)} from it")
        if not problems:
            continue
        shown = "null" if value is None else json.dumps(value)
        shown = shown if len(shown) <= 60 else f"{shown[:57]}…"
        kept_as = f"kept as ${{{name}}} where it lands as is, but " if name in used else ""
        yield ImportNote(
            f"variable.{name}",
            f"frozen at {shown}: {kept_as}{'; '.join(problems)}; render and publish refuse another value "
            "(set it and import again)",
        )


def _places(paths: Sequence[str]) -> str:
    unique = list(dict.fromkeys(paths))
    return unique[0] + (f" and {len(unique) - 1} more" if len(unique) > 1 else "")


def with_remark(project: ImportedProject, remark: str) -> ImportedProject:
    """`project` with one more informational line for the header."""
    return replace(project, remarks=(*project.remarks, remark))
