"""`bakepy import`: turn existing bake definitions (HCL, JSON, compose) into a bakepy project.

This module owns the whole import, in three steps kept apart so that two of them run no process:

1. **resolve** (`resolve_bake`): ask buildx what the definitions mean. `bake --list=type=targets` names every
   target and group, `bake --print` gives their resolved attributes (variables, functions, matrix, inherits and
   override files all applied, exactly as bake applies them), and a few more `--print` runs with each variable
   set to a probe value show where that variable's value lands. Every docker call goes through `_buildx`, the
   one seam (`bakepy.runner.Runner.run` in the CLI; a replay of captured answers in the unit tests).
2. **convert** (`convert`): pure. The answers become an `ImportedProject`: every target with every attribute,
   every group with its resolved members, each variable kept as `${NAME}` wherever its value lands verbatim
   (so an environment override still works as in bake), and an `ImportNote` for anything bakepy cannot
   express, instead of dropping it silently.
3. **write** (`to_toml`, `to_python`): pure and deterministic text, with the notes as comments.

The promise checked by the round-trip tests: `docker buildx bake --print` of the original and of
`bakepy render` of the import are equal for every target and group.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from bakepy.errors import BakepyError, ConfigError, NothingToDoError, ToolMissingError

# -- what bakepy can express ------------------------------------------------------------------------------

#: Target attributes bakepy.toml accepts (the contract's list, minus `inherits`/`matrix`/`name`, which bake
#: has already applied by the time `--print` answers), in the order the writers emit them.
TARGET_ATTRIBUTES: tuple[str, ...] = (
    "description",
    "context",
    "contexts",
    "dockerfile",
    "dockerfile-inline",
    "target",
    "platforms",
    "tags",
    "args",
    "labels",
    "annotations",
    "attest",
    "cache-from",
    "cache-to",
    "output",
    "secret",
    "ssh",
    "pull",
    "no-cache",
    "no-cache-filter",
    "network",
    "shm-size",
    "ulimits",
    "entitlements",
    "extra-hosts",
    "call",
    "resources",
    "policy",
)

#: Attributes `bake --print` writes with `${` → `$${` and `%{` → `%%{` (buildx bake.Target.MarshalJSON).
_PRINT_ESCAPED = frozenset({"annotations", "dockerfile-inline", "labels", "args", "extra-hosts"})

#: Values bake fills in when a target sets none; the import leaves them out (bake adds them back).
BAKE_DEFAULTS: Mapping[str, str] = {"context": ".", "dockerfile": "Dockerfile"}

#: bake's own file discovery without -f (buildx bake.defaultFilenames), used only to name the sources.
DEFAULT_BAKE_FILES: tuple[str, ...] = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "docker-bake.json",
    "docker-bake.hcl",
    "docker-bake.override.json",
    "docker-bake.override.hcl",
)

#: bake's built-in variables: they cannot be overridden (not even with --var), so they cannot be probed.
BUILTIN_VARIABLES: tuple[str, ...] = ("BAKE_CMD_CONTEXT", "BAKE_LOCAL_PLATFORM")

# -- the model of an import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarRef:
    """A reference to a bakepy variable inside a string: `${NAME}` in bakepy.toml."""

    name: str


@dataclass(frozen=True)
class Template:
    """A string made of literal text and variable references, e.g. `acme/app:${TAG}`."""

    parts: tuple[str | VarRef, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.name for p in self.parts if isinstance(p, VarRef)))

    def resolve(self, values: Mapping[str, str]) -> str:
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)


#: An attribute value: JSON-like, where a string may be a `Template`.
Value: TypeAlias = str | Template | bool | int | float | list["Value"] | dict[str, "Value"]


@dataclass(frozen=True)
class ImportNote:
    """Something the import could not carry over exactly: `where` (a path like `target.app.tags[1]`,
    `variable.TAG`) and a sentence saying what happened to it."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ImportedVariable:
    name: str
    default: str
    description: str | None = None


@dataclass(frozen=True)
class ImportedTarget:
    name: str
    attributes: Mapping[str, Value]
    #: attributes bakepy cannot express, kept verbatim (as bake printed them) for a comment in the output.
    unsupported: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedGroup:
    name: str
    targets: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class ImportedProject:
    """The result of an import: what the writers turn into bakepy.toml or a Python module."""

    sources: tuple[str, ...]
    variables: tuple[ImportedVariable, ...]
    targets: tuple[ImportedTarget, ...]
    groups: tuple[ImportedGroup, ...]
    notes: tuple[ImportNote, ...]
    #: informational lines for the header (nothing lost): e.g. private targets folded into their children.
    remarks: tuple[str, ...] = ()


