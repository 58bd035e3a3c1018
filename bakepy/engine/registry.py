"""Registry reads: what a reference points at now, over plain HTTP where the registry is open, else through buildx.

Open registries (loopback, in-cluster mirrors) are read anonymously over HTTP with the exact bytes, so digests
are computed, never parsed from a tool's text. Anything that wants credentials falls back to `imagetools inspect`,
so registry auth stays the Docker credential store's: bakepy never sees a secret."""

from __future__ import annotations

import functools
import hashlib
import http.client
import io
import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bakepy.engine.runner import Runner, registry_hint
from bakepy.errors import ConfigError, RegistryError
from bakepy.publish.index import INDEX_MEDIA_TYPES, ImageIndex, parse_index, split_reference

_ACCEPT = ", ".join(
    (
        *INDEX_MEDIA_TYPES,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_HTTP = urllib.request.build_opener()


class NoAnswer(Exception):
    """The anonymous read cannot tell: ask buildx, which has the credential store."""


def _url(ref: str, *, blob: str | None = None) -> str:
    registry, path, tag, digest = split_reference(ref)
    if registry == "docker.io":
        raise NoAnswer  # anonymous manifest reads count against Docker Hub's pull limits
    host = registry.split("]")[0] + "]" if registry.startswith("[") else registry.rsplit(":", 1)[0]
    scheme = "http" if host in _LOOPBACK else "https"  # buildx talks plain HTTP to loopback too
    if blob is not None:
        return f"{scheme}://{registry}/v2/{path}/blobs/{blob}"
    return f"{scheme}://{registry}/v2/{path}/manifests/{digest or tag or 'latest'}"


class _Pool(threading.local):
    """This thread's open connections, one per scheme and host: a registry answers many requests in a row, and
    a kept-alive connection saves a connect and urllib's handler chain on each (~1.4 ms of 3 on loopback)."""

    def __init__(self) -> None:
        self.connections = _Connections()


class _Connections(dict[tuple[str, str], http.client.HTTPConnection]):
    """Closes its connections when its thread ends (a worker of a pool), before their sockets are collected."""

    def __del__(self) -> None:
        for conn in self.values():
            conn.close()


_POOL = _Pool()


# What urllib reads to choose a proxy (`getproxies_environment`, `proxy_bypass_environment`), in both cases.
_PROXY_VARIABLES = tuple(
    v
    for name in ("http_proxy", "https_proxy", "no_proxy", "request_method")
    for v in (name, name.upper())
)


def _direct(scheme: str, host: str) -> bool:
    """Whether a plain connection goes where urllib would go (no proxy from the environment applies).

    Decided once per host and proxy setting: urllib's own answer walks the whole environment, ~0.3 ms of every
    request (a merge makes a hundred)."""
    return _direct_for(scheme, host, tuple(os.environ.get(v) for v in _PROXY_VARIABLES))


@functools.lru_cache(maxsize=256)
def _direct_for(scheme: str, host: str, _setting: tuple[str | None, ...]) -> bool:
    proxies = urllib.request.getproxies()
    return scheme not in proxies or bool(urllib.request.proxy_bypass(host))


def _exchange(request: urllib.request.Request, timeout: float) -> tuple[int, bytes, Any]:
    """Send `request`; (status, body, headers) for an answer below 400, `urllib.error.HTTPError` otherwise.

    Over a kept-alive connection of this thread where no proxy applies (a reused connection the registry has
    closed meanwhile is retried once on a fresh one: every request here is idempotent); through urllib, which
    also follows redirects, otherwise."""
    parts = urllib.parse.urlsplit(request.full_url)
    key = (parts.scheme, parts.netloc)
    if not _direct(parts.scheme, parts.hostname or ""):
        return _through_urllib(request, timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = dict(request.header_items())
    for attempt in range(2):
        conn = _POOL.connections.get(key)
        reused = conn is not None
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parts.netloc, timeout=timeout)
            _POOL.connections[key] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request(request.get_method(), target, body=request.data, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            del _POOL.connections[key]
            if reused and attempt == 0:
                continue
            raise urllib.error.URLError(exc) from exc
        except BaseException:
            conn.close()
            del _POOL.connections[key]
            raise
        if response.will_close:
            conn.close()
            del _POOL.connections[key]
        if 300 <= response.status < 400:  # a redirect (blob storage): urllib follows it
            return _through_urllib(request, timeout)
        if response.status >= 400:
            raise urllib.error.HTTPError(
                request.full_url,
                response.status,
                response.reason,
                response.headers,
                io.BytesIO(body),
            )
        return response.status, body, response.headers
    raise AssertionError("unreachable")


def _through_urllib(request: urllib.request.Request, timeout: float) -> tuple[int, bytes, Any]:
    with _HTTP.open(request, timeout=timeout) as response:
        return response.status, response.read(), response.headers


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, bytes, Any]:
    """(status, body, headers); a 404 from an open registry is an answer, anything unclear is `NoAnswer`."""
    try:
        return _exchange(request, timeout)
    except urllib.error.HTTPError as exc:
        with exc:  # an error response holds its connection open until closed
            if exc.code == 404 and exc.headers.get("WWW-Authenticate") is None:
                return 404, b"", exc.headers
            raise NoAnswer from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise NoAnswer from exc


def head_digest(ref: str, *, timeout: float = 10.0) -> str | None:
    """The digest `ref` points at now, from one HEAD (no body); None when it does not exist.

    Raises `NoAnswer` where the registry is not open or does not send `Docker-Content-Digest`.
    """
    request = urllib.request.Request(_url(ref), method="HEAD", headers={"Accept": _ACCEPT})
    status, _, headers = _open(request, timeout)
    if status == 404:
        return None
    digest = headers.get("Docker-Content-Digest")
    if not digest:
        raise NoAnswer
    return str(digest)


def read_anonymously(ref: str, *, timeout: float = 10.0) -> ImageIndex | None:
    """Read `ref` over the registry HTTP API without credentials (bakepy never handles a secret).

    Returns the index, or None when the registry says plainly that it does not exist. Raises `NoAnswer` for
    anything less certain (auth required, a token-gated 404, TLS or network trouble, Docker Hub's pull quota),
    so the caller falls back to `imagetools inspect`.
    """
    digest = split_reference(ref)[3]
    request = urllib.request.Request(_url(ref), headers={"Accept": _ACCEPT})
    status, body, headers = _open(request, timeout)
    if status == 404:
        return None
    header_digest = headers.get("Docker-Content-Digest")
    computed = "sha256:" + hashlib.sha256(body).hexdigest()
    if (digest and computed != digest) or (header_digest and header_digest != computed):
        raise NoAnswer  # not the bytes we asked for: let buildx handle it
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise NoAnswer from exc
    doc["digest"], doc["size"] = computed, len(body)
    return parse_index(doc, body)


def inspect(runner: Runner, ref: str) -> ImageIndex | None:
    """What `ref` points at now, or None when it does not exist.

    Open registries (loopback, in-cluster mirrors) answer over plain HTTP in milliseconds; anything that needs
    credentials goes through `docker buildx imagetools inspect` and the Docker credential store.
    """
    try:
        return read_anonymously(ref)
    except NoAnswer:
        pass
    doc = runner.imagetools_inspect(ref)
    return None if doc is None else parse_index(doc)


def inspect_many(
    runner: Runner,
    refs: Sequence[str],
    *,
    known: Mapping[str, ImageIndex] | None = None,
    workers: int = 8,
) -> dict[str, ImageIndex | None]:
    """`inspect` for many references at once, side by side, HEAD first.

    `known` maps digests whose content is already known (a source, the index a run created): a reference whose
    HEAD answers one of them costs one HEAD and no GET. Everything else is read in full.
    """
    unique = list(dict.fromkeys(refs))
    cache = dict(known or {})

    def one(ref: str) -> ImageIndex | None:
        if cache and split_reference(ref)[3] is None:
            try:
                digest = head_digest(ref)
            except NoAnswer:
                digest = ""
            if digest is None:
                return None
            if digest in cache:
                return cache[digest]
        return inspect(runner, ref)

    if len(unique) <= 1:
        return {ref: one(ref) for ref in unique}
    with ThreadPoolExecutor(max_workers=min(workers, len(unique))) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


def config_platform(runner: Runner, ref: str) -> str | None:
    """The `os/arch[/variant]` an image manifest's config says (`ref` is `repo@digest` of one image manifest).

    Open registries: two GETs (the manifest, its config blob). Otherwise `imagetools inspect`'s image config.
    None when the config names no platform.
    """
    doc: Mapping[str, Any] | None
    try:
        request = urllib.request.Request(_url(ref), headers={"Accept": _ACCEPT})
        status, body, _ = _open(request, 10.0)
        if status == 404:
            return None
        config = json.loads(body).get("config") or {}
        blob = urllib.request.Request(_url(ref, blob=str(config.get("digest"))))
        status, body, _ = _open(blob, 10.0)
        doc = json.loads(body) if status != 404 else None
    except (NoAnswer, ValueError, AttributeError):
        doc = runner.imagetools_image_config(ref)
    if not doc or not doc.get("os") or not doc.get("architecture"):
        return None
    parts = [str(doc["os"]), str(doc["architecture"])]
    if doc.get("variant"):
        parts.append(str(doc["variant"]))
    return "/".join(parts)


def delete_tag(ref: str, *, digest: str, others_safe: bool) -> bool:
    """Remove a tag this run created, where the registry lets an anonymous client do so. True if it is gone.

    OCI distribution 1.1 deletes a tag alone (`DELETE /manifests/TAG`). Older registries (distribution 2.x) only
    delete a manifest by digest, which removes every tag naming it: done only when `others_safe` (the caller
    checked no tag that existed before the run names `digest`).
    """
    registry, path, _, _ = split_reference(ref)
    for target, allowed in ((ref, True), (f"{registry}/{path}@{digest}", others_safe)):
        if not allowed:
            continue
        try:
            request = urllib.request.Request(_url(target), method="DELETE")
            status, _, _ = _open(request, 10.0)
        except NoAnswer:
            continue
        if status in (200, 202, 404):
            try:
                if head_digest(ref) is None:
                    return True
            except NoAnswer:
                return False
    return False


def put_manifest_by_digest(repository: str, body: bytes, media_type: str) -> str:
    """Push a manifest or index by digest (no tag) where the registry takes anonymous writes (loopback, open
    in-cluster registries). Returns its digest; `NoAnswer` where the registry wants credentials, which only
    buildx's credential store has."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    request = urllib.request.Request(
        _url(f"{repository}@{digest}"),
        data=body,
        method="PUT",
        headers={"Content-Type": media_type},
    )
    status, _, headers = _open(request, 30.0)
    if status not in (200, 201) or headers.get("Docker-Content-Digest", digest) != digest:
        raise NoAnswer
    return digest


# -- tag moves ------------------------------------------------------------------------------------------
WRITE_TIMEOUT_ENV = "BAKEPY_REGISTRY_TIMEOUT"
IN_DOUBT_GRACE = 120.0
"""After the timeout, how long a write already sent is still waited for: a write abandoned mid-flight may land
after the roll back, so the roll back waits for its answer (or for the connection to end)."""


def write_timeout() -> float:
    """Seconds a tag move may take before the run fails (`BAKEPY_REGISTRY_TIMEOUT`, default 60). A value that is
    not a positive number is a `ConfigError`: publish and merge read it before anything is built or moved."""
    text = os.environ.get(WRITE_TIMEOUT_ENV, "").strip()
    if not text:
        return 60.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(
            f"{WRITE_TIMEOUT_ENV}={text!r} in the environment: not a number of seconds",
            hint=f"set {WRITE_TIMEOUT_ENV} to the seconds a tag move may take (e.g. 60), or unset it",
        )
    return seconds


def _registry_words(body: bytes) -> str:
    """The registry's own error text (`{"errors": [{"code", "message"}]}`), else the start of the body."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip()


def put_tag(ref: str, body: bytes, media_type: str, *, timeout: float, retries: int = 1) -> None:
    """Point the tag `ref` at the manifest `body` (already present by digest): one PUT, the floor of a tag move.

    Raises `NoAnswer` where the registry wants credentials or speaks TLS Python cannot verify (the caller moves
    those tags with `imagetools create` and the credential store), `RegistryError` with the registry's own words
    for any other refusal, a reset (after `retries` more tries, as buildx retries) or no answer in `timeout`.
    """
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    url = _url(ref)
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"Content-Type": media_type}
        )
        try:
            _, _, headers = _exchange(request, timeout)
            answered = headers.get("Docker-Content-Digest", digest)
            if answered != digest:
                raise RegistryError(f"{ref}: the registry stored {answered}, not {digest}")
            return
        except urllib.error.HTTPError as exc:
            with exc:
                words = _registry_words(exc.read())
                if exc.code in (401, 403) or exc.headers.get("WWW-Authenticate"):
                    raise NoAnswer from exc
                if exc.code >= 500 and attempt < retries:
                    time.sleep(0.2)
                    continue
                raise RegistryError(
                    f"{ref}: the registry answered {exc.code} to the tag move: {words or exc.reason}",
                    hint=registry_hint(words),
                ) from None
        except (TimeoutError, ssl.SSLError, ConnectionRefusedError) as exc:
            if isinstance(exc, TimeoutError):
                raise RegistryError(
                    f"{ref}: no answer to the tag move within {timeout:g} s"
                ) from None
            raise NoAnswer from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (ssl.SSLError, ConnectionRefusedError)):
                raise NoAnswer from exc
            if isinstance(exc.reason, TimeoutError):
                raise RegistryError(
                    f"{ref}: no answer to the tag move within {timeout:g} s"
                ) from None
            if attempt < retries:
                continue
            raise RegistryError(f"{ref}: the tag move failed: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:  # reset, closed without an answer
            if attempt < retries:
                continue
            raise RegistryError(f"{ref}: the tag move failed: {exc}") from None
