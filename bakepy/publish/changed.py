"""`--changed`: which targets a release builds, and which keep the platform manifests their tags hold now.

This module owns the decision (docs/changed.md). Each target × platform's input fingerprint
(`publish/fingerprint.py`) is compared with the `bakepy.fingerprint` annotation a `--changed` publish wrote on
the platform manifests its tags point at now (read from the index's descriptors, or from a plain manifest's own
annotations). A target builds when any of its platforms changed (bake builds targets, not platforms), when it
cannot be fingerprinted, when it has no published tag yet, when `rebuild = "always"` or `--all` says so, and when
a target it names as a `target:` context builds. The others are *reused*: the index their tag holds (platform
manifests, attestations) becomes their source in the same merge as the built ones, so every tag of the release
moves in one transaction, or none does.

`decide_changes` is pure (tested with tables); `read_changes` reads the registries and the files, and
`reused_sources` copies a reused index into a registry where the target publishes but it is missing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.errors import BakepyError
from bakepy.model import ResolvedProject
from bakepy.publish.fingerprint import (
    ANNOTATION,
    Fingerprint,
    fingerprint_targets,
    index_annotation,
)
from bakepy.publish.index import ImageIndex, repository_of
from bakepy.publish.plan import PublishPlan

if TYPE_CHECKING:
    from bakepy.engine.runner import Runner
    from bakepy.model import Project
    from bakepy.publish.records import DigestRecord
    from bakepy.publish.sources import TargetSpec

__all__ = [
    "ChangeSet",
    "TargetChange",
    "annotations_by_platform",
    "decide_changes",
    "describe",
    "fingerprint_annotations",
    "index_fingerprint",
    "read_changes",
    "reused_records",
    "reused_sources",
    "with_fingerprints",
]


@dataclass(frozen=True)
class TargetChange:
    """One target's verdict: `build`, and `why` (one line per reason), or the index it reuses."""

    name: str
    build: bool
    why: tuple[str, ...]
    fingerprints: tuple[Fingerprint, ...]
    reuse: str | None = None
    """`REPOSITORY@DIGEST` of the index whose platform manifests the new tags hold (not built)."""
    reuse_tag: str | None = None
    """The tag that index was read from."""
    index: ImageIndex | None = dataclasses.field(default=None, compare=False, repr=False)
    """What `reuse` is (read with the tag)."""
    present: tuple[str, ...] = ()
    """Repositories where a tag read for this decision holds `reuse` already (no need to check or copy)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "build": self.build,
            "why": list(self.why),
            **({"reuse": self.reuse, "from_tag": self.reuse_tag} if self.reuse else {}),
            "fingerprints": {f.platform or "default": f.value or None for f in self.fingerprints},
        }


@dataclass(frozen=True)
class ChangeSet:
    """Every published target's verdict, in dependency order (a target after the ones it names as contexts)."""

    targets: tuple[TargetChange, ...]

    @property
    def building(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets if t.build)

    @property
    def reused(self) -> tuple[TargetChange, ...]:
        return tuple(t for t in self.targets if not t.build)

    def annotations(self) -> dict[str, dict[str | None, str]]:
        """target → platform → the fingerprint annotation value its build writes (computable ones only)."""
        return {
            t.name: {f.platform: f.annotation() for f in t.fingerprints if f.unknown is None}
            for t in self.targets
            if t.build
        }

    def applied(self, plan: PublishPlan) -> PublishPlan:
        """`plan` with each reused target's index as its only source (so it is merged, not built)."""
        reuse = {t.name: t.reuse for t in self.targets if t.reuse}
        return dataclasses.replace(
            plan,
            targets=tuple(
                dataclasses.replace(tp, reuse=reuse[tp.name]) if tp.name in reuse else tp
                for tp in plan.targets
            ),
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.targets]


