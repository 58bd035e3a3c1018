"""What a publish would do, computed from the model alone: build units, tag sets and merge commands.

This module owns the publish plan: which targets are built for which platforms, the repository-only names
each target is pushed to by digest, the full tags each registry ends up with, and the exact commands a
publish runs (one `docker buildx bake` and one `docker buildx imagetools create` per target for every tag of every registry).
Pure: digests are unknown here, so merge commands carry a `<digest:TARGET>` placeholder unless given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bakepy.errors import ConfigError, NothingToDoError
from bakepy.model import (
    ImageReference,
    Project,
    ResolvedProject,
    normalize_platform,
    parse_reference,
)

__all__ = [
    "DEFAULT_BAKE_FILE",
    "DEFAULT_METADATA_FILE",
    "BuildUnit",
    "MergeCommand",
    "PublishPlan",
    "TargetPlan",
    "bake_command",
    "digest_placeholder",
    "imagetools_create_argv",
    "merge_commands",
    "plan_publish",
    "plan_to_json",
    "target_references",
]

DEFAULT_BAKE_FILE = ".bakepy/docker-bake.json"  # where publish renders, beside the project
DEFAULT_METADATA_FILE = ".bakepy/metadata.json"


_NOT_CONTAINER_OS = frozenset({"darwin", "ios"})


@dataclass(frozen=True)
class BuildUnit:
    """One build: a target for one platform (None: the builder's default platform)."""

    target: str
    platform: str | None


@dataclass(frozen=True)
class TargetPlan:
    """What one target publishes."""

    name: str
    platforms: tuple[str, ...]
    """Platforms built; empty means the builder's default platform."""
    repositories: tuple[str, ...]
    """Repository-only references (no tag) pushed to by digest, one or more per registry."""
    tags_by_registry: Mapping[str, tuple[str, ...]]
    """Registry host -> the full tag references created there by the merge."""
    sources: tuple[str, ...] = ()
    """Assembled from these images already pushed (`sources`, then `annotate` ones as `!PLATFORM=REF`), not built."""
    reuse: str | None = None
    """`--changed`: unchanged, so not built; the new tags hold this index's platform manifests (`REPO@DIGEST`)."""

    @property
    def tags(self) -> tuple[str, ...]:
        """Every full tag reference, registry by registry."""
        return tuple(tag for tags in self.tags_by_registry.values() for tag in tags)

    def source(self, registry: str) -> str:
        """The repository in `registry` whose pushed digest the merge reads from."""
        return next(repo for repo in self.repositories if repo.split("/", 1)[0] == registry)


@dataclass(frozen=True)
class PublishPlan:
    """Every target a publish builds and the tags it creates; `fingerprint` identifies it stably."""

    targets: tuple[TargetPlan, ...]
    fingerprint: str

    @property
    def units(self) -> tuple[BuildUnit, ...]:
        """Target x platform build units, in plan order."""
        return tuple(
            BuildUnit(t.name, platform)
            for t in self.targets
            for platform in (t.platforms or (None,))
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    @property
    def built(self) -> tuple[str, ...]:
        """The targets a bake builds (the others are assembled from images already pushed, or reused)."""
        return tuple(t.name for t in self.targets if not t.sources and not t.reuse)

    def target(self, name: str) -> TargetPlan:
        for plan in self.targets:
            if plan.name == name:
                return plan
        raise KeyError(name)


@dataclass(frozen=True)
class MergeCommand:
    """The one `imagetools create` that moves every tag of one target, in every registry at once."""

    target: str
    registries: tuple[str, ...]
    argv: tuple[str, ...]


def _resolved(project: Project | ResolvedProject) -> ResolvedProject:
    return project if isinstance(project, ResolvedProject) else project.resolved


def target_references(project: Project | ResolvedProject, name: str) -> tuple[ImageReference, ...]:
    """Every reference `name` publishes: its `tags` as written, then registries x image x [project] tags."""
    resolved = _resolved(project)
    target = resolved.targets[name]
    origin = resolved.origins.get(name, name)
    refs: list[ImageReference] = [parse_reference(tag) for tag in target.tags]
    settings = resolved.settings
    if settings.registries and settings.tags:
        image = resolved.image(name)
        for registry in settings.registries:
            text = f"{registry}/{image}"
            try:
                repo = parse_reference(text)
            except ValueError as exc:
                where = "image" if target.image else ""
                raise ConfigError(
                    f"target.{origin}{'.' + where if where else ''}: {exc}",
                    hint=None
                    if target.image
                    else f'set image = "..." in [target.{origin}], or leave it out of the default group',
                ) from None
            for tag in settings.tags:
                refs.append(ImageReference(domain=repo.registry, path=repo.path, tag=tag))
    seen: dict[str, ImageReference] = {}
    for ref in refs:
        seen.setdefault(ref.normalized, ref)
    return tuple(seen.values())


def plan_publish(
    project: Project | ResolvedProject,
    targets: Sequence[str] = (),
    platforms: Sequence[str] | None = None,
    *,
    untagged: bool = False,
) -> PublishPlan:
    """Plan publishing `targets` (names of targets or groups; default: the default selection).

    `platforms` restricts every target to those platforms (targets building none of them are left out).
    `untagged` plans a target with tag rules that yield no tag in this context (a pull request) with its
    repositories and no tags, for what needs only targets and platforms (the CI matrix and workflow files).
    Raises ConfigError for unknown names or clashing tags, NothingToDoError when nothing is left to publish.
    """
    resolved = _resolved(project)
    names = resolved.select(targets)
    resolved.check(
        names
    )  # values from variables are checked here, where they are used (not by render)
    wanted: tuple[str, ...] | None = None
    if platforms is not None:
        try:
            wanted = tuple(dict.fromkeys(normalize_platform(p) for p in platforms))
        except ValueError as exc:
            raise ConfigError(f"--platform: {exc}") from None
    plans: list[TargetPlan] = []
    owner: dict[str, str] = {}
    selected = names
    names = tuple(
        n for n in names if resolved.targets[n].publishes
    )  # the others are built as written
    for name in names:
        # Compared and recorded normalised (`local` is this machine's platform); rendered as written.
        target_platforms = tuple(
            dict.fromkeys(normalize_platform(p) for p in resolved.targets[name].platforms)
        )
        for platform in target_platforms:
            if platform.split("/", 1)[0] in _NOT_CONTAINER_OS:
                origin = resolved.origins.get(name, name)
                raise ConfigError(
                    f"target.{origin}.platforms: {platform!r} cannot be built: BuildKit builds Linux (and "
                    "Windows) container images, and no builder runs macOS or iOS containers",
                    hint="build darwin binaries inside a linux image (cross-compile), or drop the platform",
                )
        if wanted is not None:
            target_platforms = tuple(p for p in target_platforms if p in wanted)
            if not target_platforms:
                continue
        refs = target_references(resolved, name)
        if not refs and untagged and resolved.settings.registries:
            image = resolved.image(name)
            refs = tuple(
                parse_reference(f"{registry}/{image}") for registry in resolved.settings.registries
            )
        if not refs:
            origin = resolved.origins.get(name, name)
            raise ConfigError(
                f"{resolved.source}: target.{origin}: {name!r} publishes nowhere",
                hint="add [project] registries and tags, or full references in the target's `tags`",
            )
        repositories: dict[str, None] = {}
        tags: dict[str, list[str]] = {}
        for ref in refs:
            full = ref.normalized
            if full in owner and owner[full] != name:
                raise ConfigError(
                    f"targets {owner[full]!r} and {name!r} both publish {full}",
                    hint="give them different images or tags",
                )
            repositories[ref.repository] = None
            if ref.tag is None and untagged:
                continue
            owner[full] = name
            tags.setdefault(ref.registry, []).append(full)
        target = resolved.targets[name]
        plans.append(
            TargetPlan(
                name=name,
                platforms=target_platforms,
                repositories=tuple(repositories),
                tags_by_registry={registry: tuple(values) for registry, values in tags.items()},
                sources=(*target.sources, *(f"!{s}" for s in target.annotate)),
            )
        )
    if not plans:
        if wanted:
            raise NothingToDoError(f"no selected target builds for {', '.join(wanted)}")
        message, hint = _nothing_to_publish(resolved, targets, selected)
        raise NothingToDoError(message, hint=hint)
    return PublishPlan(targets=tuple(plans), fingerprint=_fingerprint(plans))


def _nothing_to_publish(
    resolved: ResolvedProject, asked: Sequence[str], names: Sequence[str]
) -> tuple[str, str]:
    """Why nothing is left to publish, naming the file, and the fix."""
    where = resolved.source
    if names:  # targets selected, none of them published
        return (
            f"{where}: no target to publish: {', '.join(names)} "
            f"{'is' if len(names) == 1 else 'are'} built but not published (publish = false or local outputs)",
            "select a published target, or remove `publish = false` / the local output",
        )
    if not resolved.targets:
        return (
            f"{where}: no target to publish: the project defines no target",
            'add one, e.g. [target.app] with context = "." and tags = ["REGISTRY/app:1.0"]',
        )
    group = asked[0] if asked else "default"
    return (
        f"{where}: no target to publish: group.{group}.targets is empty",
        f"list targets in group.{group}.targets (known: {', '.join(resolved.targets)}), or remove "
        f"the group{'' if asked else ' to publish every target'}",
    )


def _fingerprint(plans: Sequence[TargetPlan]) -> str:
    shape = [
        {"target": p.name, "platforms": list(p.platforms), "tags": sorted(p.tags)}
        for p in sorted(plans, key=lambda p: p.name)
    ]
    blob = json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def digest_placeholder(target: str) -> str:
    """Stands for a digest only known after the build."""
    return f"<digest:{target}>"


def bake_command(
    plan: PublishPlan,
    *,
    bake_file: str = DEFAULT_BAKE_FILE,
    metadata_file: str = DEFAULT_METADATA_FILE,
    builder: str | None = None,
    passed: Sequence[str] = (),
) -> tuple[str, ...]:
    """The build step, spelled exactly as the runner runs it: every planned target, pushed by digest, on
    `builder` (None: buildx's own choice), with the options the user passes through to bake (`passed`:
    `--set …`, `--no-cache`, `--pull`)."""
    return (
        "docker",
        "buildx",
        "bake",
        *(("--builder", builder) if builder else ()),
        "--file",
        bake_file,
        "--metadata-file",
        metadata_file,
        "--progress",
        "plain",
        *passed,
        *plan.built,
    )


def imagetools_create_argv(
    tags: Sequence[str], sources: Sequence[str], annotations: Sequence[tuple[str, str]] = ()
) -> tuple[str, ...]:
    """`docker buildx imagetools create` with every tag in one call (the one spelling bakepy uses)."""
    argv = ["docker", "buildx", "imagetools", "create"]
    for tag in tags:
        argv += ["--tag", tag]
    for key, value in annotations:
        argv += ["--annotation", f"{key}={value}"]
    return (*argv, *sources)


def merge_commands(
    plan: PublishPlan, digests: Mapping[str, str] | None = None
) -> tuple[MergeCommand, ...]:
    """One `imagetools create --tag … --tag … SOURCE@DIGEST` per target, carrying every tag of every registry
    (placeholders for unknown digests). The source is the target's index in its first registry: it is already
    in every registry by digest, so the call copies no blob and only moves tags."""
    out = []
    for target in plan.targets:
        if not target.tags_by_registry:
            continue
        digest = (
            (digests or {}).get(target.name)
            or (target.reuse.partition("@")[2] if target.reuse else None)
            or digest_placeholder(target.name)
        )
        registries = tuple(target.tags_by_registry)
        tags = [t for r in registries for t in target.tags_by_registry[r]]
        argv = imagetools_create_argv(tags, [f"{target.source(registries[0])}@{digest}"])
        out.append(MergeCommand(target=target.name, registries=registries, argv=argv))
    return tuple(out)


def plan_to_json(
    plan: PublishPlan,
    *,
    bake_file: str = DEFAULT_BAKE_FILE,
    metadata_file: str = DEFAULT_METADATA_FILE,
    builder: str | None = None,
    passed: Sequence[str] = (),
) -> dict[str, Any]:
    """The stable machine shape of `bakepy plan --json` (documented in docs/model.md); `builder` and `passed`
    as `bake_command` takes them, so a dry run shows the build command it would run."""
    return {
        "fingerprint": plan.fingerprint,
        "targets": [
            {
                "name": t.name,
                "platforms": list(t.platforms),
                "repositories": list(t.repositories),
                "tags": {registry: list(tags) for registry, tags in t.tags_by_registry.items()},
                **({"sources": list(t.sources)} if t.sources else {}),
                **({"reuse": t.reuse} if t.reuse else {}),
            }
            for t in plan.targets
        ],
        "units": [{"target": u.target, "platform": u.platform} for u in plan.units],
        "commands": [
            *(
                [
                    {
                        "step": "build",
                        "argv": list(
                            bake_command(
                                plan,
                                bake_file=bake_file,
                                metadata_file=metadata_file,
                                builder=builder,
                                passed=passed,
                            )
                        ),
                    }
                ]
                if plan.built
                else []
            ),
            *(
                {"step": "assemble", "target": t.name, "sources": list(t.sources)}
                for t in plan.targets
                if t.sources
            ),
            *(
                {"step": "reuse", "target": t.name, "source": t.reuse}
                for t in plan.targets
                if t.reuse
            ),
            *(
                {
                    "step": "merge",
                    "target": m.target,
                    "registries": list(m.registries),
                    "argv": list(m.argv),
                }
                for m in merge_commands(plan)
            ),
        ],
    }
