"""A project as one context publishes it: each target's rule tags, OCI labels and annotations added.

Owns `apply_context`: for every published target with `metadata` (its own over `[project] metadata`), the tags
its rules yield become `REGISTRY/IMAGE:TAG` references in every `[project]` registry (beside the tags the
project writes), the OCI labels go on the image config and the same keys as annotations on the index and
manifests, each only where the target does not set that key itself. `TargetMetadata` keeps what was added and
why, for `bakepy tags`. Everything downstream (plan, render, publish, CI split) reads the result as it reads
any project. Pure: the context is given, pyproject.toml is read as a file.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.errors import ConfigError
from bakepy.tagging.context import BuildContext
from bakepy.tagging.rules import MetadataSettings, TagOutcome, evaluate, version_of

if TYPE_CHECKING:
    from bakepy.model import Project, ResolvedProject, Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["OCI_PREFIX", "PackageFacts", "TargetMetadata", "apply_context", "read_package_facts"]

OCI_PREFIX = "org.opencontainers.image."


@dataclass(frozen=True)
class PackageFacts:
    """What pyproject.toml's `[project]` says about the software (for description and licenses)."""

    description: str | None = None
    licenses: str | None = None


def read_package_facts(folder: Path) -> PackageFacts:
    """pyproject.toml beside the project: `[project] description` and `license` (an SPDX string, or the
    older `{text = …}` table); empty when there is none or it does not parse."""
    path = folder / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return PackageFacts()
    project = data.get("project")
    if not isinstance(project, dict):
        return PackageFacts()
    description = project.get("description")
    license_ = project.get("license")
    if isinstance(license_, dict):
        license_ = license_.get("text")
    return PackageFacts(
        description if isinstance(description, str) and description else None,
        license_ if isinstance(license_, str) and license_ and "\n" not in license_ else None,
    )


@dataclass(frozen=True)
class TargetMetadata:
    """What the context gave one target, and why."""

    target: str
    tags: tuple[TagOutcome, ...]
    """Tag names, highest priority first, each with the rule that made it."""
    references: Mapping[str, tuple[str, ...]]
    """Registry -> the full references those tags are in it."""
    labels: Mapping[str, str]
    """OCI labels added to the image config."""
    annotations: tuple[str, ...]
    """Annotations added (`index:KEY=VALUE`, `manifest:KEY=VALUE`)."""
    kept: tuple[str, ...]
    """Generated keys the target sets itself (its value wins)."""
    rules: tuple[str, ...]
    """The rules, as metadata-action lines."""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "tags": [{"tag": o.tag, "rule": o.rule} for o in self.tags],
            "references": {r: list(refs) for r, refs in self.references.items()},
            "labels": dict(self.labels),
            "annotations": list(self.annotations),
            "kept": list(self.kept),
        }


def _settings_for(resolved: ResolvedProject, name: str) -> MetadataSettings | None:
    project = resolved.settings.metadata
    own = resolved.targets[name].metadata
    if project is None:
        return own
    return project if own is None else project.merged(own)


def _oci(
    settings: MetadataSettings,
    context: BuildContext,
    target: Target,
    image: str,
    outcomes: Sequence[TagOutcome],
    package: PackageFacts,
) -> dict[str, str]:
    created = context.created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "created": created,
        "description": settings.description or target.description or package.description,
        "licenses": settings.licenses or package.licenses,
        "revision": context.sha,
        "source": settings.source or context.source_url,
        "title": settings.title or image.rsplit("/", 1)[-1],
        "url": settings.url or context.source_url,
        "version": version_of(outcomes),
    }
    return {OCI_PREFIX + k: v for k, v in sorted(values.items()) if v}


def _annotation_keys(annotations: Sequence[str]) -> set[tuple[str, str]]:
    """(level, key) pairs a target's own annotations set (no level means the manifest, as buildx reads it)."""
    out = set()
    for entry in annotations:
        key = entry.partition("=")[0]
        levels, colon, name = key.partition(":")
        if not colon:
            out.add(("manifest", key))
            continue
        for level in levels.split(","):
            out.add((level.partition("[")[0].removesuffix("-descriptor"), name))
    return out


def apply_context(
    project: Project,
    context: BuildContext,
    *,
    targets: Sequence[str] = (),
    package: PackageFacts | None = None,
    need_tags: bool = True,
) -> tuple[Project, dict[str, TargetMetadata]]:
    """`project` as `context` publishes it, and what each target of the selection got.

    With `need_tags`, a target whose rules yield no tag here (and which has no other tag) is a ConfigError
    naming the context and the rules; without (a build that pushes nothing), it is left without tags."""
    resolved = project.resolved
    names = resolved.select(targets)
    updated: dict[str, Target] = {}
    report: dict[str, TargetMetadata] = {}
    for name in names:
        target = resolved.targets[name]
        settings = _settings_for(resolved, name)
        if settings is None or not target.publishes:
            continue
        origin = resolved.origins.get(name, name)
        outcomes = evaluate(settings, context)
        image = resolved.image(name)
        registries = resolved.settings.registries
        # metadata-action's default rules (no `tags` written) need no registry: where there is none, the
        # target publishes under its own full tags, as before it had `metadata`
        if settings.rules_given and settings.tags and not registries:
            raise ConfigError(
                f"target.{origin}.metadata.tags: tag rules name tags, and [project] has no registries to put them in",
                hint='add [project] registries = ["registry.example/namespace"]',
            )
        refs = {r: tuple(f"{r}/{image}:{o.tag}" for o in outcomes) for r in registries}
        if (
            need_tags
            and settings.rules
            and registries
            and not outcomes
            and not target.tags
            and not resolved.settings.tags
        ):
            rules = "; ".join(rule.describe() for rule in settings.rules)
            which = "its rules" if settings.rules_given else "metadata-action's default rules"
            raise ConfigError(
                f"target.{origin}: the context ({context.describe()}) yields no tag: none of {which} "
                f"applies ({rules})",
                hint="add a rule for this event (e.g. type=ref,event=branch or type=sha), preview others "
                "with `bakepy tags --context tag=v1.2.3`, or build without pushing (--no-push)",
            )
        labels: dict[str, str] = {}
        annotations: list[str] = []
        kept: list[str] = []
        oci = _oci(settings, context, target, image, outcomes, package or PackageFacts())
        # a value the target gives as a label is the value of its annotation too
        annotated = {**oci, **{k: v for k, v in target.labels.items() if k in oci and v}}
        if settings.labels:
            for key, value in oci.items():
                if key in target.labels:
                    kept.append(f"label {key}")
                else:
                    labels[key] = value
        own = _annotation_keys(target.annotations)
        levels = [
            lv for lv in settings.annotations if lv != "index" or len(target.platforms) != 1
        ]  # BuildKit makes no index for one platform without attestations: manifest only
        for level in levels:
            for key, value in annotated.items():
                if (level, key) in own:
                    kept.append(f"{level} annotation {key}")
                else:
                    annotations.append(f"{level}:{key}={value}")
        extra = [ref for refs_in in refs.values() for ref in refs_in]
        updated[name] = target.model_copy(
            update={
                "tags": tuple(dict.fromkeys((*target.tags, *extra))),
                "labels": {**labels, **target.labels},
                "annotations": (*target.annotations, *annotations),
            }
        )
        report[name] = TargetMetadata(
            name,
            outcomes,
            refs,
            labels,
            tuple(annotations),
            tuple(kept),
            tuple(rule.describe() for rule in settings.rules),
        )
    if not updated:
        return project, report
    changed = dataclasses.replace(resolved, targets={**resolved.targets, **updated})
    return project.with_resolved(changed), report