def annotations_by_platform(index: ImageIndex, planned: Sequence[str]) -> dict[str | None, str]:
    """platform → the fingerprint annotation on its image (the index descriptor's, or a plain manifest's own,
    keyed by the plan's one platform or None)."""
    if not index.is_index:
        doc = json.loads(index.raw) if index.raw else {}
        value = (doc.get("annotations") or {}).get(ANNOTATION)
        key = planned[0] if len(planned) == 1 else None
        return {key: str(value)} if value else {}
    out: dict[str | None, str] = {}
    for entry in index.images:
        value = entry.annotations.get(ANNOTATION)
        if value:
            out[_normal(entry.platform) if planned else None] = value
    return out


def _normal(platform: str | None) -> str | None:
    """A platform as the plan spells it (`linux/arm64/v8` → `linux/arm64`)."""
    from bakepy.model import normalize_platform

    if platform is None:
        return None
    try:
        return normalize_platform(platform)
    except ValueError:
        return platform


def index_fingerprint(fingerprints: Sequence[Fingerprint]) -> str:
    """The index's annotation (`fingerprint.index_annotation` of every platform's annotation)."""
    return index_annotation([f.annotation() for f in fingerprints])


def _platform_order(resolved: ResolvedProject, names: Sequence[str]) -> list[str]:
    """`names` with every target after the targets it links as `target:` contexts (stable otherwise)."""
    placed: dict[str, None] = {}

    def place(name: str, seen: tuple[str, ...]) -> None:
        if name in placed or name in seen:
            return
        for linked in resolved.linked(name):
            if linked in names:
                place(linked, (*seen, name))
        placed[name] = None

    for name in names:
        place(name, ())
    return list(placed)


def decide_changes(
    resolved: ResolvedProject,
    plan: PublishPlan,
    fingerprints: Mapping[tuple[str, str | None], Fingerprint],
    current: Mapping[str, ImageIndex | None],
    *,
    everything: bool = False,
    fallbacks: Mapping[str, Sequence[str]] | None = None,
) -> ChangeSet:
    """Which of `plan`'s targets build, from their `fingerprints` and what their tags hold now (`current`:
    full reference → what it points at, None: absent). A release's new tags do not exist yet: after its own
    tags, a target is compared with its `fallbacks` (each repository's `latest`, the index its last local
    publish recorded), in that order. Pure."""
    verdicts: dict[str, TargetChange] = {}
    for name in _platform_order(resolved, [t.name for t in plan.targets]):
        tp = plan.target(name)
        prints = tuple(fingerprints[(name, p)] for p in (tp.platforms or (None,)))
        if tp.sources:
            verdicts[name] = TargetChange(name, True, ("assembled from its sources",), prints)
            continue
        why: list[str] = []
        if everything:
            why.append("--all")
        elif resolved.targets[name].rebuild == "always":
            why.append('rebuild = "always"')
        reuse: tuple[str, str] | None = None
        reused_index: ImageIndex | None = None
        first_why: list[str] = []
        for tag in (*tp.tags, *(fallbacks or {}).get(name, ())):
            index = current.get(tag)
            if index is None:
                continue
            have = annotations_by_platform(index, tp.platforms)
            planned = set(tp.platforms) if tp.platforms else {None}
            here: list[str] = []
            if tp.platforms and {_normal(p) for p in index.platforms} != planned:
                here.append(
                    f"platforms: {tag} holds {', '.join(sorted(index.platforms))}, the plan "
                    f"{', '.join(sorted(tp.platforms))}"
                )
            for f in prints:
                changes = f.changes_from(have.get(f.platform))
                if changes:
                    here.append(f"{f.platform or 'default platform'}: {', '.join(changes)}")
            if not here:
                reuse = (f"{repository_of(tag)}@{index.digest}", tag)
                reused_index = index
                break
            if not first_why:
                first_why = [f"{line} (vs {tag})" for line in here]
        if reuse is None:
            why += first_why or [
                "not published yet (none of its tags exists)"
                if not any(f.unknown for f in prints)
                else next(
                    f"{f.platform or 'default platform'}: {f.unknown}" for f in prints if f.unknown
                )
            ]
        building = [
            linked
            for linked in resolved.linked(name)
            if linked in verdicts and verdicts[linked].build
        ]
        if building and reuse is not None:
            why.append(f"depends on {', '.join(building)}, which builds")
        if why:
            verdicts[name] = TargetChange(name, True, tuple(why), prints)
        else:
            assert reuse is not None
            digest = reuse[0].partition("@")[2]
            present = tuple(
                dict.fromkeys(
                    repository_of(ref)
                    for ref in (*tp.tags, *(fallbacks or {}).get(name, ()))
                    if (found := current.get(ref)) is not None and found.digest == digest
                )
            )
            verdicts[name] = TargetChange(
                name,
                False,
                (f"unchanged: keeps what {reuse[1]} holds",),
                prints,
                *reuse,
                index=reused_index,
                present=present,
            )
    return ChangeSet(tuple(verdicts.values()))


