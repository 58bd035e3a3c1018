"""Signed before visible: every staged index signed and its signature verified before the first tag moves.

Between staging (every target's index exists by digest in every registry) and the commit (tags move), the
transaction calls `sign_staged`: cosign signs each index (and, with `[project.sign] manifests`, each platform
manifest) in every repository where tags will move, then verifies every signature against the configured key or
keyless identity. Any failure raises `SigningError` before a tag moves; the signatures this run already pushed
are taken back (cosign's tag scheme keeps them under `REPO:sha256-HEX.sig`: that tag is put back where it was, or
deleted where it did not exist and the registry allows it) and named. So `latest` never points at an unsigned
index, and admission policies that check the index digest (cosign#320) never see one.

cosign v2 writes signatures in its tag scheme (`sha256-HEX.sig`) on every registry, OCI 1.1 referrers or not;
the summary says so."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from bakepy.engine import registry
from bakepy.engine.cosign import Cosign
from bakepy.errors import BakepyError, RegistryError, SigningError
from bakepy.publish.merge import Staged

SCHEME = "cosign's tag scheme (REPO:sha256-HEX.sig)"


@dataclass(frozen=True)
class SignReport:
    signed: tuple[str, ...]  # `REPO@DIGEST`, every one verified
    scheme: str = SCHEME

    def describe(self) -> str:
        repos = {ref.partition("@")[0] for ref in self.signed}
        return (
            f"signed and verified {len(self.signed)} digest(s) in {len(repos)} repositories before any "
            f"tag moved; signatures in {self.scheme}"
        )


def signature_tag(ref: str) -> str:
    """`REPO@sha256:HEX` → `REPO:sha256-HEX.sig`, where cosign keeps its signatures."""
    repo, _, digest = ref.partition("@")
    return f"{repo}:{digest.replace(':', '-')}.sig"


def targets_of(staged: Sequence[Staged], *, manifests: bool) -> list[str]:
    """Every `REPO@DIGEST` to sign: each index where its tags move, and its platform images with `manifests`."""
    refs: list[str] = []
    for s in staged:
        digests = [s.digest]
        if manifests:
            digests += [m.digest for m in s.index.images if m.digest != s.digest]
        for d in s.merge.decisions:
            if d.move:
                refs += [f"{d.repository}@{x}" for x in digests]
    return list(dict.fromkeys(refs))


def sign_staged(cosign: Cosign, staged: Sequence[Staged], *, workers: int = 4) -> SignReport:
    """Sign and verify every staged index before the commit; on failure take back what was signed and raise."""
    refs = targets_of(staged, manifests=cosign.settings.manifests)
    if not refs:
        return SignReport(())
    before: dict[str, str | None] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(refs)))) as pool:
        tags = [signature_tag(r) for r in refs]
        for tag, digest in zip(tags, pool.map(_read_or_none, tags), strict=True):
            before[tag] = digest
        try:
            for step in (cosign.sign, cosign.verify):
                # every push settled before anything is judged: a signature still on its way when the take-back
                # ran would land after it and stay
                futures = [pool.submit(step, r) for r in refs]
                wait(futures)
                for future in futures:
                    future.result()
        except SigningError as exc:
            taken = take_back(before)
            raise SigningError(
                f"{exc.message}; no tag was moved; {taken}",
                hint="check the key, its password (COSIGN_PASSWORD) or the keyless identity, then "
                "publish again (--debug shows cosign's output)",
                detail=exc.detail,
            ) from exc
    return SignReport(tuple(refs))


def _read_or_none(tag: str) -> str | None:
    try:
        return registry.head_digest(tag)
    except (registry.NoAnswer, RegistryError):
        return None


def take_back(before: dict[str, str | None]) -> str:
    """Put every signature tag back where it was before this run (deleted where it did not exist); say what was
    done and what could not be."""
    restored: list[str] = []
    left: list[str] = []
    for tag, old in before.items():
        try:
            now = registry.head_digest(tag)
            if now == old:
                continue
            if old is None:
                assert now is not None
                if registry.delete_tag(tag, digest=now, others_safe=True):
                    restored.append(tag)
                else:
                    left.append(tag)
                continue
            index = registry.read(f"{tag.rpartition(':')[0]}@{old}")
            if index is None or index.raw is None:
                left.append(tag)
                continue
            registry.put_tag(tag, index.raw, index.media_type, timeout=registry.write_timeout())
            restored.append(tag)
        except (registry.NoAnswer, BakepyError):
            left.append(tag)
    if not restored and not left:
        return "no signature had been pushed"
    parts = [f"took back {len(restored)} signature(s) this run had pushed"] if restored else []
    if left:
        parts.append(
            f"COULD NOT take back the signature(s) {', '.join(left)} (harmless: no tag names the index)"
        )
    return "; ".join(parts)
