"""A tiny client of the distribution registry HTTP API, independent of bakepy and buildx.

E2E tests check what was published through this module only, so a bug shared by bakepy and buildx cannot
hide itself. Plain HTTP on loopback registries, standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
ATTESTATION_REFERENCE_TYPE = "vnd.docker.reference.type"

Json = dict[str, Any]

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RegistryAPIError(Exception):
    """An HTTP error from the registry, with its status code."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url}: HTTP {status}: {body[:500]}")
        self.status = status


def _request(
    method: str,
    url: str,
    *,
    accept: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": accept} if accept else {}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _HTTP.open(request, timeout=30) as response:
            return int(response.status), dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        raise RegistryAPIError(method, url, exc.code, exc.read().decode(errors="replace")) from None


def _url(registry: str, repository: str, kind: str, reference: str = "") -> str:
    return f"http://{registry}/v2/{repository}/{kind}" + (f"/{reference}" if reference else "")


def get_manifest(registry: str, repository: str, reference: str) -> tuple[str, Json]:
    """The manifest or index at a tag or digest: (its ``Docker-Content-Digest``, its parsed JSON)."""
    url = _url(registry, repository, "manifests", reference)
    _, headers, body = _request("GET", url, accept=MANIFEST_ACCEPT)
    digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest", "")
    document: Json = json.loads(body)
    return digest, document


def get_manifest_raw(registry: str, repository: str, reference: str) -> tuple[bytes, str]:
    """The manifest or index at a tag or digest as the registry stores it: (its bytes, its media type)."""
    url = _url(registry, repository, "manifests", reference)
    _, headers, body = _request("GET", url, accept=MANIFEST_ACCEPT)
    media_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    return body, media_type


def put_manifest(
    registry: str, repository: str, reference: str, body: bytes, media_type: str
) -> str:
    """PUT a manifest or index under a tag or digest (its children must be in the repository): its digest."""
    url = _url(registry, repository, "manifests", reference)
    _, headers, _ = _request("PUT", url, body=body, content_type=media_type)
    return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest", "")


def get_blob(registry: str, repository: str, digest: str) -> bytes:
    """A blob (config or layer) by digest."""
    return _request("GET", _url(registry, repository, "blobs", digest))[2]


def list_tags(registry: str, repository: str) -> list[str]:
    """The repository's tags, sorted; ``[]`` if the repository does not exist."""
    try:
        _, _, body = _request("GET", _url(registry, repository, "tags/list"))
    except RegistryAPIError as exc:
        if exc.status == 404:
            return []
        raise
    tags = json.loads(body).get("tags") or []
    return sorted(str(tag) for tag in tags)


def repository_exists(registry: str, repository: str) -> bool:
    """Whether anything was ever pushed to the repository (a push by digest too: it makes the repository)."""
    # tags/list says 404 for a repository holding only untagged manifests: walk the catalog (sorted, paged).
    last = ""
    while True:
        url = f"http://{registry}/v2/_catalog?n=1000" + (f"&last={last}" if last else "")
        _, headers, body = _request("GET", url)
        names = [str(n) for n in json.loads(body).get("repositories") or []]
        if repository in names:
            return True
        if not names or "link" not in {k.lower() for k in headers}:
            return False
        last = names[-1]


def delete_manifest(registry: str, repository: str, digest: str) -> None:
    """Delete a manifest by digest (needs ``storage.delete.enabled`` on the registry)."""
    _request("DELETE", _url(registry, repository, "manifests", digest))


def is_index(document: Json) -> bool:
    return document.get("mediaType") in INDEX_TYPES or "manifests" in document


def is_attestation(descriptor: Json) -> bool:
    annotations = descriptor.get("annotations") or {}
    return annotations.get(ATTESTATION_REFERENCE_TYPE) == "attestation-manifest"


def platform_string(descriptor: Json) -> str:
    """``os/arch[/variant]`` of an index entry."""
    platform = descriptor.get("platform") or {}
    parts = [platform.get("os", "unknown"), platform.get("architecture", "unknown")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def image_manifests(index: Json) -> dict[str, Json]:
    """The index's image manifest descriptors by platform, attestation manifests left out."""
    return {
        platform_string(descriptor): descriptor
        for descriptor in index.get("manifests", [])
        if not is_attestation(descriptor) and platform_string(descriptor) != "unknown/unknown"
    }


def platforms(index: Json) -> set[str]:
    """Platforms of the index's image manifests, e.g. ``{"linux/amd64", "linux/arm64"}``."""
    return set(image_manifests(index))


def attestations(index: Json) -> list[Json]:
    """The index's attestation manifest descriptors."""
    return [d for d in index.get("manifests", []) if is_attestation(d)]
