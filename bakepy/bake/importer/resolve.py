"""Import step 1: ask buildx what the definitions mean.

`bake --list=type=targets` names every target and group, `bake --print` gives their resolved attributes
(variables, functions, matrix, inherits and override files all applied, exactly as bake applies them), and a few
more `--print` runs with each variable set to a probe value show where that variable's value lands. Every docker
call goes through `_buildx`, the one seam (`bakepy.engine.runner.Runner.run` in the CLI; a replay of captured
answers in the unit tests)."""

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bakepy.bake.importer.hclrefs import variable_use
from bakepy.bake.importer.hcltext import matrix_keys
from bakepy.bake.importer.imported import BUILTIN_VARIABLES, Template
from bakepy.bake.importer.printed import _normalised_targets, _shape, expands_to
from bakepy.bake.render import DEFAULT_BAKE_FILES  # bake's own discovery: only to name the sources
from bakepy.errors import BakepyError, ConfigError, NothingToDoError, ToolMissingError

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
    written_groups: tuple[str, ...] | None = (
        None  # groups the files define (None: unknown, keep bake's order)
    )
    # Targets whose matrix has one key in the files (bakepy.bake.importer.hcltext): their groups keep bake's order.
    one_key_matrices: tuple[str, ...] = ()
    # Compose files whose variables are applied at import (`_compose_with_variables`).
    compose_variables: tuple[str, ...] = ()
    clock_used: bool = False  # the files call timestamp(): its value is the time of the import
    # Variables whose value at import came from the environment (not from the files or --var).
    from_environment: tuple[str, ...] = ()
    # Variables bake computes with (a condition, a function argument, …), each with the first such construct
    # found in the files' text (bakepy.bake.importer.hclrefs), and variable defaults that are only text and
    # other variables (`"${REPO}:${TAG}"`).
    computed: tuple[tuple[str, str], ...] = ()
    derived: tuple[tuple[str, Template], ...] = ()


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
    if not any(not entry.group for entry in listing) and not source.targets:
        # nothing at all, or only bake's own `default` group (a compose file whose services build nothing)
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
                ((only_default.get("group") or {}).get("default") or {}).get("targets") or []
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
    texts = source_texts(source)
    use = variable_use(texts, [v.name for v in variables])
    return ResolvedBake(
        sources=source.files or _discovered(source.cwd),
        listing=listing,
        printed=printed,
        default_group=default_group,
        variables=variables,
        probes=probes,
        combined=combined,
        builtins_used=_builtins_used(texts),
        written_groups=_written_groups(texts),
        one_key_matrices=_one_key_matrices(texts),
        compose_variables=_compose_with_variables(texts, source.cwd or Path.cwd()),
        clock_used=any(_CLOCK.search(text) for text in texts.values()),
        from_environment=tuple(
            v.name
            for v in variables
            if v.name in os.environ and v.name not in dict(source.variables)
        ),
        requested=source.targets,
        computed=tuple(sorted(use.computed.items())),
        derived=tuple(sorted(use.derived.items())),
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
    groups = printed.get("group") or {}
    return any(name in (g.get("targets") or []) for key, g in groups.items() if key != "default")


def _discovered(cwd: Path | None) -> tuple[str, ...]:
    """The files bake reads without -f: $BUILDX_BAKE_FILE's, else the default names present in `cwd`."""
    listed = os.environ.get("BUILDX_BAKE_FILE")
    if listed is not None:
        separator = os.environ.get("BUILDX_BAKE_PATH_SEPARATOR") or os.pathsep
        return tuple(f for f in listed.split(separator) if f)
    base = cwd or Path.cwd()
    return tuple(name for name in DEFAULT_BAKE_FILES if (base / name).is_file())


def _builtins_used(texts: Mapping[str, str]) -> tuple[str, ...]:
    """bake's built-in variables cannot be probed, so look for their names in the source text instead."""
    return tuple(b for b in BUILTIN_VARIABLES if any(b in text for text in texts.values()))


_CLOCK = re.compile(r"\btimestamp\s*\(\s*\)")
_HCL_GROUP = re.compile(r'(?m)^\s*group\s+"?([A-Za-z0-9_.-]+)"?\s*\{')


def _written_groups(texts: Mapping[str, str]) -> tuple[str, ...]:
    """Groups the files define themselves (HCL `group "x" {`, JSON `"group": {"x": …}`), as opposed to the
    group bake makes of a matrix target, whose member order is Go map order (it changes between runs)."""
    out: dict[str, None] = {}
    for text in texts.values():
        out.update(dict.fromkeys(_HCL_GROUP.findall(text)))
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("group"), dict):
            out.update(dict.fromkeys(str(k) for k in data["group"]))
    return tuple(out)


def source_texts(source: BakeSource) -> dict[str, str]:
    """Each bake file's name (as given, `-` for stdin) → its text, read once per import; files that cannot be
    read are left out."""
    texts: dict[str, str] = {}
    base = source.cwd or Path.cwd()
    for name in source.files or _discovered(source.cwd):
        if name == "-":
            texts[name] = (source.stdin or b"").decode(errors="replace")
            continue
        try:
            texts[name] = (base / name).read_text(errors="replace")
        except OSError:
            continue
    return texts


_COMPOSE_VARIABLE = re.compile(r"\$\{?[A-Za-z_]")


def _compose_with_variables(texts: Mapping[str, str], base: Path) -> tuple[str, ...]:
    """Compose files that read variables (`${TAG:-latest}`, or a `.env` beside them, `base` the directory the
    names are relative to): bake lists no variables for a compose file, so their values are applied at import
    and cannot be kept as `${NAME}`."""
    return tuple(
        name
        for name, text in texts.items()
        if name.endswith((".yml", ".yaml"))
        and (_COMPOSE_VARIABLE.search(text) or (base / name).parent.joinpath(".env").is_file())
    )


def _one_key_matrices(texts: Mapping[str, str]) -> tuple[str, ...]:
    """Targets whose matrix the files write with one key: bake lists the group it makes in written order."""
    return tuple(name for name, keys in matrix_keys(texts).items() if keys == 1)


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
    values = {v.name: v.value for v in variables if v.value is not None}

    def keeps_shape(assignment: Mapping[str, str], probed: Mapping[str, Any] | None) -> bool:
        # The same shape, or more entries in a list only because the values in force make some of them
        # empty or equal, which bake then drops (`org/app:${VERSION}` and `org/app:${CHANNEL}`, both "").
        if probed is None:
            return False
        back = {probe: values[name] for name, probe in assignment.items()}
        return _shape(baseline) == _shape(probed) or expands_to(baseline, probed, back)

    candidates = {
        name: value
        for name, value in text_vars.items()
        if keeps_shape({name: value}, _probe_targets(probes, name, value))
    }
    if candidates:
        combined = run(candidates)
        if combined.printed is None or not keeps_shape(
            candidates, _normalised_targets(combined.printed)
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
