"""Registry reads: what a reference points at now, over plain HTTP where the registry is open, else through buildx.

Open registries (loopback, in-cluster mirrors) are read anonymously over HTTP with the exact bytes, so digests
are computed, never parsed from a tool's text. Anything that wants credentials falls back to `imagetools inspect`,
so registry auth stays the Docker credential store's: bakepy never sees a secret."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from bakepy.engine.runner import Runner
from bakepy.publish.index import INDEX_MEDIA_TYPES, ImageIndex, parse_index, split_reference

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
