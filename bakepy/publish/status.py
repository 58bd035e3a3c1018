"""`bakepy status`: what every tag the project publishes points at now, in every registry, and whether it is whole.

A tag is *complete* when it holds an index (or image) with exactly the target's planned platforms. Anything else
— missing, a single-platform push that overwrote it (buildx#2955), a platform too many — is reported, so the
command can run on a schedule and fail when someone broke a tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bakepy.engine.registry import inspect_many
from bakepy.engine.runner import Runner
from bakepy.publish.sources import TargetSpec


@dataclass(frozen=True)
class TagStatus:
    target: str
    tag: str
    digest: str | None
    platforms: tuple[str, ...]
    attestations: int
    planned: tuple[str, ...]

    @property
    def state(self) -> str:
        if self.digest is None:
            return "missing"
        if not self.planned:  # the builder's default platform: any one platform is whole
            return "complete" if len(self.platforms) == 1 else "incomplete"
        return "complete" if sorted(self.platforms) == sorted(self.planned) else "incomplete"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "tag": self.tag,
            "digest": self.digest,
            "platforms": list(self.platforms),
            "attestations": self.attestations,
            "planned": list(self.planned),
            "state": self.state,
        }


def tag_status(runner: Runner, specs: Sequence[TargetSpec]) -> list[TagStatus]:
    """Every tag of every target, read from its registry (anonymous HTTP where open, else buildx)."""
    found = inspect_many(runner, [t for s in specs for t in s.tags])
    out = []
    for spec in specs:
        for tag in spec.tags:
            index = found.get(tag)
            if index is None:
                out.append(TagStatus(spec.name, tag, None, (), 0, spec.platforms))
                continue
            platforms = index.platforms if index.is_index else ("(single image)",)
            out.append(
                TagStatus(
                    spec.name,
                    tag,
                    index.digest,
                    tuple(platforms),
                    len(index.attestations),
                    spec.platforms,
                )
            )
    return out