# -- step 1: ask buildx ------------------------------------------------------------------------------------


class BakeRunner(Protocol):
    """What the import needs from `bakepy.runner.Runner`: run `docker ARGS…` and return its stdout."""

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        error: type[BakepyError] = ...,
        input: bytes | None = None,
    ) -> str: ...


class _BuildxRejected(ConfigError):
    """Raised by the runner when buildx fails; `_buildx` turns it into one ConfigError for the user."""


@dataclass(frozen=True)
class BakeSource:
    """Where the definitions come from and how to evaluate them, as one would tell `docker buildx bake`."""

    files: tuple[str, ...] = ()  # in -f order; empty: bake's own discovery; "-" reads `stdin`
    variables: tuple[tuple[str, str], ...] = ()  # --var NAME=VALUE, in order
    targets: tuple[str, ...] = ()  # targets/groups/patterns to import; empty: all of them
    stdin: bytes | None = None
    # Only to name the discovered files and read their text: buildx itself runs in the process's cwd.
    cwd: Path | None = None

    def base_args(self) -> list[str]:
        args = ["buildx", "bake", "--progress=quiet"]
        for f in self.files:
            args += ["--file", f]
        for name, value in self.variables:
            args += ["--var", f"{name}={value}"]
        return args

    def describe(self) -> str:
        return ", ".join(self.files) if self.files else "the bake files in the current directory"


@dataclass(frozen=True)
class ListedName:
    name: str
    group: bool
    description: str | None = None


@dataclass(frozen=True)
class BakeVariable:
    """One entry of `bake --list=type=variables`: the value is the one in force (defaults, env, --var)."""

    name: str
    value: str | None
    description: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class Probe:
    """`bake --print` with some variables set to probe values; `printed` is None when buildx refused them."""

    assignment: tuple[tuple[str, str], ...]
    printed: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class ResolvedBake:
    """Everything buildx said, before any conversion: the input of the pure `convert`."""

    sources: tuple[str, ...]
    listing: tuple[ListedName, ...]
    # `--print` of every requested name: {"group": …, "target": …}
    printed: Mapping[str, Any]
    # The resolved members of the `default` group, when it is imported (None otherwise).
    default_group: tuple[str, ...] | None
    variables: tuple[BakeVariable, ...] = ()
    # One variable at a probe value each (`_probe_variables`), and every text variable at once.
    probes: tuple[Probe, ...] = ()
    combined: Probe | None = None
    builtins_used: tuple[str, ...] = ()
    requested: tuple[str, ...] = ()  # --targets, when given


def _last_error_line(text: str) -> str:
    """buildx's own message: the last `ERROR: …` line of its stderr (HCL errors come with a snippet above)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line[len("ERROR:") :].strip()
    for line in reversed(lines):
        if not line.startswith(("$ ", "-----", "#")) and not re.match(r"^\d+ \|", line):
            return line
    return ""


def _buildx(runner: BakeRunner, source: BakeSource, extra: Sequence[str], *, what: str) -> str:
    """Run one `docker buildx bake …` for the import: the only place this module starts a process.

    A failure becomes `_BuildxRejected` carrying buildx's message on one line; callers decide whether that
    is the user's error (the first calls) or an expected refusal (a probe value of the wrong type).
    """
    try:
        return runner.run(
            [*source.base_args(), *extra], what=what, error=_BuildxRejected, input=source.stdin
        )
    except _BuildxRejected as exc:
        raw = exc.detail or exc.message
        if "unknown flag: --list" in raw or "unknown flag: --var" in raw:
            flag = "--var" if "--var" in raw else "--list"
            raise ToolMissingError(
                f"this buildx is too old for bakepy import: it has no `bake {flag}`",
                hint="install buildx >= 0.31 (https://github.com/docker/buildx/releases)",
            ) from None
        raise _BuildxRejected(_last_error_line(raw) or exc.message) from None


def _user_error(
    source: BakeSource, exc: _BuildxRejected, listing: Sequence[ListedName] = ()
) -> ConfigError:
    """buildx refused the definitions: one line naming the file, buildx's message, and the fix."""
    msg = exc.message
    if msg.startswith("couldn't find a bake definition"):
        return ConfigError(
            "no bake definition found in the current directory "
            f"(bake looks for {', '.join(DEFAULT_BAKE_FILES)})",
            hint="name the files to import: bakepy import FILE [FILE...]",
        )
    found = re.match(r"failed to find target (\S+)", msg) or re.match(
        r'could not find any target matching "(.*)"', msg
    )
    if found:
        names = ", ".join(e.name for e in listing) or "none"
        return ConfigError(
            f"{source.describe()}: no target or group named {found.group(1)!r}",
            hint=f"the definitions have: {names}",
        )
    where = (
        ""
        if any(msg.startswith(f"{f}:") for f in source.files) or re.match(r"^\S+:\d+", msg)
        else (f"{source.describe()}: ")
    )
    return ConfigError(
        f"{where}{msg} (docker buildx bake)",
        hint="fix the bake definition (check it with `docker buildx bake --print`), then run bakepy import again",
    )


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} printed something that is not JSON: {exc}") from None


