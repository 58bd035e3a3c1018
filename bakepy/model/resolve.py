"""Resolution, the way bake does it: `${VAR}` interpolation, `matrix` expansion with bake's naming, `inherits` merging."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from bakepy.model.base import _M, ModelError, _did_you_mean
from bakepy.model.explain import explain_error
from bakepy.model.interpolate import _NAME_RE, _TEMPLATE_RE, has_template, interpolate
from bakepy.model.platforms import platform_warning
from bakepy.model.targets import Group, Project, ProjectSettings, Target

# --------------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class ResolvedProject:
    """A project as bake would see it: only literal values, no matrix, no inherits."""

    settings: ProjectSettings
    targets: Mapping[str, Target]
    """Resolved targets in definition order (matrix targets in place of their definition)."""
    groups: Mapping[str, Group]
    """Groups, including one per matrix definition that expanded to other names (as bake adds)."""
    variables: Mapping[str, str | None]
    """The value of every variable."""
    origins: Mapping[str, str] = field(default_factory=dict)
    """Resolved target name -> the `[target.NAME]` it came from."""
    problems: Mapping[str, tuple[ModelError, ...]] = field(default_factory=dict)
    """Resolved target name (or "project") -> values that came out of variables and are not valid where they
    are used (a tag `repo:` from an empty TAG). bake prints them, so render does; plan and publish refuse."""
    source: str = "bakepy.toml"
    """The project file, for error messages."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """What buildx takes but looks wrong (an unknown platform variant), one line each, file and path first."""
        out = []
        for name, target in self.targets.items():
            where = f"{self.source}: target.{self.origins.get(name, name)}"
            for i, platform in enumerate(target.platforms):
                said = platform_warning(platform)
                if said:
                    out.append(f"{where}.platforms[{i}]: {said}")
            for i, entry in enumerate(target.cache_from):
                said = entry.ref_problem()
                if said:
                    out.append(
                        f"{where}.cache-from[{i}].ref: {said}; buildx skips this cache (with a warning) "
                        "and builds without it"
                    )
        return tuple(dict.fromkeys(out))

    def check(self, names: Sequence[str] = ()) -> None:
        """ConfigError for the first value of `names` (target names) or of `[project]` that is invalid after
        its variables were resolved: naming the file, the path, the variable and where its value came from."""
        from bakepy.errors import ConfigError

        for name in ("project", *names):
            for problem in self.problems.get(name, ()):
                raise ConfigError(
                    f"{self.source}: {problem}",
                    hint="set the variable (environment or --var) to a valid value, or change its default",
                )

    @property
    def default_targets(self) -> tuple[str, ...]:
        """What runs when no target is named: the `default` group, a `default` target, else every target but
        private ones (`_common`: names starting with `_`, the bases other targets inherit)."""
        if "default" in self.groups:
            return self.select(["default"])
        if "default" in self.targets:
            return ("default",)
        names = tuple(name for name in self.targets if not name.startswith("_")) or tuple(
            self.targets
        )
        if not any(name in self.groups for name in names):
            return names
        # render writes these as its `default` group, where a name that is also a group's is that group
        return self._members(names, {})

    def select(self, names: Sequence[str] = ()) -> tuple[str, ...]:
        """Expand target and group names to target names (in order, once each); ConfigError on unknown names.

        As bake resolves them (buildx's Config.ResolveGroup): a group before a target of the same name, and
        inside a group's expansion a name already being expanded is the target of that name."""
        from bakepy.errors import ConfigError

        if not names:
            return self.default_targets
        out: dict[str, None] = {}
        for name in names:
            if name == "default" and name not in self.groups and name not in self.targets:
                out.update(dict.fromkeys(self.default_targets))  # bake's own, as render writes it
                continue
            out.update(dict.fromkeys(self._group(name, {})))
        for name in out:
            if name not in self.targets:
                known = list(dict.fromkeys([*self.targets, *self.groups]))
                raise ConfigError(
                    f"unknown target or group {name!r}"
                    + (_did_you_mean(name, known) or f"; known: {', '.join(sorted(known))}")
                )
        return tuple(out)

    def _members(
        self, members: Sequence[str], seen: dict[str, tuple[str, ...] | None]
    ) -> tuple[str, ...]:
        """A group's `members` as targets: each expanded by `_group`, and a member that gives nothing (a group
        being expanded, or an empty one) taken as the target of that name, as bake does."""
        out: list[str] = []
        for member in members:
            out.extend(self._group(member, seen) or (member,))
        return tuple(dict.fromkeys(out))

    def _group(self, name: str, seen: dict[str, tuple[str, ...] | None]) -> tuple[str, ...]:
        """buildx's Config.group: a name is a group's before a target's; `seen` holds each group's targets once
        expanded, and None while it expands (it then gives nothing)."""
        if name in seen:
            return seen[name] or ()
        if name not in self.groups:
            return (name,)
        seen[name] = None
        seen[name] = self._members(self.groups[name].targets, seen)
        return seen[name] or ()

    def linked(self, name: str) -> tuple[str, ...]:
        """Targets linked as `target:NAME` contexts by `name`, transitively (bake builds them too)."""
        out: dict[str, None] = {}
        todo = [name]
        while todo:
            for value in self.targets[todo.pop()].contexts.values():
                if value.startswith("target:"):
                    linked = value[len("target:") :]
                    if linked not in out and linked != name:
                        out[linked] = None
                        todo.append(linked)
        return tuple(out)

    def image(self, name: str) -> str:
        """The repository path a target publishes under each registry."""
        return self.targets[name].image or name


# bake's Target.Merge: how an inheriting target combines each attribute with its parents'.
_REPLACE = [
    "description",
    "context",
    "dockerfile",
    "dockerfile_inline",
    "target",
    "call",
    "pull",
    "no_cache",
    "network",
    "shm_size",
    "image",
    "sources",
    "annotate",
    "publish",
    "metadata",
    "rebuild",
    "tags",
    "platforms",
    "cache_to",
    "output",
]
_MAP_SKIP_NONE = ("args", "labels", "extra_hosts")
_APPEND = ("annotations", "no_cache_filter", "ulimits", "entitlements", "policy")


def _identity(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return json.dumps(item.model_dump(), sort_keys=True)
    return item


def _dedupe(items: Iterable[Any], key: Callable[[Any], Any] = _identity) -> tuple[Any, ...]:
    """Keep the first position of each key, holding the last value given for it (bake's removeDupes)."""
    out: dict[Any, Any] = {}
    for item in items:
        out[key(item)] = item
    return tuple(out.values())


def _merge(fields: dict[str, Any], child: Target) -> None:
    for name in child.model_fields_set:
        value = getattr(child, name)
        if name in _REPLACE:
            if name == "description" and not value:
                continue
            fields[name] = value
        elif name in _MAP_SKIP_NONE or name == "contexts":
            merged = dict(fields.get(name) or {})
            merged.update({k: v for k, v in value.items() if v is not None})
            fields[name] = merged
        elif name in _APPEND or name in ("attest", "secret", "ssh", "cache_from"):
            fields[name] = (*fields.get(name, ()), *value)
        elif name == "resources":
            fields[name] = fields[name].merged(value) if fields.get(name) else value


def _normalize(fields: dict[str, Any]) -> None:
    """bake's Target.normalize: drop duplicates, add network.host for `network = "host"`."""
    for name in (
        "annotations",
        "tags",
        "platforms",
        "no_cache_filter",
        "cache_from",
        "cache_to",
        "output",
    ):
        if name in fields:
            fields[name] = _dedupe(fields[name])
    if "attest" in fields:
        fields["attest"] = _dedupe(fields["attest"], lambda a: a.type)
    if "secret" in fields:
        fields["secret"] = _dedupe(fields["secret"], lambda s: s.id)
    if "ssh" in fields:
        fields["ssh"] = _dedupe(fields["ssh"], lambda s: s.id)
    if "ulimits" in fields:
        fields["ulimits"] = _dedupe(fields["ulimits"], lambda u: u.name)
    if fields.get("network") == "host":
        fields["entitlements"] = (*fields.get("entitlements", ()), "network.host")
    if "entitlements" in fields:
        fields["entitlements"] = _dedupe(fields["entitlements"])
    for name in ("args", "labels", "extra_hosts"):
        if name in fields:
            fields[name] = {k: v for k, v in fields[name].items() if v is not None}
    if "contexts" in fields:
        fields["contexts"] = {k: v for k, v in fields["contexts"].items() if v}
    fields["context"] = fields.get("context") or "."
    fields["dockerfile"] = fields.get("dockerfile") or "Dockerfile"


def _walk_interpolate(value: Any, lookup: Callable[[str], str], path: tuple[str | int, ...]) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value, lookup)
        except ValueError as exc:
            raise ModelError(str(exc), path) from None
    if isinstance(value, Mapping):
        return {k: _walk_interpolate(v, lookup, (*path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk_interpolate(v, lookup, (*path, i)) for i, v in enumerate(value)]
    return value


def _contains_template(value: Any) -> bool:
    if isinstance(value, str):
        return has_template(value)
    if isinstance(value, Mapping):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_template(v) for v in value)
    return False


def _drop_empty(raw: dict[str, Any]) -> dict[str, Any]:
    """bake drops list entries that interpolate to "" (`tags = ["${TAG}"]` with TAG="" is no tag)."""
    return {
        k: [v for v in value if v != ""] if isinstance(value, list) and k != "matrix" else value
        for k, value in raw.items()
    }


def _at(value: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        if isinstance(value, (list, tuple)):
            value = value[part] if isinstance(part, int) and part < len(value) else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
    return value


class _Resolver:
    def __init__(self, project: Project, env: Mapping[str, str]) -> None:
        self.project = project
        self.env = env
        self.values: dict[str, str | None] = {}
        self.problems: dict[str, list[ModelError]] = {}

    def _origin(self, name: str) -> str:
        """Where a variable's value came from, for error messages."""
        if name in self.env:
            return f"from the environment variable {name}"
        return f"the default of variable.{name}"

    def _explain(self, template: Any) -> str:
        """`; it is 'repo:${TAG}' with TAG = "" (the default of variable.TAG)` for a value built from variables."""
        if not isinstance(template, str) or "${" not in template:
            return ""
        names = [
            m.group(1).strip()
            for m in _TEMPLATE_RE.finditer(template)
            if m.group(1) and m.group(1).strip() in self.project.variables
        ]
        said = ", ".join(
            f"{n} = {json.dumps(self.values.get(n))} ({self._origin(n)})"
            for n in dict.fromkeys(names)
        )
        return f"; it is {template!r} with {said}" if said else f"; it is {template!r}"

    def _revalidate(
        self,
        model: type[_M],
        raw: Mapping[str, Any],
        base: tuple[str | int, ...],
        template: Mapping[str, Any],
        owner: str,
    ) -> _M:
        """Validate interpolated values. What a variable made invalid is recorded for plan/publish to refuse
        (bake prints it, so render writes it); what was invalid as written is an error now."""
        try:
            return model.model_validate(raw, context=_LITERAL)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc, message = explain_error(err, model)
            try:
                value = model.model_validate(raw, context=_LENIENT)
            except ValidationError:
                raise ModelError(message, (*base, *loc)) from None
            problem = ModelError(message + self._explain(_at(template, loc)), (*base, *loc))
            self.problems.setdefault(owner, []).append(problem)
            return value

    # variables
    def variable(self, name: str, stack: tuple[str, ...] = ()) -> str:
        variables = self.project.variables
        if name not in variables:
            raise ValueError(
                f"unknown variable {name!r} in '${{{name}}}'"
                + (_did_you_mean(name, variables) or f"; declare it in [variable.{name}]")
            )
        if name in self.values:
            value = self.values[name]
        else:
            if name in stack:
                raise ValueError(
                    f"variable {name!r} refers to itself through {' -> '.join((*stack, name))}"
                )
            if name in self.env:
                value = self.env[name]  # bake takes environment values literally
                if variables[name].frozen:
                    self._refuse_frozen(name, value, stack)
            else:
                default = variables[name].default
                try:
                    value = (
                        None
                        if default is None
                        else interpolate(default, lambda n: self.variable(n, (*stack, name)))
                    )
                except ModelError:
                    raise
                except ValueError as exc:
                    raise ModelError(
                        str(exc), ("variable", stack[0] if stack else name, "default")
                    ) from None
            self.values[name] = value
        if value is None:
            raise ValueError(
                f"variable {name!r} has no value; set {name} in the environment or give it a default"
            )
        return value

    def _refuse_frozen(self, name: str, value: str, stack: tuple[str, ...]) -> None:
        """An imported variable the bake file computes with (issue 24, item 2): another value would be
        ignored where bake would use it, so it is refused."""
        default = self.project.variables[name].default
        try:
            fixed = (
                None
                if default is None
                else interpolate(default, lambda n: self.variable(n, (*stack, name)))
            )
        except ValueError:
            fixed = default
        if value == fixed:
            return
        raise ModelError(
            f"{name}={json.dumps(value)} is set, but {name} is frozen at {json.dumps(fixed)}: the bake file it "
            "was imported from computes with it (a condition or a function), which this file cannot; "
            f"import the bake file again with {name} set (bakepy import --force), or as Python "
            "(bakepy import --python), which computes with it where the bake file's code translates",
            ("variable", name),
        )

    def resolve(self) -> ResolvedProject:
        project = self.project
        for name in project.variables:
            try:
                self.variable(name)
            except ModelError:
                raise
            except ValueError as exc:
                if "has no value" not in str(exc):
                    raise ModelError(str(exc), ("variable", name, "default")) from None
        settings = self._settings()
        partial: dict[str, Target] = {}
        origins: dict[str, str] = {}
        matrix_groups: dict[str, Group] = {}
        for label, definition in project.targets.items():
            names = []
            for name, target in self._expand(label, definition):
                where = (
                    ("target", label, "name")
                    if definition.matrix is not None
                    else ("target", label)
                )
                if name in partial:
                    key = next(iter(definition.matrix or ()), "key")
                    raise ModelError(
                        f'matrix name {name!r} repeats; put a matrix variable in `name`, e.g. name = "{label}-${{{key}}}"'
                        if origins[name] == label
                        else f"target {name!r} is defined twice (by {origins[name]!r} and {label!r})",
                        where,
                    )
                if definition.matrix is not None and (
                    name in project.groups or (name != label and name in project.targets)
                ):
                    raise ModelError(
                        f"matrix target {name!r} clashes with the {('group' if name in project.groups else 'target')} of that name",
                        where,
                    )
                partial[name] = target
                origins[name] = label
                names.append(name)
            if names != [label]:
                if label in project.groups:
                    raise ModelError(
                        f"matrix target {label!r} clashes with the group of that name",
                        ("group", label),
                    )
                matrix_groups[label] = Group.model_construct(targets=tuple(names))
        targets = {name: self._inherit(name, partial, origins, ()) for name in partial}
        resolved: dict[str, Target] = {}
        for name, fields in targets.items():
            if not fields.get("platforms") and settings.platforms:
                fields["platforms"] = settings.platforms
            _normalize(fields)
            fields.pop("inherits", None)
            fields.pop("matrix", None)
            fields.pop("name", None)
            resolved[name] = Target.model_construct(_fields_set=set(fields), **fields)
        groups = {**project.groups, **matrix_groups}
        self._check_groups(groups, resolved)
        self._check_links(resolved, origins)
        problems = {name: tuple(self._owned(name, partial)) for name in resolved}
        problems["project"] = tuple(self.problems.get("project", ()))
        return ResolvedProject(
            settings=settings,
            targets=resolved,
            groups=groups,
            variables=dict(self.values),
            origins=origins,
            problems={k: v for k, v in problems.items() if v},
        )

    def _owned(self, name: str, partial: Mapping[str, Target]) -> list[ModelError]:
        """Problems of `name`, and of the targets it inherits from in the attributes it does not set itself."""
        out = list(self.problems.get(name, ()))
        target = partial[name]
        for parent in target.inherits:
            if parent in partial and parent != name:
                out += [
                    p
                    for p in self._owned(parent, partial)
                    if str(p.path[2]).replace("-", "_") not in target.model_fields_set
                ]
        return out

    def _settings(self) -> ProjectSettings:
        settings = self.project.settings
        raw = settings.model_dump(by_alias=True, exclude_unset=True)
        if not _contains_template(raw):
            return settings
        resolved = _walk_interpolate(raw, self.variable, ("project",))
        return self._revalidate(ProjectSettings, resolved, ("project",), raw, "project")

    def _expand(self, label: str, definition: Target) -> Iterator[tuple[str, Target]]:
        raw = definition.model_dump(by_alias=True, exclude_unset=True, exclude={"matrix", "name"})
        base = ("target", label)
        if definition.matrix is None:
            if not _contains_template(raw):
                yield label, definition
                return
            resolved = _drop_empty(_walk_interpolate(raw, self.variable, base))
            yield label, self._revalidate(Target, resolved, base, raw, label)
            return
        matrix = {
            key: [
                _walk_interpolate(v, self.variable, (*base, "matrix", key, i))
                for i, v in enumerate(values)
            ]
            for key, values in definition.matrix.items()
        }
        combos: list[dict[str, Any]] = [{}]
        for key, values in matrix.items():  # first key varies slowest
            combos = [{**c, key: v} for c in combos for v in values]
        if definition.name is None and len(combos) > 1:
            first = next(iter(matrix))
            raise ModelError(
                f'a matrix of {len(combos)} combinations needs a `name` template, e.g. name = "{label}-${{{first}}}"',
                (*base, "matrix"),
            )
        for combo in combos:

            def lookup(expr: str, combo: dict[str, Any] = combo) -> str:
                head, _, rest = expr.partition(".")
                if head in combo:
                    value = combo[head]
                    if isinstance(value, dict):
                        if not rest:
                            raise ValueError(
                                f"matrix value '${{{head}}}' is a table; pick a key: {', '.join(f'${{{head}.{k}}}' for k in value)}"
                            )
                        if rest not in value:
                            raise ValueError(
                                f"matrix value {head!r} has no key {rest!r}"
                                + _did_you_mean(rest, value)
                            )
                        return str(value[rest])
                    if rest:
                        raise ValueError(
                            f"matrix value '${{{head}}}' is a string; it has no key {rest!r}"
                        )
                    return str(value)
                if rest:
                    raise ValueError(
                        f"unknown matrix variable {head!r} in '${{{expr}}}'"
                        + _did_you_mean(head, combo)
                    )
                try:
                    return self.variable(expr)
                except ValueError as exc:
                    hint = _did_you_mean(expr, [*combo, *self.project.variables])
                    raise ValueError(
                        f"unknown variable {expr!r} in '${{{expr}}}'{hint or f'; declare it in [variable.{expr}] or the matrix'}"
                    ) from exc

            if definition.name is None:
                name = label
            else:
                try:
                    name = interpolate(definition.name, lookup)
                except ValueError as exc:
                    raise ModelError(str(exc), (*base, "name")) from None
                if not _NAME_RE.fullmatch(name):
                    raise ModelError(
                        f"matrix target name {name!r} may hold only letters, digits, '_' and '-'; "
                        'use a matrix table with a name-safe key, e.g. {id = "312", version = "3.12"}',
                        (*base, "name"),
                    )
            resolved = _drop_empty(_walk_interpolate(raw, lookup, base))
            yield name, self._revalidate(Target, resolved, base, raw, name)

    def _inherit(
        self,
        name: str,
        partial: Mapping[str, Target],
        origins: Mapping[str, str],
        stack: tuple[str, ...],
    ) -> dict[str, Any]:
        target = partial[name]
        fields: dict[str, Any] = {}
        for i, parent in enumerate(target.inherits):
            where = ("target", origins[name], "inherits", i)
            if parent in stack or parent == name:
                cycle = " -> ".join((*stack, name, parent))
                raise ModelError(f"inherits cycle: {cycle}; remove one of these inherits", where)
            if parent not in partial:
                if parent in self.project.groups:
                    raise ModelError(f"{parent!r} is a group; inherits takes targets", where)
                raise ModelError(
                    f"unknown target {parent!r}"
                    + (_did_you_mean(parent, partial) or f"; known targets: {', '.join(partial)}"),
                    where,
                )
            parent_fields = self._inherit(parent, partial, origins, (*stack, name))
            _merge(fields, Target.model_construct(_fields_set=set(parent_fields), **parent_fields))
        _merge(fields, target)
        return fields

    def _check_groups(self, groups: Mapping[str, Group], targets: Mapping[str, Target]) -> None:
        for name, group in groups.items():
            for i, member in enumerate(group.targets):
                if member not in targets and member not in groups:
                    known = [*targets, *groups]
                    raise ModelError(
                        f"unknown target or group {member!r}"
                        + (_did_you_mean(member, known) or f"; known: {', '.join(known)}"),
                        ("group", name, "targets", i),
                    )

        def visit(name: str, stack: tuple[str, ...]) -> None:
            for i, member in enumerate(groups[name].targets):
                if member in groups:
                    if member in stack or member == name:
                        if member in targets:
                            continue  # bake's rule: a group's own name inside it is the target
                        raise ModelError(
                            f"groups contain each other: {' -> '.join((*stack, name, member))}",
                            ("group", name, "targets", i),
                        )
                    visit(member, (*stack, name))

        for name in groups:
            visit(name, ())

    def _check_links(self, targets: Mapping[str, Target], origins: Mapping[str, str]) -> None:
        for name, target in targets.items():
            for key, value in target.contexts.items():
                if not value.startswith("target:"):
                    continue
                linked = value[len("target:") :]
                where = ("target", origins[name], "contexts", key)
                if linked == name:
                    raise ModelError(f"target {name!r} cannot use itself as a context", where)
                if linked not in targets:
                    raise ModelError(
                        f"unknown target {linked!r}" + _did_you_mean(linked, targets), where
                    )

        def visit(name: str, stack: tuple[str, ...]) -> None:
            for key, value in targets[name].contexts.items():
                if value.startswith("target:"):
                    linked = value[len("target:") :]
                    if linked in stack:
                        raise ModelError(
                            f"context loop: {' -> '.join((*stack, name, linked))}",
                            ("target", origins[name], "contexts", key),
                        )
                    visit(linked, (*stack, name))

        for name in targets:
            visit(name, ())


_LITERAL = {"literal": True}
_LENIENT = {"literal": True, "lenient": True}
