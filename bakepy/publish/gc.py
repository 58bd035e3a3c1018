"""`bakepy gc`: the digests this project pushed that no tag reaches any more, listed (and, on demand, deleted).

Registries cannot list the untagged manifests of a repository, so what the project pushed comes from its own
history: every publish, merge and assemble appends the digests it pushed or staged, per repository, to
`.bakepy/pushed.jsonl` (`record_pushed`, fsync'd, no link followed). What is still reachable comes from the
registry, fresh: every tag of each repository (`tags/list`), each tag's manifest, an index's every child (platform
images and attestation manifests), and cosign's tag-scheme artifacts (`sha256-HEX.sig|.att|.sbom`) of anything
reachable. A candidate is a recorded digest (with its children) that is not reachable; cosign artifacts of a
candidate are candidates too. Never a child of a tagged index, never a referrer of one (GHCR prune actions have
deleted the children of live multi-arch tags: action-ghcr-prune#76).

A publish running beside gc is never hurt: a digest recorded less than `grace` seconds ago (default an hour; a
publish records what it stages before it moves a tag) is never a candidate, whatever the tags say.

`--delete` deletes candidates by digest through the registry API (`DELETE /v2/REPO/manifests/DIGEST`: indexes
first, then what they held), where the registry allows it (distribution with `storage.delete.enabled`); blobs
are the registry's own garbage collection's (`registry garbage-collect`). On GHCR and ECR use their own
retention (docs/lifecycle.md gives the ECR lifecycle policy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bakepy.engine import registry
from bakepy.engine.transport import session
from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex, split_reference
from bakepy.safefs import append_synced, read_regular

HISTORY = "pushed.jsonl"
HISTORY_LIMIT = 64 << 20
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")


def record_pushed(work: Path, pushed: Iterable[tuple[str, str]]) -> None:
    """Append (repository, digest) pairs this run pushed or staged to the project's history, with the time."""
    now = time.time()
    lines = "".join(
        json.dumps({"repository": repo, "digest": digest, "time": now}, sort_keys=True) + "\n"
        for repo, digest in dict.fromkeys(pushed)
    )
    if lines:
        append_synced(work, HISTORY, lines.encode(), what="the history of pushed digests")


def read_pushed(work: Path) -> list[tuple[str, str, float]]:
    path = work / HISTORY
    if not path.exists():
        return []
    data = read_regular(path, what="the history of pushed digests", limit=HISTORY_LIMIT)
    out: list[tuple[str, str, float]] = []
    for line in data.decode(errors="replace").splitlines():
        try:
            doc = json.loads(line)
            out.append((str(doc["repository"]), str(doc["digest"]), float(doc["time"])))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of a killed run
    return out


@dataclass
class Collection:
    """What gc found per repository: candidates (digest → why), kept in grace, and what was deleted."""

    candidates: dict[str, dict[str, str]] = field(default_factory=dict)
    in_grace: dict[str, list[str]] = field(default_factory=dict)
    reachable: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "candidates": {r: dict(c) for r, c in self.candidates.items()},
            "in_grace": self.in_grace,
            "reachable": self.reachable,
            "deleted": self.deleted,
            "failed": [{"ref": r, "why": w} for r, w in self.failed],
        }


def _closure(repo: str, digest: str, known: dict[str, ImageIndex | None]) -> set[str]:
    """`digest` and everything an index holds (platform images, attestation manifests)."""
    out = {digest}
    found = known.get(digest)
    if digest not in known:
        found = registry.read(f"{repo}@{digest}")
        known[digest] = found
    if found is not None and found.is_index:
        out |= {m.digest for m in found.manifests}
    return out


def _cosign_subject(tag: str) -> str | None:
    for suffix in COSIGN_SUFFIXES:
        if tag.startswith("sha256-") and tag.endswith(suffix):
            return "sha256:" + tag[len("sha256-") : -len(suffix)]
    return None


