"""Stages 3 and 4 of a publish: decide which tags move, then move them all or none.

`decide`: per target and registry, the tags to move. A tag whose platform images already equal the new ones is
left alone (provenance makes every rebuild a new index digest; leaving it keeps its digest and signatures).
`apply`: one `imagetools create` per target and registry with all of its tags (buildx#1089: exports are not
transactional, so bakepy does the transaction); if a step fails, tags already moved are put back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bakepy.engine.runner import Runner
from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex, repository_of
from bakepy.publish.plan import imagetools_create_argv
from bakepy.publish.sources import Collected, _same_images


@dataclass(frozen=True)
class Decision:
    """What happens to the tags of one target in one registry."""

    target: str
    registry: str
    expected: Mapping[str, str]  # platform → image digest every tag must end up with
    attestations: int
    tags: tuple[str, ...]
    before: Mapping[str, str | None]  # tag → digest it pointed at before the run
    step: MergeStep | None  # None: every tag already holds these images
    unchanged: tuple[str, ...]


@dataclass(frozen=True)
class MergeStep:
    """One `imagetools create`: all `tags` of one target in one registry, from `sources` in that registry."""

    target: str
    registry: str
    tags: tuple[str, ...]
    sources: tuple[str, ...]
    annotations: tuple[tuple[str, str], ...] = ()  # index annotations, `index:` prefixed

    def argv(self) -> list[str]:
        return list(imagetools_create_argv(self.tags, self.sources, self.annotations))


def merge_all(runner: Runner, steps: Sequence[MergeStep]) -> dict[MergeStep, BaseException | None]:
    """Run every step, one thread per registry (steps of one registry run in order). Returns each step's error."""
    by_registry: dict[str, list[MergeStep]] = {}
    for step in steps:
        by_registry.setdefault(step.registry, []).append(step)

    def run_registry(group: list[MergeStep]) -> dict[MergeStep, BaseException | None]:
        out: dict[MergeStep, BaseException | None] = {}
        for step in group:
            try:
                runner.imagetools_create(
                    step.tags, step.sources, annotations=dict(step.annotations)
                )
                out[step] = None
            except Exception as exc:  # reported per step; the caller rolls back
                out[step] = exc
        return out

    results: dict[MergeStep, BaseException | None] = {}
    if not by_registry:
        return results
    with ThreadPoolExecutor(max_workers=len(by_registry)) as pool:
        for partial in pool.map(run_registry, by_registry.values()):
            results.update(partial)
    return results


# -- 3. decide ------------------------------------------------------------------------------------------
def decide(collected: Collected, current: Mapping[str, ImageIndex | None]) -> list[Decision]:
    """Per registry: which tags move, from which sources, given what every tag points at now."""
    spec = collected.spec
    decisions = []
    for registry in spec.registries():
        tags = spec.tags_in(registry)
        if not tags:
            continue
        repo = spec.repository_in(registry)
        before = {tag: (idx.digest if (idx := current.get(tag)) else None) for tag in tags}
        same = [
            t
            for t in tags
            if (idx := current.get(t)) is not None and _same_images(idx, collected.images)
        ]
        if same:
            # Keep one index per target and registry: new tags copy an index already holding these images.
            keep = max(
                {before[t] for t in same}, key=lambda d: sum(1 for t in same if before[t] == d)
            )
            sources: tuple[str, ...] = (f"{repo}@{keep}",)
            annotations: tuple[tuple[str, str], ...] = ()
        else:
            keep = None
            sources = tuple(f"{repo}@{d}" for d in collected.digests)
            # One source is copied as is (it carries its annotations); a merge of several gets them again.
            annotations = tuple(sorted(spec.index_annotations.items())) if len(sources) > 1 else ()
        move = tuple(t for t in tags if keep is None or before[t] != keep)
        unchanged = tuple(t for t in tags if t not in move)
        step = MergeStep(spec.name, registry, move, sources, annotations) if move else None
        decisions.append(
            Decision(
                spec.name,
                registry,
                collected.images,
                collected.attestations,
                tags,
                before,
                step,
                unchanged,
            )
        )
    return decisions


# -- 4. apply -------------------------------------------------------------------------------------------
def apply(runner: Runner, decisions: Sequence[Decision]) -> None:
    steps = [d.step for d in decisions if d.step is not None]
    results = merge_all(runner, steps)
    failed = [(s, e) for s, e in results.items() if e is not None]
    if not failed:
        return
    restored, created = _roll_back(runner, decisions, {s for s, e in results.items() if e is None})
    step, error = failed[0]
    note = f"{len(restored)} tag(s) moved in this run were put back"
    if created:
        note += f"; new tags that no registry API can remove: {', '.join(created)}"
    raise RegistryError(
        f"merge of target {step.target} in {step.registry} failed: {error}; {note}",
        hint="fix the registry problem and publish again",
    ) from error


def _roll_back(
    runner: Runner, decisions: Sequence[Decision], done: set[MergeStep]
) -> tuple[list[str], list[str]]:
    restored: list[str] = []
    created: list[str] = []
    for decision in decisions:
        if decision.step is None or decision.step not in done:
            continue
        repo = repository_of(decision.step.sources[0])
        for tag in decision.step.tags:
            previous = decision.before.get(tag)
            if previous is None:
                created.append(tag)  # registries offer no way to delete a tag alone
                continue
            runner.imagetools_create([tag], [f"{repo}@{previous}"])
            restored.append(tag)
    return restored, created
