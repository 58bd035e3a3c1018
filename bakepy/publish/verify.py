"""Stage 5 of a publish: every tag read back from its registry holds exactly the planned images.

`Published` is what a run reports per target and registry (the summary table and `--json` are made from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex
from bakepy.publish.merge import Staged
from bakepy.publish.sources import _same_images


@dataclass(frozen=True)
class Published:
    target: str
    registry: str
    tags: tuple[str, ...]
    digest: str
    platforms: tuple[str, ...]
    attestations: int
    moved: tuple[str, ...]
    unchanged: tuple[str, ...]
    emulated: tuple[str, ...] = ()
    created: tuple[str, ...] = ()  # of `moved`: tags that did not exist before the run

    def summary_cells(self) -> tuple[str, str, list[str], str, list[str]]:
        """What a summary shows (the terminal table and the CI job summary): target, registry, tag names
        (marked when left alone), the short index digest, platforms (marked when emulated) and attestations."""
        tags = [
            t.rsplit(":", 1)[-1] + ("" if t in self.moved else " (unchanged)") for t in self.tags
        ]
        platforms = [f"{x} (QEMU)" if x in self.emulated else x for x in self.platforms]
        if self.attestations:
            platforms.append(f"+{self.attestations} attestations")
        return self.target, self.registry, tags, self.digest.removeprefix("sha256:")[:12], platforms

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "registry": self.registry,
            "tags": list(self.tags),
            "digest": self.digest,
            "platforms": list(self.platforms),
            "attestations": self.attestations,
            "moved": list(self.moved),
            "unchanged": list(self.unchanged),
            "emulated": list(self.emulated),
            "created": list(self.created),
        }

    def state(self, tag: str) -> str:
        """`created`, `moved` or `unchanged`: what the run did to `tag`."""
        if tag in self.created:
            return "created"
        return "moved" if tag in self.moved else "unchanged"


# -- 5. verify ------------------------------------------------------------------------------------------
def verify(staged: Sequence[Staged], after: Mapping[str, ImageIndex | None]) -> list[Published]:
    """Every tag, as read back from its registry, holds the target's staged index (checked before any tag moved
    to hold exactly the planned images): one index per target, the same in every registry."""
    published = []
    for s in staged:
        for d in s.merge.decisions:
            for tag in d.tags:
                found = after.get(tag)
                if found is None:
                    raise RegistryError(f"verify: {tag} does not exist after the merge")
                if found.digest != s.digest:
                    what = ", ".join(found.platforms) or "nothing"
                    raise RegistryError(
                        f"verify: {tag} points at {found.digest} ({what}), not this run's index "
                        f"{s.digest} ({', '.join(sorted(d.expected))}): another publish moved it "
                        "during this run, or the registry did not keep the push"
                    )
                if not _same_images(found, d.expected):
                    raise RegistryError(
                        f"verify: {tag} points at {found.digest} with {', '.join(found.platforms)}, "
                        f"not the planned {', '.join(sorted(d.expected))}"
                    )
            published.append(
                Published(
                    target=d.target,
                    registry=d.registry,
                    tags=d.tags,
                    digest=s.digest,
                    platforms=tuple(sorted(d.expected)),
                    attestations=d.attestations,
                    moved=d.move,
                    unchanged=d.unchanged,
                    created=tuple(t for t in d.move if d.before.get(t) is None),
                )
            )
    return published