def _parse_listing(data: Any) -> tuple[ListedName, ...]:
    entries = data or []
    return tuple(
        ListedName(
            name=str(e["name"]), group=bool(e.get("group", False)), description=e.get("description")
        )
        for e in entries
    )


def _parse_variables(data: Any) -> tuple[BakeVariable, ...]:
    out = []
    for e in data or []:
        value = e.get("value")
        out.append(
            BakeVariable(
                name=str(e["name"]),
                value=None if value is None else str(value),
                description=e.get("description") or None,
                type=e.get("type") or None,
            )
        )
    return tuple(sorted(out, key=lambda v: v.name))


def sentinel(index: int) -> str:
    """A probe value for the variable at `index`: plain lowercase text valid anywhere (tags, paths, names).

    The trailing `x` keeps `bkpy1v…x` from being a prefix of `bkpy10v…x`.
    """
    return f"bkpy{index}vx"


def numeric_sentinel(index: int) -> str:
    """A probe value for a number variable (bake parses env/--var values to the default's type)."""
    return str(7_310_000 + index)


def resolve_bake(source: BakeSource, runner: BakeRunner) -> ResolvedBake:
    """Ask buildx about the definitions in `source` (step 1). Raises ConfigError for invalid definitions."""
    try:
        listing = _parse_listing(
            _json(
                _buildx(
                    runner,
                    source,
                    ["--list=type=targets,format=json"],
                    what="docker buildx bake --list",
                ),
                "docker buildx bake --list",
            )
        )
    except _BuildxRejected as exc:
        raise _user_error(source, exc) from None
    names = list(source.targets) or ["*"]
    if not listing and not source.targets:
        raise NothingToDoError(f"{source.describe()}: the bake definition has no targets")
    try:
        printed = _print(runner, source, names)
        if source.targets:
            # A target pulled in by a `target:NAME` context and not requested gets `output=cacheonly` from
            # bake; request it too, so it is imported as itself.
            linked = [t for t in sorted(printed.get("target", {})) if t not in names]
            if linked:
                names += linked
                printed = _print(runner, source, names)
        default_is_group = any(e.name == "default" and e.group for e in listing)
        wanted_default = (
            not source.targets or "default" in source.targets or _group_refers(printed, "default")
        )
        default_group: tuple[str, ...] | None = None
        if default_is_group and wanted_default:
            # bake adds every requested name to the `default` group it prints, so ask for it alone.
            only_default = _print(runner, source, ["default"])
            default_group = tuple(
                only_default.get("group", {}).get("default", {}).get("targets", [])
            )
        variables = _parse_variables(
            _json(
                _buildx(
                    runner,
                    source,
                    ["--list=type=variables,format=json"],
                    what="docker buildx bake --list",
                ),
                "docker buildx bake --list",
            )
        )
    except _BuildxRejected as exc:
        raise _user_error(source, exc, listing) from None

    probes, combined = _probe_variables(runner, source, names, printed, variables)
    return ResolvedBake(
        sources=source.files or _discovered(source.cwd),
        listing=listing,
        printed=printed,
        default_group=default_group,
        variables=variables,
        probes=probes,
        combined=combined,
        builtins_used=_builtins_used(source),
        requested=source.targets,
    )


