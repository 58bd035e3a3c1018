"""`bakepy status`: what every tag the project publishes points at now, in every registry, and whether it is whole.

A tag is *complete* when it holds an index (or image) with exactly the target's planned platforms. Anything else
— missing, a single-platform push that overwrote it (buildx#2955), a platform too many — is reported, so the
command can run on a schedule and fail when someone broke a tag. A tag that is complete in every registry can
still be wrong: the registries may disagree (`latest` moved to another complete index in one of them, by hand or
by a run that failed half-way). Every registry's copy of one tag is compared — the same index digest, or else the
same image manifest per platform (an index re-serialised by another tool holds the same images under another
digest) — and a copy that differs from another complete copy is *drift*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bakepy.engine.registry import inspect_many
from bakepy.engine.runner import Runner

if TYPE_CHECKING:
    from bakepy.engine.cosign import Cosign
from bakepy.publish.index import ImageIndex, repository_of, split_reference
from bakepy.publish.sources import TargetSpec

# Row states, worst first: the order `bakepy status` sorts its complaints in.
STATES = ("missing", "incomplete", "drift", "complete")


@dataclass(frozen=True)
class TagStatus:
    target: str
    tag: str
    digest: str | None
    platforms: tuple[str, ...]
    attestations: int
    planned: tuple[str, ...]
    images: tuple[
        tuple[str, str], ...
    ] = ()  # (platform, image manifest digest): what the tag really holds
    drift: tuple[
        str, ...
    ] = ()  # the same tag in other registries, complete but holding other images

    @property
    def whole(self) -> bool:
        """Whether it holds exactly the planned platforms (whatever the other registries hold)."""
        if self.digest is None:
            return False
        if not self.planned:  # the builder's default platform: any one platform is whole
            return len(self.platforms) == 1
        return sorted(self.platforms) == sorted(self.planned)

    @property
    def state(self) -> str:
        if self.digest is None:
            return "missing"
        if not self.whole:
            return "incomplete"
        return "drift" if self.drift else "complete"

    def describe(self) -> str:
        """`REF (STATE)`, and for drift which registries hold something else: the line `status` fails with."""
        if self.state != "drift":
            return f"{self.tag} ({self.state})"
        return f"{self.tag} (drift: {', '.join(self.drift)} holds another index)"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "tag": self.tag,
            "digest": self.digest,
            "platforms": list(self.platforms),
            "attestations": self.attestations,
            "planned": list(self.planned),
            "images": {platform: digest for platform, digest in self.images},
            "drift": list(self.drift),
            "state": self.state,
        }


def _images(index: ImageIndex) -> tuple[tuple[str, str], ...]:
    """(platform, digest) of every image an index holds (attestations aside); a single image is itself."""
    if not index.is_index:
        return (("(single image)", index.digest),)
    return tuple(sorted((m.platform or "unknown/unknown", m.digest) for m in index.images))


def _same(a: TagStatus, b: TagStatus) -> bool:
    """One content in two registries: the same index digest, or the same image manifest for every platform."""
    return a.digest == b.digest or a.images == b.images


def with_drift(rows: Sequence[TagStatus]) -> list[TagStatus]:
    """`rows` with each whole copy of a tag marked with the other registries' whole copies that differ from it.

    Copies of one tag are those of one target with the same tag name (`…/app:latest` in every registry). A copy
    that is missing or incomplete is reported as that; it makes no other copy drift."""
    import dataclasses

    copies: dict[tuple[str, str | None], list[TagStatus]] = {}
    keys = []
    for row in rows:
        key = (row.target, split_reference(row.tag)[2])
        keys.append(key)
        if row.whole:
            copies.setdefault(key, []).append(row)
    out = []
    for row, key in zip(rows, keys, strict=True):
        if not row.whole:
            out.append(row)
            continue
        others = [o.tag for o in copies[key] if o is not row and not _same(o, row)]
        out.append(dataclasses.replace(row, drift=tuple(others)))
    return out


def tag_status(runner: Runner, specs: Sequence[TargetSpec]) -> list[TagStatus]:
    """Every tag of every target, read from its registry (anonymous HTTP where open, else buildx), each
    compared with the same tag in the target's other registries."""
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
                    _images(index),
                )
            )
    return with_drift(out)


# -- signatures -----------------------------------------------------------------------------------------
SIGNATURE_STATES = ("signed", "unsigned", "signed by someone else")


def signature_states(rows: Sequence[TagStatus], verifier: Cosign | None) -> dict[str, str]:
    """tag → `signed` (a cosign signature of its index verifies against the policy), `unsigned` (no signature
    at all) or `signed by someone else` (signatures, none of which verifies); without a policy (`verifier`
    None), `signed` means a signature exists, unverified. Tags that hold nothing are left out."""
    from concurrent.futures import ThreadPoolExecutor

    from bakepy.engine import registry
    from bakepy.errors import RegistryError, SigningError
    from bakepy.publish.sign import signature_tag

    def one(row: TagStatus) -> str:
        pinned = f"{repository_of(row.tag)}@{row.digest}"
        try:
            present = registry.head_digest(signature_tag(pinned)) is not None
        except (registry.NoAnswer, RegistryError):
            present = False
        if not present:
            return "unsigned"
        if verifier is None:
            return "signed"
        try:
            verifier.verify(pinned)
        except SigningError:
            return "signed by someone else"
        return "signed"

    held = [r for r in rows if r.digest is not None]
    if not held:
        return {}
    with ThreadPoolExecutor(max_workers=min(4, len(held))) as pool:
        return dict(zip((r.tag for r in held), pool.map(one, held), strict=True))
