"""What a reference points at: `ImageIndex`, with attestation manifests told apart from platform images.

Pure parsing of the manifest JSON a registry returns (buildx#1509: attestations show up as `unknown/unknown`,
so they are counted apart, never as platforms). Reading it from a registry is `bakepy.engine.registry`'s job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bakepy.errors import RegistryError

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
    annotations: Mapping[str, str] = field(default_factory=dict)  # the descriptor's own annotations

    def descriptor(self) -> dict[str, Any]:
        """This entry as an OCI descriptor in an index (platform and annotations as the source had them)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            os_, arch, *variant = self.platform.split("/")
            out["platform"] = {
                "architecture": arch,
                "os": os_,
                **({"variant": variant[0]} if variant else {}),
            }
        elif self.attests is not None:
            out["platform"] = {"architecture": "unknown", "os": "unknown"}
        return out


@dataclass(frozen=True)
class ImageIndex:
    """What a reference resolves to. A single image manifest is shown as an index of one, `is_index=False`."""

    digest: str
    media_type: str
    manifests: tuple[ManifestEntry, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    is_index: bool = True
    size: int = 0
    raw: bytes | None = field(
        default=None, compare=False, repr=False
    )  # the exact bytes, when read or made here

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


def parse_index(doc: Mapping[str, Any], raw: bytes | None = None) -> ImageIndex:
    """An `imagetools inspect --format '{{json .Manifest}}'` document → ImageIndex (`raw`: its exact bytes)."""
    media_type = str(doc.get("mediaType", ""))
    digest = str(doc.get("digest", ""))
    if "manifests" not in doc:  # a single image manifest
        entry = ManifestEntry(digest, media_type, int(doc.get("size", 0)), None)
        return ImageIndex(digest, media_type, (entry,), is_index=False, size=entry.size, raw=raw)
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
                annotations={str(k): str(v) for k, v in ann.items()},
            )
        )
    annotations = dict(doc.get("annotations") or {})
    return ImageIndex(
        digest, media_type, tuple(entries), annotations, size=int(doc.get("size", 0)), raw=raw
    )


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def merged_index(
    sources: Sequence[ImageIndex], annotations: Mapping[str, str] = {}
) -> tuple[bytes, ImageIndex]:
    """The OCI index made of every manifest of `sources`, in order (images and their attestation manifests),
    with `annotations` (`index:`-prefixed keys, as `imagetools create --annotation` takes them): its exact bytes
    and what it is. Pure: the digest is known before anything is pushed."""
    manifests: list[dict[str, Any]] = []
    for source in sources:
        if source.is_index:
            manifests += [m.descriptor() for m in source.manifests]
        else:  # a plain image manifest: its descriptor, with the platform the plan labelled it with
            (entry,) = source.manifests
            manifests.append(replace(entry, size=entry.size or source.size).descriptor())
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    extra = {k.removeprefix("index:"): v for k, v in annotations.items()}
    if extra:
        doc["annotations"] = extra
    body = json.dumps(doc, indent=2).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return body, parse_index({**doc, "digest": digest, "size": len(body)}, body)
