"""`--set` overrides written into a rendered bake file, as `docker buildx bake --set` applies them. Pure.

`bakepy render --set app.args.V=2` writes the file that `docker buildx bake -f rendered.json --set app.args.V=2`
would build, so the file carries the override (tests/e2e compare both `--print`s). Structured values (cache,
output, attest, secret, ssh) are parsed with the model's classes, so a bad one is a one-line error here rather
than at build time, and they are written in the object form bake prints.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from bakepy.bake.render import _escaped
from bakepy.errors import ConfigError
from bakepy.model import SSH, Attestation, CacheEntry, Output, Secret, Ulimit
from bakepy.model.base import _did_you_mean

__all__ = ["SET_ATTRIBUTES", "apply_sets"]

_STRINGS = {"context", "dockerfile", "target", "network", "shm-size", "call", "description"}
_MAPS = {"args", "contexts", "labels", "extra-hosts"}
_BOOLS = {"no-cache", "pull"}
#: list attributes: the --set key, the bake key, the model class an entry is parsed with (None: a string)
_LISTS: dict[str, tuple[str, Any]] = {
    "tags": ("tags", None),
    "platform": ("platforms", None),
    "entitlements": ("entitlements", None),
    "annotations": ("annotations", None),
    "no-cache-filter": ("no-cache-filter", None),
    "cache-from": ("cache-from", CacheEntry),
    "cache-to": ("cache-to", CacheEntry),
    "output": ("output", Output),
    "attest": ("attest", Attestation),
    "secrets": ("secret", Secret),
    "ssh": ("ssh", SSH),
    "ulimits": ("ulimits", Ulimit),
}
SET_ATTRIBUTES = tuple(sorted({*_STRINGS, *_MAPS, *_BOOLS, *_LISTS}))
"""The attributes `bakepy render --set` writes (buildx's --set keys: `platform`, `secrets`, `args.NAME`...)."""


def _parse(value: str) -> tuple[str, str, str | None, str, bool]:
    """'app.args.V+=2' -> (pattern, attribute, subkey, value, append)."""
    key, eq, text = value.partition("=")
    append = key.endswith("+")
    key = key.removesuffix("+")
    parts = key.split(".", 2)
    if not eq or len(parts) < 2 or not parts[0]:
        raise ConfigError(
            f"--set {value!r}: write TARGET.ATTRIBUTE=VALUE, e.g. '*.args.VERSION=1.2'"
        )
    pattern, attribute = parts[0], parts[1]
    sub = parts[2] if len(parts) == 3 else None
    if attribute not in SET_ATTRIBUTES:
        raise ConfigError(
            f"--set {value!r}: bake has no {attribute!r} to set"
            + (
                _did_you_mean(attribute, SET_ATTRIBUTES)
                or f" (it sets {', '.join(SET_ATTRIBUTES)})"
            )
        )
    if (attribute in _MAPS) != (sub is not None):
        shape = f"{attribute}.NAME=VALUE" if attribute in _MAPS else f"{attribute}=VALUE"
        raise ConfigError(f"--set {value!r}: write {pattern}.{shape}")
    return pattern, attribute, sub, text, append


def _entry(cls: Any, text: str, where: str) -> Any:
    if cls is None:
        return text
    from pydantic import ValidationError

    from bakepy.model.base import format_path
    from bakepy.model.explain import explain_error

    try:
        return cls.model_validate(text).bake_value()
    except ValidationError as exc:
        path, message = explain_error(exc.errors()[0], cls)
        at = f"{format_path(path)}: " if path else ""
        raise ConfigError(f"--set {where}: {at}{message}") from None


def apply_sets(bake: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """`bake` (render's output) with each `--set` applied in order to every target its pattern
    matches (a glob such as `*`, a target name, or a group's name for its targets); a pattern that matches
    nothing is an error, as in bake."""
    targets: dict[str, dict[str, Any]] = {k: dict(v) for k, v in bake.get("target", {}).items()}
    groups: Mapping[str, Any] = bake.get("group", {})
    # bake collects repeated keys: `--set app.tags=a --set app.tags=b` gives both tags
    seen: dict[tuple[str, str], bool] = {}
    for raw in sets:
        pattern, attribute, sub, text, append = _parse(raw)
        names = [n for n in targets if fnmatch.fnmatchcase(n, pattern)]
        if not names and pattern in groups:
            names = [n for n in groups[pattern].get("targets", []) if n in targets]
        if not names:
            raise ConfigError(
                f"--set {raw!r}: no target matches {pattern!r}"
                + (_did_you_mean(pattern, targets) or f" (targets: {', '.join(targets)})")
            )
        for name in names:
            body = targets[name]
            if attribute in _STRINGS:
                body[attribute] = _escaped(
                    text
                )  # a --set value is literal; bake reads the file's ${
            elif attribute in _BOOLS:
                body[attribute] = text.lower() in ("1", "true", "t")
            elif attribute in _MAPS:
                assert sub is not None
                body[attribute] = {**body.get(attribute, {}), sub: _escaped(text)}
            else:
                key, cls = _LISTS[attribute]
                entry = _escaped(_entry(cls, text, repr(raw)))
                again = seen.get((name, attribute), False)
                body[key] = [*body.get(key, []), entry] if append or again else [entry]
                seen[(name, attribute)] = True
    return {**bake, "target": targets}
