"""What `bake --print` answers, normalised: escapes undone, structured attributes in one shape, so a probe's
answer and the baseline compare key by key."""

from collections.abc import Mapping
from typing import Any

from bakepy.bake.importer.imported import _PRINT_ESCAPED


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


#: String lists bake normalises (buildx Target.normalize, removeDupesStr): "" entries dropped, repeats kept once.
_COLLAPSED = frozenset(
    {"annotations", "tags", "platforms", "no-cache-filter", "ulimits", "entitlements"}
)


def collapsed(targets: Mapping[str, Any]) -> dict[str, Any]:
    """`targets` as bake normalises them: in the string lists it dedupes, empty entries dropped and repeats
    kept once (`["org/app:${A}", "org/app:${B}"]` with A and B empty prints one `org/app:`)."""
    out: dict[str, Any] = {}
    for name, attrs in targets.items():
        fixed = dict(attrs)
        for key in _COLLAPSED & set(fixed):
            value = fixed[key]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                kept = [v for v in dict.fromkeys(value) if v != ""]
                if kept:
                    fixed[key] = kept
                else:
                    del fixed[key]  # bake omits an empty list
        out[name] = fixed
    return out


def substituted(value: Any, values: Mapping[str, str]) -> Any:
    """`value` with every probe value (a key of `values`) in its strings replaced by the value it stands for."""
    if isinstance(value, dict):
        return {k: substituted(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substituted(v, values) for v in value]
    if isinstance(value, str):
        for probe, real in values.items():
            value = value.replace(probe, real)
        return value
    return value


def expands_to(
    baseline: Mapping[str, Any], probed: Mapping[str, Any], values: Mapping[str, str]
) -> bool:
    """Whether `probed` (targets printed with probe values) is `baseline` with more list entries, which bake
    dropped or merged only because the values in force made them empty or equal (issue 24, item 15)."""
    return _shape(probed) != _shape(baseline) and collapsed(substituted(probed, values)) == baseline