def _print(runner: BakeRunner, source: BakeSource, names: Sequence[str]) -> dict[str, Any]:
    data = _json(
        _buildx(runner, source, ["--print", *names], what="docker buildx bake --print"),
        "bake --print",
    )
    if not isinstance(data, dict):
        raise ConfigError("docker buildx bake --print did not print a bake definition")
    return data


def _group_refers(printed: Mapping[str, Any], name: str) -> bool:
    groups = printed.get("group", {})
    return any(name in g.get("targets", []) for key, g in groups.items() if key != "default")


def _discovered(cwd: Path | None) -> tuple[str, ...]:
    """The files bake reads without -f: $BUILDX_BAKE_FILE's, else the default names present in `cwd`."""
    listed = os.environ.get("BUILDX_BAKE_FILE")
    if listed is not None:
        separator = os.environ.get("BUILDX_BAKE_PATH_SEPARATOR") or os.pathsep
        return tuple(f for f in listed.split(separator) if f)
    base = cwd or Path.cwd()
    return tuple(name for name in DEFAULT_BAKE_FILES if (base / name).is_file())


def _builtins_used(source: BakeSource) -> tuple[str, ...]:
    """bake's built-in variables cannot be probed, so look for their names in the source text instead."""
    texts: list[str] = []
    base = source.cwd or Path.cwd()
    for name in source.files or _discovered(source.cwd):
        if name == "-":
            texts.append((source.stdin or b"").decode(errors="replace"))
            continue
        try:
            texts.append((base / name).read_text(errors="replace"))
        except OSError:
            continue
    return tuple(b for b in BUILTIN_VARIABLES if any(b in text for text in texts))


def _probe_variables(
    runner: BakeRunner,
    source: BakeSource,
    names: Sequence[str],
    printed: Mapping[str, Any],
    variables: Sequence[BakeVariable],
) -> tuple[tuple[Probe, ...], Probe | None]:
    """Run `--print` with each variable set to probe values, then once with every text variable at once.

    For each variable: a sentinel (does its value land verbatim somewhere?), then the empty string (bake files
    often branch on `VAR != ""`). buildx refuses text for a number or bool variable, so those get a number
    sentinel, or the other boolean, which only tells whether the variable matters.
    """
    user_vars = dict(source.variables)
    probes: list[Probe] = []
    text_vars: dict[str, str] = {}
    baseline = _normalised_targets(printed)

    def run(assignment: Mapping[str, str]) -> Probe:
        merged = {**user_vars, **assignment}
        probe_source = BakeSource(
            files=source.files,
            variables=tuple(sorted(merged.items())),
            targets=source.targets,
            stdin=source.stdin,
            cwd=source.cwd,
        )
        key = tuple(sorted(assignment.items()))
        try:
            out = _print(runner, probe_source, names)
        except _BuildxRejected as exc:
            return Probe(key, None, exc.message)
        return Probe(key, out)

    for index, var in enumerate(variables):
        if var.value is None:
            # No value (null default): bake drops whatever uses it; a probe tells whether that matters.
            probe = run({var.name: sentinel(index)})
            probes.append(probe)
            continue
        attempts = [sentinel(index)]
        if _is_number(var.value):
            attempts.append(numeric_sentinel(index))
        if var.value in ("true", "false"):
            attempts.append("false" if var.value == "true" else "true")
        for value in attempts:
            probe = run({var.name: value})
            probes.append(probe)
            if probe.printed is not None:
                if value in (sentinel(index), numeric_sentinel(index)):
                    text_vars[var.name] = value
                    if value == sentinel(index) and var.value != "":
                        probes.append(run({var.name: ""}))
                break

    combined: Probe | None = None
    candidates = {
        name: value
        for name, value in text_vars.items()
        if _shape(baseline) == _shape(_probe_targets(probes, name, value))
    }
    if candidates:
        combined = run(candidates)
        if combined.printed is None or _shape(_normalised_targets(combined.printed)) != _shape(
            baseline
        ):
            combined = None
    return tuple(probes), combined


def _probe_targets(probes: Sequence[Probe], name: str, value: str) -> Mapping[str, Any] | None:
    for probe in probes:
        if probe.assignment == ((name, value),):
            return None if probe.printed is None else _normalised_targets(probe.printed)
    return None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


# -- step 2: convert (pure) --------------------------------------------------------------------------------