def _head_digest(ref: str) -> str | None:
    from bakepy.engine.registry import NoAnswer, head_digest
    from bakepy.errors import BakepyError

    try:
        return head_digest(ref)
    except (NoAnswer, BakepyError, OSError):
        return None  # said as "cannot be read": the target counts as changed


def read_changes(
    runner: Runner,
    plan: PublishPlan,
    project: Project,
    project_dir: Path,
    *,
    everything: bool = False,
    records_dir: Path | None = None,
) -> ChangeSet:
    """Fingerprint every planned target × platform (base images read from their registries now), read what
    every planned tag holds and, side by side, the index of each target's last local publish (its digest
    records in `records_dir`, in every repository); then, only for targets still without a match, each
    repository's `latest`; and `decide_changes`."""
    from bakepy.engine.registry import inspect_many

    resolved = project.resolved
    names = [t.name for t in plan.targets]
    prints = fingerprint_targets(
        resolved,
        names,
        {t.name: t.platforms for t in plan.targets},
        project_dir=project_dir,
        resolve=_head_digest,
    )
    recorded = _recorded(plan, records_dir)
    refs = [r for t in plan.targets if not t.sources for r in (*t.tags, *recorded.get(t.name, ()))]
    current = inspect_many(runner, list(dict.fromkeys(refs))) if refs else {}
    changes = decide_changes(
        resolved, plan, prints, current, everything=everything, fallbacks=recorded
    )
    if everything:
        return changes
    unmatched = {t.name for t in changes.targets if t.build and t.reuse is None}
    latest = {
        tp.name: [f"{r}:latest" for r in tp.repositories if f"{r}:latest" not in tp.tags]
        for tp in plan.targets
        if tp.name in unmatched and not tp.sources
    }
    more = [r for refs_ in latest.values() for r in refs_ if r not in current]
    if not more:
        return changes
    current = {**current, **inspect_many(runner, more)}
    fallbacks = {n: [*recorded.get(n, ()), *latest.get(n, ())] for n in names}
    return decide_changes(
        resolved, plan, prints, current, everything=everything, fallbacks=fallbacks
    )


def _recorded(plan: PublishPlan, records_dir: Path | None) -> dict[str, list[str]]:
    """target → `REPOSITORY@SOURCE` in each of its repositories, for the index its last local publish recorded
    (`records_dir`): what a release whose new tags do not exist yet is compared with first."""
    from bakepy.publish.records import read_record_files

    out: dict[str, list[str]] = {tp.name: [] for tp in plan.targets}
    if records_dir is None or not records_dir.is_dir():
        return out
    try:
        found = read_record_files(records_dir)
    except BakepyError:
        return out  # unreadable records only cost a build
    repositories = {tp.name: tp.repositories for tp in plan.targets}
    for _, record in found:
        for repository in repositories.get(record.target, ()):
            ref = f"{repository}@{record.source}"
            if ref not in out[record.target]:
                out[record.target].append(ref)
    return out