def collect(
    history: Sequence[tuple[str, str, float]], *, grace: float = 3600.0, now: float | None = None
) -> Collection:
    """The candidates of every repository the history names, from fresh reads of its tags."""
    now = time.time() if now is None else now
    result = Collection()
    by_repo: dict[str, dict[str, float]] = {}
    for repo, digest, when in history:
        latest = by_repo.setdefault(repo, {})
        latest[digest] = max(when, latest.get(digest, 0.0))
    for repo, recorded in by_repo.items():
        known: dict[str, ImageIndex | None] = {}
        listed = registry.tag_names(repo)
        if listed is None:
            raise RegistryError(
                f"{repo}: the registry's tag list cannot be read, so what is reachable is unknown; "
                "nothing was listed or deleted",
                hint="check the registry and the login (bakepy doctor), then run gc again",
            )
        tags = sorted(listed)
        artifacts = {t: s for t in tags if (s := _cosign_subject(t)) is not None}
        reachable: set[str] = set()
        for tag in tags:
            if tag in artifacts:
                continue
            now_at = registry.head_digest(f"{repo}:{tag}")
            if now_at is not None:
                reachable |= _closure(repo, now_at, known)
        for tag, subject in artifacts.items():  # a reachable subject keeps its signatures and SBOMs
            if subject in reachable:
                at = registry.head_digest(f"{repo}:{tag}")
                if at is not None:
                    reachable |= _closure(repo, at, known)
        result.reachable[repo] = len(reachable)
        candidates: dict[str, str] = {}
        grace_kept = [d for d, when in recorded.items() if now - when < grace]
        for digest, when in recorded.items():
            if now - when < grace:
                continue
            if not registry.read_present(f"{repo}@{digest}"):
                continue  # gone already
            for d in sorted(_closure(repo, digest, known)):
                if d not in reachable and d not in grace_kept and d not in candidates:
                    candidates[d] = (
                        "no tag reaches it" if d == digest else f"held by {digest[:19]}…"
                    )
        for tag, subject in artifacts.items():
            if subject in candidates:
                at = registry.head_digest(f"{repo}:{tag}")
                if at is not None and at not in reachable:
                    candidates.setdefault(at, f"cosign {tag.rpartition('.')[2]} of {subject[:19]}…")
        if candidates:
            result.candidates[repo] = candidates
        if grace_kept:
            result.in_grace[repo] = grace_kept
    return result


def delete(result: Collection) -> None:
    """Delete every candidate by digest: indexes and artifacts first, then what they held."""
    for repo, candidates in result.candidates.items():
        held = {d for d, why in candidates.items() if why.startswith("held by")}
        order = [d for d in candidates if d not in held] + [d for d in candidates if d in held]
        for digest in order:
            ref = f"{repo}@{digest}"
            reg, path, _, _ = split_reference(ref)
            try:
                answer = session().request(
                    "DELETE", reg, f"/v2/{path}/manifests/{digest}", deadline=_deadline()
                )
            except (OSError, registry.NoAnswer) as exc:
                result.failed.append((ref, str(exc)))
                continue
            if answer.status in (200, 202, 404):
                result.deleted.append(ref)
            else:
                words = registry._registry_words(answer.body)
                result.failed.append((ref, f"HTTP {answer.status}: {words or 'refused'}"))


def _deadline() -> float:
    return time.monotonic() + registry.write_timeout()


def run_gc(work: Path, *, grace: float, remove: bool) -> Collection:
    """gc for the project whose `.bakepy/` is `work`."""
    result = collect(read_pushed(work), grace=grace)
    if remove:
        delete(result)
    return result


def ecr_lifecycle_policy(grace: float) -> dict[str, object]:
    """The ECR lifecycle policy of the same rules: untagged images expire once older than the grace period
    (in whole days, at least one). ECR does not expire an image an image index still references, so the
    children of a tagged multi-arch index stay (its documentation on lifecycle policies and image indexes)."""
    days = max(1, int(-(-grace // 86400)))
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"bakepy gc: untagged images pushed more than {days} day(s) ago",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": days,
                },
                "action": {"type": "expire"},
            }
        ]
    }