def unescape_print(value: str) -> str:
    """Undo `bake --print`'s escaping of literal `${`/`%{` (it writes `$${`/`%%{` in some attributes)."""
    return value.replace("$${", "${").replace("%%{", "%{")


def _policy_entry(raw: Any) -> Any:
    """`--print` dumps buildx's PolicyConfig Go struct; turn it into bake's own spelling of a policy."""
    if not isinstance(raw, dict) or "Files" not in raw:
        return raw
    out: dict[str, Any] = {}
    files = [f.get("Filename") for f in raw.get("Files") or [] if isinstance(f, dict)]
    if len(files) == 1:
        out["filename"] = files[0]
    elif files:
        out["filename"] = (
            files  # several files in one entry: not expressible, reported by `convert`
        )
    for key, field_name in (("reset", "Reset"), ("disabled", "Disabled")):
        if raw.get(field_name):
            out[key] = True
    if raw.get("Strict") is not None:
        out["strict"] = bool(raw["Strict"])
    if raw.get("LogLevel") is not None:
        out["log-level"] = str(raw["LogLevel"])
    return out


def _normalise_attribute(key: str, raw: Any) -> Any:
    """One attribute as bake printed it → plain values with literal text (no print escaping)."""
    if key == "policy" and isinstance(raw, list):
        return [_policy_entry(p) for p in raw]
    if key not in _PRINT_ESCAPED:
        return raw
    if isinstance(raw, str):
        return unescape_print(raw)
    if isinstance(raw, list):
        return [unescape_print(v) if isinstance(v, str) else v for v in raw]
    if isinstance(raw, dict):
        return {k: unescape_print(v) if isinstance(v, str) else v for k, v in raw.items()}
    return raw


def _normalised_targets(printed: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    targets = printed.get("target") or {}
    return {
        name: {key: _normalise_attribute(key, value) for key, value in (attrs or {}).items()}
        for name, attrs in targets.items()
    }


def _shape(value: Any) -> Any:
    """The structure of a value with its strings blanked: probes that keep the shape only change text."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str):
        return ""
    return value


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
    in_groups = {m for g in groups for m in g.targets}
    targets: list[ImportedTarget] = []
    skipped_private = []
    for name in sorted(baseline):
        if name.startswith("_") and name not in in_groups and name not in resolved.requested:
            skipped_private.append(name)
            continue
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
            converted = _convert_value(value, path, templating)
            if isinstance(converted, list) and key in _STRUCTURED:
                converted = [_structured_order(e) if isinstance(e, dict) else e for e in converted]
            attrs[key] = converted
        targets.append(ImportedTarget(name, attrs, unsupported))

    if skipped_private:
        remarks.append(
            "Private targets (names starting with '_') are folded into the targets that inherit them and not "
            f"imported on their own: {', '.join(skipped_private)}"
        )

    used = sorted({name for target in targets for name in _variables_in(target.attributes)})
    described = {v.name: v for v in resolved.variables}
    variables = tuple(
        ImportedVariable(name, templating.values[name], described[name].description)
        for name in used
    )
    notes.extend(_variable_notes(resolved, templating, targets, used))
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
        out.append(ImportedGroup(name, _members(g.get("targets")), g.get("description") or None))
    if resolved.default_group is not None:
        desc = next(
            (e.description for e in resolved.listing if e.name == "default" and e.group), None
        )
        # --list describes a group as "DESCRIPTION (members)"; keep only a real description.
        real = desc.rsplit(" (", 1)[0] if desc and desc.endswith(")") and " (" in desc else None
        out.append(ImportedGroup("default", _members(resolved.default_group), real))
        out.sort(key=lambda g: g.name)
    return out


def _members(targets: Iterable[str] | None) -> tuple[str, ...]:
    """A group's members, sorted: bake builds them together (a set), and its own order is not stable (the
    group of a matrix target lists the combinations in Go map order, which changes from run to run)."""
    return tuple(sorted(set(targets or ())))


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


def import_bake(source: BakeSource, runner: BakeRunner) -> ImportedProject:
    """Steps 1 and 2: ask buildx, then convert."""
    return convert(resolve_bake(source, runner))


# -- step 3: write (pure) ----------------------------------------------------------------------------------

LINE_LENGTH = 100


def escape_text(value: str) -> str:
    """A literal string as bakepy text: `${` is written `$${` and `%{` is written `%%{` (as in bake), since
    bakepy interpolates `${NAME}` in bakepy.toml and in the strings a bakefile.py passes to the model."""
    return value.replace("${", "$${").replace("%{", "%%{")


def template_text(value: str | Template) -> str:
    """A value as bakepy text: literal parts escaped, variable references as `${NAME}`."""
    if isinstance(value, str):
        return escape_text(value)
    return "".join(escape_text(p) if isinstance(p, str) else f"${{{p.name}}}" for p in value.parts)


def _comment_lines(text: str, *, prefix: str = "# ", width: int = LINE_LENGTH) -> list[str]:
    """`text` as comment lines of at most `width` characters (words longer than a line are kept whole)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(prefix) + len(line) + 1 + len(word) > width:
            lines.append(prefix + line)
            line = "  " + word if prefix.strip() else word
            continue
        line = f"{line} {word}" if line else word
    lines.append((prefix + line).rstrip())
    return lines