def with_fingerprints(specs: Sequence[TargetSpec], changes: ChangeSet) -> list[TargetSpec]:
    """`specs` with the index annotation `bakepy.fingerprint` (every platform's, hashed) where computable."""
    prints = {t.name: t.fingerprints for t in changes.targets}
    out = []
    for spec in specs:
        found = prints.get(spec.name, ())
        if found and all(f.unknown is None for f in found):
            extra = {f"index:{ANNOTATION}": index_fingerprint(found)}
            spec = dataclasses.replace(spec, index_annotations={**spec.index_annotations, **extra})
        out.append(spec)
    return out


def describe(changes: ChangeSet) -> list[str]:
    """One line per target: builds (and why) or reused (and from which tag)."""
    lines = []
    for t in changes.targets:
        verdict = "builds" if t.build else "unchanged"
        reasons = (
            "; ".join(t.why) if t.build else f"keeps the platform manifests {t.reuse_tag} holds"
        )
        lines.append(f"{t.name}: {verdict}: {reasons}")
    return lines


def fingerprint_annotations(
    project: Project, names: Sequence[str], platform: str, project_dir: Path
) -> dict[str, dict[str | None, str]]:
    """target → {platform: annotation} for one platform's build (`bakepy build --fingerprint`): what a later
    `--changed` compares with (base images read from their registries now; what cannot be computed is left
    out, and counts as changed then)."""
    prints = fingerprint_targets(
        project.resolved,
        names,
        {n: (platform,) for n in names},
        project_dir=project_dir,
        resolve=_head_digest,
    )
    return {
        name: {platform: f.annotation()} for (name, _), f in prints.items() if f.unknown is None
    }


def reused_records(
    changes: ChangeSet,
    specs: Sequence[TargetSpec],
    fingerprints: Mapping[str, str],
    revision: str | None,
) -> list[DigestRecord]:
    """Digest records for the reused targets, one per platform, as a build writes them (`fingerprints`: target
    → the plan fingerprint its records carry): the CI plan job writes them, so the merge job moves the reused
    targets' tags in the same transaction as the built ones."""
    from bakepy.publish.records import DigestRecord

    by_name = {s.name: s for s in specs}
    out = []
    for change in changes.reused:
        spec, index = by_name.get(change.name), change.index
        if spec is None or index is None:
            continue
        images = index.platform_digests() if index.is_index else {}
        if not index.is_index and len(spec.platforms) == 1:
            images = {spec.platforms[0]: index.digest}
        for platform, image in sorted(images.items()):
            out.append(
                DigestRecord(
                    target=change.name,
                    platform=_normal(platform) or platform,
                    digest=image,
                    source=index.digest,
                    media_type=index.media_type,
                    size=index.size,
                    repositories=spec.repositories,
                    fingerprint=fingerprints[change.name],
                    revision=revision,
                )
            )
    return out


def reused_sources(
    changes: ChangeSet, specs: Sequence[TargetSpec]
) -> list[tuple[TargetSpec, list[str]]]:
    """Each reused target's index, as the source `collect_all` checks: copied by digest (children, blobs and
    attestations with it) into every repository it publishes to where it is missing. No tag moves here."""
    from bakepy.engine.registry import copy, read_present

    out: list[tuple[TargetSpec, list[str]]] = []
    by_name = {s.name: s for s in specs}
    for change in changes.reused:
        spec = by_name.get(change.name)
        if spec is None or change.reuse is None:
            continue
        source, _, digest = change.reuse.partition("@")
        for registry in spec.registries():
            repository = spec.repository_in(registry)
            known = repository == source or repository in change.present
            if not known and not read_present(f"{repository}@{digest}"):
                copy(change.reuse, repository)
        out.append((spec, [digest]))
    return out
