"""What is in a registry, and the merge that creates tags: `imagetools inspect` / `imagetools create`.

Reading goes through buildx (`imagetools inspect`) so registry auth is the Docker credential store's: bakepy never
sees a secret. `ImageIndex` is what a reference points at, with attestation manifests told apart from platform
images (buildx#1509: attestations show up as `unknown/unknown`). `MergeStep` is one `imagetools create` for one
target in one registry with all of that registry's tags; `merge_all` runs them, registries in parallel.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bakepy.errors import RegistryError
from bakepy.plan import imagetools_create_argv
from bakepy.runner import Runner

ATTESTATION_REF_TYPE = "vnd.docker.reference.type"
ATTESTATION_DIGEST = "vnd.docker.reference.digest"
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def split_reference(ref: str) -> tuple[str, str, str | None, str | None]:
    """`host:5000/a/b:tag@sha256:…` → (registry, repository path, tag, digest). Docker Hub names get docker.io."""
    rest, _, digest = ref.partition("@")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
    first, _, remainder = name.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "docker.io", name if "/" in name else f"library/{name}"
    return registry, path, tag, digest or None


def repository_of(ref: str) -> str:
    """The repository-only reference (`host/path`) of a reference."""
    registry, path, _, _ = split_reference(ref)
    return f"{registry}/{path}"


@dataclass(frozen=True)
class ManifestEntry:
    digest: str
    media_type: str
    size: int
    platform: str | None  # os/arch[/variant]; None for attestation manifests
    attests: str | None = None  # for an attestation manifest: the digest of the image it describes


@dataclass(frozen=True)
class ImageIndex:
    """What a reference resolves to. A single image manifest is shown as an index of one, `is_index=False`."""

    digest: str
    media_type: str
    manifests: tuple[ManifestEntry, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    is_index: bool = True
    size: int = 0

    @property
    def images(self) -> tuple[ManifestEntry, ...]:
        return tuple(m for m in self.manifests if m.attests is None)

    @property
    def attestations(self) -> tuple[ManifestEntry, ...]:
        return tuple(m for m in self.manifests if m.attests is not None)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(m.platform or "unknown/unknown" for m in self.images)

    def platform_digests(self) -> dict[str, str]:
        """platform → image manifest digest; duplicate platforms raise (imagetools does not guard, buildx#1509)."""
        seen: dict[str, str] = {}
        for m in self.images:
            key = m.platform or "unknown/unknown"
            if key in seen and seen[key] != m.digest:
                raise RegistryError(
                    f"{self.digest} holds two images for platform {key}: {seen[key]} and {m.digest}"
                )
            seen[key] = m.digest
        return seen


def _platform_string(p: Mapping[str, Any] | None) -> str | None:
    if not p:
        return None
    parts = [str(p.get("os", "")), str(p.get("architecture", ""))]
    if p.get("variant"):
        parts.append(str(p["variant"]))
    return "/".join(parts)


def parse_index(doc: Mapping[str, Any]) -> ImageIndex:
    """An `imagetools inspect --format '{{json .Manifest}}'` document → ImageIndex."""
    media_type = str(doc.get("mediaType", ""))
    digest = str(doc.get("digest", ""))
    if "manifests" not in doc:  # a single image manifest
        entry = ManifestEntry(digest, media_type, int(doc.get("size", 0)), None)
        return ImageIndex(digest, media_type, (entry,), is_index=False, size=entry.size)
    entries = []
    for m in doc["manifests"]:
        ann = m.get("annotations") or {}
        is_attestation = ann.get(ATTESTATION_REF_TYPE) == "attestation-manifest"
        entries.append(
            ManifestEntry(
                digest=str(m["digest"]),
                media_type=str(m.get("mediaType", "")),
                size=int(m.get("size", 0)),
                platform=None if is_attestation else _platform_string(m.get("platform")),
                attests=str(ann.get(ATTESTATION_DIGEST, "")) if is_attestation else None,
            )
        )
    annotations = dict(doc.get("annotations") or {})
    return ImageIndex(digest, media_type, tuple(entries), annotations, size=int(doc.get("size", 0)))


_ACCEPT = ", ".join(
    (
        *INDEX_MEDIA_TYPES,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class _NoAnswer(Exception):
    """The anonymous read cannot tell: ask buildx, which has the credential store."""


def read_anonymously(ref: str, *, timeout: float = 10.0) -> ImageIndex | None:
    """Read `ref` over the registry HTTP API without credentials (bakepy never handles a secret).

    Returns the index, or None when the registry says plainly that it does not exist. Raises `_NoAnswer` for
    anything less certain (auth required, a token-gated 404, TLS or network trouble, Docker Hub's pull quota),
    so the caller falls back to `imagetools inspect`.
    """
    registry, path, tag, digest = split_reference(ref)
    if registry == "docker.io":
        raise _NoAnswer  # anonymous manifest reads count against Docker Hub's pull limits
    host = registry.split("]")[0] + "]" if registry.startswith("[") else registry.rsplit(":", 1)[0]
    scheme = (
        "http" if host in _LOOPBACK else "https"
    )  # buildx talks plain HTTP to loopback registries too
    url = f"{scheme}://{registry}/v2/{path}/manifests/{digest or tag or 'latest'}"
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            header_digest = response.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        with exc:  # an error response holds its connection open until closed
            if exc.code == 404 and exc.headers.get("WWW-Authenticate") is None:
                return None  # an open registry's plain answer
            raise _NoAnswer from exc
    except (OSError, ValueError) as exc:
        raise _NoAnswer from exc
    computed = "sha256:" + hashlib.sha256(body).hexdigest()
    if (digest and computed != digest) or (header_digest and header_digest != computed):
        raise _NoAnswer  # not the bytes we asked for: let buildx handle it
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise _NoAnswer from exc
    doc["digest"], doc["size"] = computed, len(body)
    return parse_index(doc)


def inspect(runner: Runner, ref: str) -> ImageIndex | None:
    """What `ref` points at now, or None when it does not exist.

    Open registries (loopback, in-cluster mirrors) answer over plain HTTP in milliseconds; anything that needs
    credentials goes through `docker buildx imagetools inspect` and the Docker credential store.
    """
    try:
        return read_anonymously(ref)
    except _NoAnswer:
        pass
    doc = runner.imagetools_inspect(ref)
    return None if doc is None else parse_index(doc)


def inspect_many(
    runner: Runner, refs: Sequence[str], *, workers: int = 8
) -> dict[str, ImageIndex | None]:
    """`inspect` for many references at once, side by side."""
    unique = list(dict.fromkeys(refs))
    if len(unique) <= 1:
        return {ref: inspect(runner, ref) for ref in unique}
    with ThreadPoolExecutor(max_workers=min(workers, len(unique))) as pool:
        return dict(zip(unique, pool.map(lambda ref: inspect(runner, ref), unique), strict=True))


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
