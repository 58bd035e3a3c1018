"""`bakepy promote`: a published index, with everything that refers to it, copied to other repositories or
registries, and all their tags moved at once — after its signature is checked.

promo-tools#1902 and go-containerregistry#1767: a promotion that copies the index alone drops its signatures and
SBOMs. Here, in order, nothing visible until the end:

1. the source is read by digest (a tag is resolved once: what is promoted is that digest, whatever the tag does
   meanwhile) and, with a policy, its signature verified;
2. the index, its platform manifests, their attestation manifests and every blob are copied by digest into each
   destination repository (`registry.copy`: same bytes, same digests);
3. what refers to it is copied too: cosign's signatures, attestations and SBOMs (its tag scheme,
   `sha256-HEX.sig|.att|.sbom`, for the index and each platform manifest) and, where the registry has the OCI 1.1
   referrers API, every referrer it lists; then, with a policy, the signature is verified in each destination;
4. the destination tags move with the publish transaction (`merge_collected`): all or none, read back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from bakepy.engine import registry
from bakepy.engine.cosign import Cosign
from bakepy.engine.runner import Runner
from bakepy.errors import ConfigError, RegistryError
from bakepy.publish.index import ImageIndex, repository_of, split_reference
from bakepy.publish.sources import TargetSpec, collect_all
from bakepy.publish.verify import Published

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")


@dataclass(frozen=True)
class Promotion:
    source: str  # `REPO@DIGEST`
    tags: tuple[str, ...]  # full destination references
    referrers: tuple[str, ...]  # `REPO:TAG` or `REPO@DIGEST` copied beside the index
    published: tuple[Published, ...]
    verified: bool


def destinations(source: str, to: Sequence[str]) -> tuple[str, ...]:
    """Every `--to` as a full tag reference: `REPO:TAG` as given, `REPO` with the source's tag."""
    tag = split_reference(source)[2]
    out = []
    for dest in to:
        registry_, path, dest_tag, digest = split_reference(dest)
        if digest is not None:
            raise ConfigError(f"--to {dest!r}: name a repository or a tag, not a digest")
        chosen = dest_tag or tag
        if chosen is None:
            raise ConfigError(
                f"--to {dest!r}: the source is a digest, so name the tag: {dest}:1.2.3",
                hint="bakepy promote REPO@sha256:… --to other/repo:1.2.3",
            )
        out.append(f"{registry_}/{path}:{chosen}")
    return tuple(dict.fromkeys(out))


def _cosign_tags(repo: str, digests: Sequence[str]) -> list[str]:
    return [f"{repo}:{d.replace(':', '-')}{suffix}" for d in digests for suffix in COSIGN_SUFFIXES]


def _copy_tag(source_tag: str, target_repo: str) -> str | None:
    """Copy what `source_tag` names into `target_repo` under the same tag name; None when it does not exist."""
    found = registry.read(source_tag)
    if found is None or found.raw is None:
        return None
    registry.copy(f"{repository_of(source_tag)}@{found.digest}", target_repo)
    tag = f"{target_repo}:{split_reference(source_tag)[2]}"
    registry.put_tag(tag, found.raw, found.media_type, timeout=registry.write_timeout())
    return tag


def _referrers(repo: str, digest: str) -> list[str]:
    """`REPO@DIGEST` of every referrer the OCI 1.1 referrers API lists (none where the registry lacks it)."""
    registry_, path, _, _ = split_reference(repo)
    from bakepy.engine.transport import session

    with contextlib.suppress(registry.NoAnswer, OSError):
        answer = session().request("GET", registry_, f"/v2/{path}/referrers/{digest}")
        if answer.status == 200:
            with contextlib.suppress(ValueError, AttributeError):
                doc = json.loads(answer.body)
                return [
                    f"{repo}@{m['digest']}" for m in doc.get("manifests") or () if m.get("digest")
                ]
    return []


def copy_referrers(source_repo: str, index: ImageIndex, targets: Sequence[str]) -> list[str]:
    """Signatures, attestations and SBOMs of the index and its manifests, into every target repository."""
    digests = [index.digest, *(m.digest for m in index.manifests)]
    copied: list[str] = []
    for target in targets:
        for tag in _cosign_tags(source_repo, digests):
            done = _copy_tag(tag, target)
            if done is not None:
                copied.append(done)
        for digest in digests:
            for ref in _referrers(source_repo, digest):
                registry.copy(ref, target)
                copied.append(f"{target}@{ref.partition('@')[2]}")
    return copied


def promote(
    runner: Runner, source: str, to: Sequence[str], *, verifier: Cosign | None = None
) -> Promotion:
    """Copy `source` (a tag or digest) and everything referring to it to the `to` references; move their tags
    all or none, after `verifier` (if any) checked the signature at the source and in every destination."""
    from bakepy.publish.run import merge_collected

    tags = destinations(source, to)
    found = registry.inspect(runner, source)
    if found is None:
        raise RegistryError(f"{source} does not exist; nothing was promoted")
    source_repo = repository_of(source)
    pinned = f"{source_repo}@{found.digest}"
    if verifier is not None:
        verifier.verify(pinned)
    repos = tuple(dict.fromkeys(repository_of(t) for t in tags))
    for repo in repos:
        registry.copy(pinned, repo)
    referrers = copy_referrers(source_repo, found, repos)
    if verifier is not None:
        for repo in repos:
            verifier.verify(f"{repo}@{found.digest}")
    platforms = tuple(m.platform for m in found.images if m.platform) if found.is_index else ()
    spec = TargetSpec(source_repo.rpartition("/")[2] or "promote", platforms, repos, tags)
    collected = collect_all(runner, [(spec, [found.digest])])
    published = merge_collected(runner, collected)
    return Promotion(pinned, tags, tuple(referrers), tuple(published), verifier is not None)
