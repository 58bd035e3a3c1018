"""Render the model as a docker-bake.json that buildx reads back to exactly what the model says.

This module owns the bake file bakepy writes: fully resolved (no variables, matrices or inherits left for
buildx to evaluate), literal `${`/`%{` escaped as `$${`/`%%{` so buildx does not interpolate them,
per-platform cache scopes added, every tag a publish moves written out (so the file is a drop-in for a
hand-written one: `--push`, `--load`, `--print` work on it), and for a publish every published target's tags
replaced by one push-by-digest output (targets with `publish = false` or only local outputs stay as written). `dumps` makes it byte-stable. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from bakepy.errors import ConfigError, NothingToDoError
from bakepy.model import CacheEntry, Project, ResolvedProject, Target, normalize_platform
from bakepy.publish.plan import target_references

__all__ = [
    "DEFAULT_BAKE_FILES",
    "dumps",
    "escape",
    "publish_output",
    "registry_tags",
    "render_bake",
    "target_to_bake",
]

_SKIP = frozenset({"inherits", "matrix", "name", *Target.BAKE_ONLY_FIELDS})

#: The files plain `docker buildx bake` (no -f) reads, in its order, a later one overriding an earlier one
#: (buildx bake.defaultFilenames): what a rendered file may be shadowed by, and what an import names as sources.
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


def escape(value: str) -> str:
    """Write a literal string so bake's template evaluation gives it back unchanged."""
    return value.replace("${", "$${").replace("%{", "%%{")


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _bake_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.bake_value()  # type: ignore[attr-defined]
    if isinstance(value, tuple):
        return [_bake_value(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def target_to_bake(target: Target) -> dict[str, Any]:
    """A resolved target as a bake target object (unescaped; empty attributes left out)."""
    out: dict[str, Any] = {}
    for name, info in Target.model_fields.items():
        if name in _SKIP:
            continue
        value = getattr(target, name)
        if value is None or (isinstance(value, (tuple, dict)) and not value):
            continue
        out[info.alias or name] = _bake_value(value)
    return out


def registry_tags(resolved: ResolvedProject, name: str) -> list[str]:
    """`REGISTRY/IMAGE:TAG` for every [project] registry and tag, as written (variables resolved)."""
    settings = resolved.settings
    image = resolved.image(name)
    return [
        f"{registry}/{image}:{tag}" for registry in settings.registries for tag in settings.tags
    ]


def publish_output(repositories: Sequence[str]) -> dict[str, str]:
    """The one output of a publish build: push by digest to repository-only names (build-push-action#1117)."""
    return {
        "type": "image",
        "name": ",".join(repositories),
        "push-by-digest": "true",
        "name-canonical": "true",
        "push": "true",
    }


def _key(platform: str) -> str:
    try:
        return normalize_platform(platform)
    except (
        ValueError
    ):  # a value from a variable that plan/publish refuse; render writes it as bake prints it
        return platform


def _cache(
    resolved: ResolvedProject, name: str, platforms: Sequence[str], platform: str | None
) -> tuple[list[CacheEntry], list[CacheEntry]]:
    cache = resolved.settings.cache
    if cache is None:
        return [], []
    platforms = [_key(p) for p in platforms]  # scopes by the normalised platform: one per platform
    platform = None if platform is None else _key(platform)
    if platform is not None:
        scopes_from = [cache.scope(name, platform), cache.scope(name, None)]
        scope_to = cache.scope(name, platform)
    else:
        scopes_from = [cache.scope(name, p) for p in platforms] + [cache.scope(name, None)]
        scope_to = cache.scope(name, platforms[0] if len(platforms) == 1 else None)
    sources = [cache.entry(s, export=False) for s in dict.fromkeys(scopes_from)]
    return sources, [cache.entry(scope_to, export=True)]


def render_bake(
    project: Project | ResolvedProject,
    *,
    targets: Sequence[str] | None = None,
    platform: str | None = None,
    publish: bool = False,
    fingerprints: Mapping[str, Mapping[str | None, str]] | None = None,
) -> dict[str, Any]:
    """The bake definition of `targets` (names of targets or groups; default: every target and group).

    `platform` keeps only that platform of each target (one runner's slice) and picks its cache scope.
    `publish` drops every selected target's `tags` and gives it exactly one push-by-digest image output
    naming the repositories it publishes to. `fingerprints` (target → platform → value, `--changed`) are
    written as the `bakepy.fingerprint` annotation on each platform manifest and its index descriptor.
    """
    resolved = project if isinstance(project, ResolvedProject) else project.resolved
    if platform is not None:
        try:
            platform = normalize_platform(platform)
        except ValueError as exc:
            raise ConfigError(f"--platform: {exc}") from None
    full = not targets and platform is None
    selected = tuple(resolved.targets) if not targets else resolved.select(targets)
    written: dict[str, str] = {}  # target -> its spelling of `platform`
    if platform is not None:
        for n in selected:
            match = [p for p in resolved.targets[n].platforms if _key(p) == platform]
            if match:
                written[n] = match[0]
        selected = tuple(n for n in selected if n in written)
        if not selected:
            raise NothingToDoError(f"no selected target builds for {platform}")
    if publish:
        resolved.check(
            selected
        )  # what a publish pushes must be valid; a plain render writes what bake prints
    names = dict.fromkeys(selected)
    for name in selected:
        names.update(dict.fromkeys(resolved.linked(name)))

    out_targets: dict[str, Any] = {}
    for name in names:
        target = resolved.targets[name]
        body = target_to_bake(target)
        platforms = target.platforms
        if name in written:
            platforms = (written[name],)
            body["platforms"] = [written[name]]
        sources, sinks = _cache(resolved, name, platforms, written.get(name))
        if sources:
            body["cache-from"] = [*body.get("cache-from", []), *(e.bake_value() for e in sources)]
            body["cache-to"] = [*body.get("cache-to", []), *(e.bake_value() for e in sinks)]
        if not publish and target.publishes:
            # A drop-in for a hand-written file: `docker buildx bake -f rendered.json --push` pushes every
            # tag a publish moves (its own tags, then registries x image x [project] tags).
            tags = [*target.tags, *registry_tags(resolved, name)]
            if tags:
                body["tags"] = list(dict.fromkeys(tags))
        if publish and name in selected and target.publishes:
            body.pop("tags", None)
            repositories = dict.fromkeys(
                ref.repository for ref in target_references(resolved, name)
            )
            if not repositories:
                origin = resolved.origins.get(name, name)
                raise ConfigError(
                    f"target.{origin}: {name!r} publishes nowhere",
                    hint="add [project] registries and tags, or full references in the target's `tags`",
                )
            body["output"] = [publish_output(list(repositories))]
            prints = (fingerprints or {}).get(name) or {}
            if prints:
                body["annotations"] = [
                    *body.get("annotations", []),
                    *_fingerprint_annotations(prints, written.get(name)),
                ]
        out_targets[name] = _escaped(body)

    groups: dict[str, Any] = {}
    if full:
        for name, group in resolved.groups.items():
            groups[name] = {"targets": list(group.targets)}
            if group.description:
                groups[name]["description"] = escape(group.description)
        if "default" not in groups and "default" not in out_targets:
            groups["default"] = {"targets": list(resolved.default_targets)}
    else:
        groups["default"] = {"targets": list(selected)}
    # An empty "group" block is a parse error for buildx ("Missing block label"): leave it out.
    return {"group": groups, "target": out_targets} if groups else {"target": out_targets}


def _fingerprint_annotations(prints: Mapping[str | None, str], only: str | None) -> list[str]:
    """`manifest[PLATFORM]:` and `manifest-descriptor[PLATFORM]:` annotations (buildx's syntax): the manifest
    carries it for a plain-manifest push, the descriptor lets `--changed` read every platform from the index;
    and `index:`, over every platform (also in a one-platform slice, `only`: the merged index gets it)."""
    from bakepy.publish.fingerprint import ANNOTATION, index_annotation

    out = [f"index:{ANNOTATION}={index_annotation(list(prints.values()))}"]
    for platform, value in sorted(prints.items(), key=lambda item: item[0] or ""):
        if only is not None and platform is not None and platform != _key(only):
            continue
        where = f"[{platform}]" if platform else ""
        out += [
            f"manifest{where}:{ANNOTATION}={value}",
            f"manifest-descriptor{where}:{ANNOTATION}={value}",
        ]
    return out


def dumps(bake: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline (byte-stable across runs)."""
    return json.dumps(bake, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