def _summary(project: ImportedProject, command: str) -> list[str]:
    sources = ", ".join(project.sources) or "the bake files of the current directory"
    return [
        f"Imported by `{command}` from {sources}.",
        "Resolved by `docker buildx bake --print`: inherits, matrix, functions and override files are applied, "
        "so each target lists all its attributes. A variable is kept as ${NAME} where its value lands as is; "
        "its default is its value at import.",
        *project.remarks,
    ]


def _notes_block(project: ImportedProject, prefix: str = "# ") -> list[str]:
    if not project.notes:
        return []
    lines = [
        f"{prefix}Not carried over exactly (bakepy import also printed these as warnings):".rstrip()
    ]
    for note in project.notes:
        lines += _comment_lines(f"- {note}", prefix=prefix)
    return lines


# TOML ------------------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's; DEL and C1 controls must be escaped too."""
    out = json.dumps(text, ensure_ascii=False)
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group(0)):04x}", out)


def _toml_block(text: str) -> str | None:
    """A multi-line literal string (for Dockerfiles), when `text` can be written as one exactly."""
    if (
        "\n" not in text
        or "'''" in text
        or text.endswith("'")
        or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    ):
        return None
    return "'''\n" + text + "'''"  # TOML drops the newline right after the opening '''


def _toml_inline(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str | Template):
        return toml_string(template_text(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    if not value:
        return "{}"
    return "{ " + ", ".join(f"{toml_key(k)} = {_toml_inline(v)}" for k, v in value.items()) + " }"


def _toml_pair(key: str, value: Value) -> list[str] | None:
    """`key = value` on one line if it fits, a list over several lines, or None for a long table."""
    inline = f"{toml_key(key)} = {_toml_inline(value)}"
    if isinstance(value, str | Template) and key == "dockerfile-inline":
        block = _toml_block(template_text(value))
        if block is not None:
            return [f"{toml_key(key)} = {block}"]
    if len(inline) <= LINE_LENGTH:
        return [inline]
    if isinstance(value, list):
        return [f"{toml_key(key)} = [", *(f"  {_toml_inline(v)}," for v in value), "]"]
    if isinstance(value, dict):
        return None  # TOML 1.0 inline tables are one line: the caller writes a sub-table
    return [inline]


def to_toml(project: ImportedProject) -> str:
    """bakepy.toml text for `project` (step 3): deterministic, every note as a comment."""
    lines: list[str] = []
    for paragraph in _summary(project, "bakepy import"):
        lines += _comment_lines(paragraph)
    lines += _notes_block(project)
    for var in project.variables:
        lines += [
            "",
            f"[variable.{toml_key(var.name)}]",
            f"default = {toml_string(escape_text(var.default))}",
        ]
        if var.description:
            lines.append(f"description = {toml_string(var.description)}")
    for target in project.targets:
        table = f"target.{toml_key(target.name)}"
        lines += ["", f"[{table}]"]
        for key, unsupported in target.unsupported.items():
            lines += _comment_lines(f"not imported: {key} = {json.dumps(unsupported)}")
        subtables: list[tuple[str, Mapping[str, Value]]] = []
        for key, value in target.attributes.items():
            pair = _toml_pair(key, value)
            if pair is None:
                assert isinstance(value, dict)
                subtables.append((key, value))
            else:
                lines += pair
        for key, mapping in subtables:
            lines += ["", f"[{table}.{toml_key(key)}]"]
            lines += [line for k, v in mapping.items() for line in (_toml_pair(k, v) or [])]
    for group in project.groups:
        lines += ["", f"[group.{toml_key(group.name)}]"]
        # bakepy takes group (and variable) descriptions literally: no escaping.
        if group.description:
            lines.append(f"description = {toml_string(group.description)}")
        lines += _toml_pair("targets", list(group.targets)) or []
    return "\n".join(lines) + "\n"


# Python ----------------------------------------------------------------------------------------------------
#
# The module is written the way `ruff format` (and black) would write it, so a project can keep it under
# its formatter unchanged: a call or collection stays on one line when it fits in LINE_LENGTH, otherwise it
# is exploded one item per line with a trailing comma (a "magic" trailing comma keeps it exploded).

#: The model class each entry of a structured attribute is written with.
_ENTRY_CLASS = {
    "attest": "Attestation",
    "cache-from": "CacheEntry",
    "cache-to": "CacheEntry",
    "output": "Output",
    "secret": "Secret",
    "ssh": "SSH",
    "ulimits": "Ulimit",
    "policy": "Policy",
    "resources": "Resources",
}
#: Keys an entry class takes as fields; the rest go in its `attrs` (bakepy.model._AttrEntry).
_ENTRY_FIELDS = {
    "Attestation": ("type", "disabled"),
    "CacheEntry": ("type",),
    "Output": ("type", "dest"),
}


@dataclass(frozen=True)
class _Call:
    name: str
    kwargs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Dict:
    items: tuple[tuple[str, Any], ...]
    explode: bool = False  # always one entry per line (the project's top-level tables)


@dataclass(frozen=True)
class _Tuple:
    items: tuple[Any, ...]


def _char_width(char: str) -> int:
    import unicodedata

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(c) for c in text) if not text.isascii() else len(text)


def py_string(text: str) -> str:
    """A Python string literal as ruff writes it: double quotes unless that needs more escapes."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def _py_inline(node: Any) -> str:
    if isinstance(node, _Call):
        return f"{node.name}(" + ", ".join(f"{k}={_py_inline(v)}" for k, v in node.kwargs) + ")"
    if isinstance(node, _Dict):
        return "{" + ", ".join(f"{py_string(k)}: {_py_inline(v)}" for k, v in node.items) + "}"
    if isinstance(node, _Tuple):
        if len(node.items) == 1:
            return f"({_py_inline(node.items[0])},)"
        return "(" + ", ".join(_py_inline(v) for v in node.items) + ")"
    if isinstance(node, bool):
        return "True" if node else "False"
    if isinstance(node, int | float):
        return repr(node)
    if isinstance(node, str):
        return py_string(node)
    raise TypeError(f"cannot write {node!r} as Python")


def _py_lines(
    node: Any, indent: int, prefix: str, suffix: str, *, explode: bool = False
) -> list[str]:
    """`prefix + node + suffix` at `indent`: one line if it fits (and need not explode), else exploded."""
    pad = " " * indent
    inline = f"{pad}{prefix}{_py_inline(node)}{suffix}"
    items: Sequence[Any]
    if isinstance(node, _Call):
        opening, closing, items = f"{node.name}(", ")", node.kwargs
    elif isinstance(node, _Dict):
        opening, closing, items = "{", "}", node.items
    elif isinstance(node, _Tuple):
        opening, closing, items = "(", ")", node.items
    else:
        return [inline]
    explode = explode or (isinstance(node, _Dict) and node.explode)
    if not items or (not explode and _width(inline) <= LINE_LENGTH):
        return [inline]
    lines = [f"{pad}{prefix}{opening}"]
    for item in items:
        if isinstance(node, _Call):
            key, value = item
            lines += _py_lines(value, indent + 4, f"{key}=", ",")
        elif isinstance(node, _Dict):
            key, value = item
            lines += _py_lines(value, indent + 4, f"{py_string(key)}: ", ",")
        else:
            lines += _py_lines(item, indent + 4, "", ",")
    lines.append(f"{pad}{closing}{suffix}")
    return lines


def _py_text(value: Value) -> Any:
    if isinstance(value, str | Template):
        return template_text(value)
    if isinstance(value, list):
        return _Tuple(tuple(_py_text(v) for v in value))
    if isinstance(value, dict):
        return _Dict(tuple((k, _py_text(v)) for k, v in value.items()))
    return value


def _py_entry(cls: str, entry: Value) -> Any:
    """One structured entry as its model class, e.g. CacheEntry(type="registry", attrs={"ref": "…"})."""
    if cls == "Ulimit" and isinstance(entry, str):
        match = re.fullmatch(r"([a-z]+)=(-?[0-9]+)(?::(-?[0-9]+))?", entry)
        if match is None:
            return template_text(entry)  # the model parses buildx's spelling too
        name, soft, hard = match.groups()
        kwargs: list[tuple[str, Any]] = [("name", name), ("soft", int(soft))]
        return _Call(cls, (*kwargs, *((("hard", int(hard)),) if hard is not None else ())))
    if not isinstance(entry, dict):
        return _py_text(entry)
    fields = _ENTRY_FIELDS.get(cls)
    kwargs = []
    attrs: list[tuple[str, Any]] = []
    for key, value in entry.items():
        if fields is None or key in fields:
            kwargs.append((key.replace("-", "_"), _py_text(value)))
        else:
            attrs.append((key, _py_text(value)))
    if attrs:
        kwargs.append(("attrs", _Dict(tuple(attrs))))
    return _Call(cls, tuple(kwargs))


def _py_attribute(key: str, value: Value) -> Any:
    cls = _ENTRY_CLASS.get(key)
    if cls is None:
        return _py_text(value)
    if isinstance(value, list):
        return _Tuple(tuple(_py_entry(cls, v) for v in value))
    return _py_entry(cls, value)


def _py_classes(node: Any) -> set[str]:
    """The model classes a node tree calls (what the module imports)."""
    if isinstance(node, _Call):
        return {node.name}.union(*(_py_classes(v) for _, v in node.kwargs))
    if isinstance(node, _Dict):
        return set().union(*(_py_classes(v) for _, v in node.items))
    if isinstance(node, _Tuple):
        return set().union(*(_py_classes(v) for v in node.items))
    return set()


def _py_project(project: ImportedProject) -> _Call:
    variables = tuple(
        (
            var.name,
            _Call(
                "Variable",
                (("default", escape_text(var.default)),)
                + ((("description", var.description),) if var.description else ()),
            ),
        )
        for var in project.variables
    )
    targets = tuple(
        (
            target.name,
            _Call(
                "Target",
                tuple(
                    (key.replace("-", "_"), _py_attribute(key, value))
                    for key, value in target.attributes.items()
                ),
            ),
        )
        for target in project.targets
    )
    groups = tuple(
        (
            group.name,
            _Call(
                "Group",
                (("targets", _Tuple(group.targets)),)
                + ((("description", group.description),) if group.description else ()),
            ),
        )
        for group in project.groups
    )
    kwargs = [
        (key, _Dict(items, explode=True))
        for key, items in (("variables", variables), ("targets", targets), ("groups", groups))
        if items
    ]
    return _Call("Project", tuple(kwargs))


def to_python(project: ImportedProject, *, module: str = "bakepy") -> str:
    """A bakefile.py for `project` (step 3): the model built with the public API, `ruff format` clean."""
    doc = ["bakepy project, the Python form of a bakepy.toml.", ""]
    for paragraph in _summary(project, "bakepy import --python"):
        safe = paragraph.replace("\\", "\\\\").replace('"""', '\\"""')
        doc += _comment_lines(safe, prefix="")
    lines = ['"""' + doc[0], *doc[1:], '"""', ""]
    tree = _py_project(project)
    # isort (ruff's I001) puts CONSTANT_CASE names (SSH) before CamelCase ones.
    classes = sorted(_py_classes(tree), key=lambda n: (not n.isupper(), n))
    one_line = f"from {module} import {', '.join(classes)}"
    if len(one_line) <= LINE_LENGTH:
        lines.append(one_line)
    else:
        lines += [f"from {module} import (", *(f"    {c}," for c in classes), ")"]
    lines.append("")
    comments = _notes_block(project)
    for target in project.targets:
        for key, value in target.unsupported.items():
            comments += _comment_lines(
                f"not imported: target {target.name}: {key} = {json.dumps(value)}"
            )
    lines += [*comments, ""] if comments else []
    lines += _py_lines(tree, 0, "project = ", "", explode=True)
    return "\n".join(lines) + "\n"


def write(project: ImportedProject, *, python: bool = False) -> str:
    """bakepy.toml text, or with `python` a bakefile.py."""
    return to_python(project) if python else to_toml(project)
