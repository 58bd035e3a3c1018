"""Registry reads and writes through the run's one client (`engine/transport.py`): what a reference points at,
indexes staged by digest, tags moved and put back, images copied between repositories.

Every call goes over the registry HTTP API with docker's credentials (Basic or the token dance), TLS from
`certs.d`, retries and the run's deadline, on registries with and without a login. Digests are content: a
manifest read once in a run (by any registry) is not read again, only checked for presence with a HEAD; tags are
read fresh. `imagetools` (through the runner) remains only where the client cannot ask at all (`NoAnswer`: a
registry that wants a login docker has none for, a credential helper that fails); each such call is counted in
the session's stats (`--debug` prints them)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bakepy.engine.credentials import HUB_NAMES
from bakepy.engine.runner import Runner, registry_hint
from bakepy.engine.transport import NoAnswer, Response, Session, session
from bakepy.errors import ConfigError, RegistryError
from bakepy.publish.index import INDEX_MEDIA_TYPES, ImageIndex, parse_index, split_reference

__all__ = ["NoAnswer"]

_ACCEPT = ", ".join(
    (
        *INDEX_MEDIA_TYPES,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
READ_TIMEOUT = 30.0


class _Content:
    """Manifests by digest, as read in this run (content-addressed: the same bytes in every registry)."""

    def __init__(self) -> None:
        self.by_digest: dict[str, ImageIndex] = {}
        self.lock = threading.Lock()

    def get(self, digest: str | None) -> ImageIndex | None:
        if not digest:
            return None
        with self.lock:
            return self.by_digest.get(digest)

    def put(self, index: ImageIndex) -> None:
        if index.raw is not None:
            with self.lock:
                self.by_digest[index.digest] = index


_CONTENT = _Content()
# reference by digest → the session (run) that started its read early (`prefetch`), and that read
_PREFETCHED: dict[str, tuple[Session, Future[ImageIndex | None]]] = {}
# repository → the session that started reading its tag list early, and that read
_PREFETCHED_LISTS: dict[str, tuple[Session, Future[set[str] | None]]] = {}
_PREFETCH_LOCK = threading.Lock()


def prefetch(
    refs: Iterable[str],
    *,
    writes: Iterable[tuple[str, str]] = (),
    lists: Iterable[str] = (),
) -> None:
    """Start reading `refs` (references by digest; others are ignored) side by side in the background, and
    return at once: the run loads its project meanwhile, so their round trips (and each registry's `/v2/`
    challenge, logins, tokens and connections on the way) cost no time of their own. A digest names the same
    content for the whole run and the reads change nothing, so a read made early is as good as one made later.
    A later `read` of one of them takes its answer (waiting for it if need be); one that failed is simply read
    again, where its error is reported in context. `writes`: (registry, path) pairs the run will push to, so
    their tokens ask for `pull,push` at once (`Session.will_write`). `lists`: repositories whose tag list the
    run reads first (`tag_list_of_run`): read now, as the run's first read of them."""
    refs = [r for r in dict.fromkeys(refs) if split_reference(r)[3] is not None]
    repositories = list(dict.fromkeys(lists))
    if not refs and not repositories:
        return
    client = session()
    client.will_write(writes)
    pool = ThreadPoolExecutor(
        max_workers=workers_for([*refs, *repositories]), thread_name_prefix="bakepy-prefetch"
    )
    primed = pool.submit(client.prime, [split_reference(ref)[0] for ref in [*refs, *repositories]])

    def one(ref: str) -> ImageIndex | None:
        primed.result()  # one `/v2/` per registry, before any read
        return _read(ref, timeout=READ_TIMEOUT)

    def listed(repository: str) -> set[str] | None:
        primed.result()
        return tag_names(repository)

    with _PREFETCH_LOCK:
        for repository in repositories:
            if _PREFETCHED_LISTS.get(repository, (None,))[0] is not client:
                _PREFETCHED_LISTS[repository] = (client, pool.submit(listed, repository))
        for ref in refs:
            if _PREFETCHED.get(ref, (None,))[0] is not client:
                _PREFETCHED[ref] = (client, pool.submit(one, ref))
    pool.shutdown(wait=False)


def tag_list_of_run(repository: str) -> set[str] | None:
    """`tag_names(repository)` as the run's first read of it: the list `prefetch` started reading while the
    run loaded its project, taken once, or read now. Only for the reads a run starts with (what every tag
    holds before it moves anything), where that is the same read made a moment earlier: every tag is read
    again right before its move."""
    done, found = _take_early(_PREFETCHED_LISTS, repository)
    return found if done else tag_names(repository)


def _take_early(table: dict[str, tuple[Session, Future[Any]]], key: str) -> tuple[bool, Any]:
    """(True, its answer) when `prefetch` read `key` for this run (session) without error, taken once;
    (False, None) otherwise: the caller reads it again, and reports its error in context."""
    with _PREFETCH_LOCK:
        started = table.pop(key, None)
    if started is None or started[0] is not session():
        return False, None
    try:
        return True, started[1].result()
    except Exception:
        return False, None


def _path(ref: str, *, blob: str | None = None) -> tuple[str, str]:
    registry, path, tag, digest = split_reference(ref)
    if blob is not None:
        return registry, f"/v2/{path}/blobs/{blob}"
    return registry, f"/v2/{path}/manifests/{digest or tag or 'latest'}"


def _deadline(seconds: float | None = None) -> float:
    return time.monotonic() + (seconds if seconds is not None else write_timeout())


def _send(
    method: str,
    ref: str,
    *,
    blob: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = READ_TIMEOUT,
    deadline: float | None = None,
) -> Response:
    """One call of the registry API for `ref`; network failures after the retries are `RegistryError`."""
    registry, path = _path(ref, blob=blob)
    try:
        return session().request(
            method, registry, path, headers=headers, body=body, timeout=timeout, deadline=deadline
        )
    except NoAnswer:
        raise
    except ssl.SSLError as exc:
        raise RegistryError(
            f"{registry}: TLS failed ({exc.reason or exc})",
            hint=f"trust its CA in /etc/docker/certs.d/{registry}/ca.crt, "
            "or list it in BAKEPY_INSECURE_REGISTRIES if it speaks plain HTTP",
        ) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise RegistryError(
            f"{ref}: the registry did not answer ({type(exc).__name__}: {exc})",
            hint="check that the registry is up and reachable",
        ) from None


def _failed(ref: str, answer: Response, what: str) -> RegistryError:
    words = _registry_words(answer.body)
    return RegistryError(
        f"{ref}: the registry answered {answer.status} to {what}" + (f": {words}" if words else ""),
        hint=registry_hint(words),
    )


def _read_answer(ref: str, answer: Response, what: str) -> Response | None:
    """None for a plain 404; the answer below 400; `NoAnswer` where the login is missing or refused (buildx
    may still have a way); `RegistryError` for anything else."""
    if answer.status == 404:
        return None
    if answer.status in (401, 403):
        raise NoAnswer(f"{ref}: HTTP {answer.status}")
    if answer.status >= 400:
        raise _failed(ref, answer, what)
    return answer


def head_digest(ref: str, *, timeout: float = READ_TIMEOUT) -> str | None:
    """The digest `ref` points at now, from one HEAD (no body, and no pull counted on Docker Hub); None when it
    does not exist. A registry that sends no `Docker-Content-Digest` is read in full."""
    answer = _read_answer(
        ref, _send("HEAD", ref, headers={"Accept": _ACCEPT}, timeout=timeout), "a read"
    )
    if answer is None:
        return None
    digest = answer.headers.get("Docker-Content-Digest")
    if digest:
        return str(digest)
    found = _get(ref, None, timeout)
    return None if found is None else found.digest


def read(ref: str, *, timeout: float = READ_TIMEOUT) -> ImageIndex | None:
    """The manifest or index `ref` names, from its exact bytes (the digest computed, never trusted), or None
    when it does not exist. A reference by digest whose content this run already read costs one HEAD (none when
    `prefetch` read it)."""
    done, found = _take_early(_PREFETCHED, ref)
    return found if done else _read(ref, timeout=timeout)


def _read(ref: str, *, timeout: float) -> ImageIndex | None:
    registry, _, _, digest = split_reference(ref)
    if (
        digest is None and registry in HUB_NAMES
    ):  # Docker Hub counts GETs against its pull limit, not HEADs
        now = head_digest(ref, timeout=timeout)
        if now is None:
            return None
        return _read(f"{ref.partition('@')[0]}@{now}", timeout=timeout)
    cached = _CONTENT.get(digest)
    if cached is not None:
        answer = _read_answer(
            ref, _send("HEAD", ref, headers={"Accept": _ACCEPT}, timeout=timeout), "a read"
        )
        return None if answer is None else cached
    return _get(ref, digest, timeout)


def _get(ref: str, digest: str | None, timeout: float) -> ImageIndex | None:
    """GET `ref`'s manifest; its digest computed from the bytes and checked against `digest` and the header."""
    answer = _read_answer(
        ref, _send("GET", ref, headers={"Accept": _ACCEPT}, timeout=timeout), "a read"
    )
    if answer is None:
        return None
    body = answer.body
    computed = "sha256:" + hashlib.sha256(body).hexdigest()
    header_digest = answer.headers.get("Docker-Content-Digest")
    if (digest and computed != digest) or (header_digest and header_digest != computed):
        raise RegistryError(
            f"{ref}: the registry sent other bytes than the digest names ({computed})",
            hint="the registry or a proxy in between rewrites manifests",
        )
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise RegistryError(f"{ref}: the registry sent a manifest that is not JSON") from exc
    doc["digest"], doc["size"] = computed, len(body)
    index = parse_index(doc, body)
    _CONTENT.put(index)
    return index


read_anonymously = read  # the name earlier releases used


def count_fallback(what: str) -> None:
    """One call that had to go through buildx (counted for `--debug`)."""
    stats = session().stats
    stats.fallbacks[what] = stats.fallbacks.get(what, 0) + 1


def inspect(runner: Runner, ref: str) -> ImageIndex | None:
    """What `ref` points at now, or None when it does not exist: through the client; through
    `docker buildx imagetools inspect` only where the client cannot ask (`NoAnswer`)."""
    try:
        return read(ref)
    except NoAnswer:
        pass
    count_fallback("imagetools inspect")
    doc = runner.imagetools_inspect(ref)
    return None if doc is None else parse_index(doc)


PER_REGISTRY = 8
"""Reads in flight at once per registry: what a run asks of one registry side by side."""
WRITES_PER_REGISTRY = 4
"""Tag moves in flight at once per registry. Fewer than reads: the settle pause after a commit is twice its
slowest move's read-to-answer time (`bakepy.publish.merge.settle_pause`), and a registry that is busy answers each
move later the more of them it is sent at once. Measured on two loopback registries that were the bottleneck (3
targets x 5 tags x 2 registries, whole merges interleaved, 8 rounds, other work on the machine): 2, 4, 8 and 16
requests of every kind per registry took 619, 646, 716 and 798 ms (medians); 8 reads with 4 moves, 585 ms."""


def workers_for(refs: Iterable[str], per_registry: int = PER_REGISTRY) -> int:
    """Threads for one request per reference in `refs`: `per_registry` for each registry they name, and no
    more than there are references (at least one)."""
    refs = list(refs)
    registries = {split_reference(ref)[0] for ref in refs}
    return max(1, min(len(refs), per_registry * len(registries)))


def inspect_many(
    runner: Runner,
    refs: Sequence[str],
    *,
    known: Mapping[str, ImageIndex] | None = None,
) -> dict[str, ImageIndex | None]:
    """`inspect` for many references at once, side by side.

    A tag is asked with a HEAD first where its content may already be known (`known`, or read earlier in this
    run) and always on Docker Hub (HEADs do not count against its pull limit): a digest this run knows costs no
    GET. References by digest are checked for presence only, once their content is known."""
    unique = list(dict.fromkeys(refs))
    for index in (known or {}).values():
        _CONTENT.put(index)
    extra = dict(known or {})

    def one(ref: str) -> ImageIndex | None:
        registry, _, _, digest = split_reference(ref)
        if digest is None and (extra or _CONTENT.by_digest or registry in HUB_NAMES):
            try:
                now = head_digest(ref)
            except NoAnswer:
                return inspect(runner, ref)
            if now is None:
                return None
            found = extra.get(now) or _CONTENT.get(now)
            if found is not None:
                return found
            return inspect(runner, f"{ref.partition('@')[0]}@{now}")
        if digest is not None and digest in extra and _CONTENT.get(digest) is None:
            _CONTENT.put(extra[digest])
        return inspect(runner, ref)

    if len(unique) <= 1:
        return {ref: one(ref) for ref in unique}
    with ThreadPoolExecutor(max_workers=workers_for(unique)) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


def config_platform(runner: Runner, ref: str) -> str | None:
    """The `os/arch[/variant]` an image manifest's config says (`ref` is `repo@digest` of one image manifest):
    the manifest and its config blob through the client, else `imagetools inspect`'s image config. None when the
    config names no platform."""
    doc: Mapping[str, Any] | None
    try:
        manifest = read(ref)
        if manifest is None or manifest.raw is None:
            return None
        config = json.loads(manifest.raw).get("config") or {}
        answer = _read_answer(ref, _send("GET", ref, blob=str(config.get("digest"))), "a read")
        doc = json.loads(answer.body) if answer is not None else None
    except (NoAnswer, ValueError, AttributeError):
        count_fallback("imagetools inspect")
        doc = runner.imagetools_image_config(ref)
    if not isinstance(doc, dict) or not doc.get("os") or not doc.get("architecture"):
        return None
    parts = [str(doc["os"]), str(doc["architecture"])]
    if doc.get("variant"):
        parts.append(str(doc["variant"]))
    return "/".join(parts)


def delete_tag(ref: str, *, digest: str, others_safe: bool) -> bool:
    """Remove a tag this run created, where the registry allows it. True if it is gone.

    OCI distribution 1.1 deletes a tag alone (`DELETE /manifests/TAG`). Older registries (distribution 2.x) only
    delete a manifest by digest, which removes every tag naming it: done only when `others_safe` (the caller
    checked no tag that existed before the run names `digest`).
    """
    registry, path, _, _ = split_reference(ref)
    for target, allowed in ((ref, True), (f"{registry}/{path}@{digest}", others_safe)):
        if not allowed:
            continue
        try:
            answer = _send("DELETE", target, deadline=_deadline())
        except (NoAnswer, RegistryError):
            continue
        if answer.status in (200, 202, 404):
            try:
                if head_digest(ref) is None:
                    return True
            except (NoAnswer, RegistryError):
                return False
    return False


def put_manifest_by_digest(repository: str, body: bytes, media_type: str) -> str:
    """Push a manifest or index by digest (no tag). Returns its digest; `NoAnswer` where the client cannot log
    in, `RegistryError` with the registry's words where it refuses."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    ref = f"{repository}@{digest}"
    answer = _send(
        "PUT", ref, body=body, headers={"Content-Type": media_type}, deadline=_deadline()
    )
    if answer.status in (401, 403):
        raise NoAnswer(f"{ref}: HTTP {answer.status}")
    if answer.status not in (200, 201):
        raise _failed(ref, answer, "a push by digest")
    stored = answer.headers.get("Docker-Content-Digest", digest)
    if stored != digest:
        raise RegistryError(f"{ref}: the registry stored {stored}, not {digest}")
    return digest


# -- copies between repositories ----------------------------------------------------------------------
def _blob_present(repository: str, digest: str) -> bool:
    answer = _send("HEAD", repository, blob=digest)
    if answer.status in (401, 403):
        raise NoAnswer(f"{repository}: HTTP {answer.status}")
    return answer.status == 200


def _copy_blob(source: str, target: str, digest: str, size: int) -> None:
    """Make blob `digest` exist in `target` (repository-only references): a cross-repository mount inside one
    registry, else a download checked against its digest and one monolithic upload."""
    if _blob_present(target, digest):
        return
    t_registry, t_path, _, _ = split_reference(target)
    s_registry, s_path, _, _ = split_reference(source)
    client = session()
    deadline = _deadline()
    if s_registry == t_registry:
        answer = client.request(
            "POST",
            t_registry,
            f"/v2/{t_path}/blobs/uploads/?mount={digest}&from={s_path}",
            scope="pull,push",
            headers={"Content-Length": "0"},
            body=b"",
            deadline=deadline,
        )
        if answer.status == 201:
            return
        if answer.status == 202:  # the registry started a plain upload instead: let it go
            location = answer.headers.get("Location")
            if location:
                _cancel_upload(t_registry, location)
    got = _send("GET", source, blob=digest, timeout=300.0, deadline=deadline)
    if got.status != 200:
        raise _failed(f"{source}@{digest}", got, "a blob read")
    data = got.body
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise RegistryError(f"{source}: blob {digest} is not what its digest names")
    for attempt in range(2):  # an upload session that broke is started afresh, once
        start = client.request(
            "POST",
            t_registry,
            f"/v2/{t_path}/blobs/uploads/",
            headers={"Content-Length": "0"},
            body=b"",
            deadline=deadline,
        )
        location = start.headers.get("Location")
        if start.status != 202 or not location:
            raise _failed(target, start, "a blob upload")
        url = _upload_url(client.base(t_registry), location, digest)
        try:
            done = client.request(
                "PUT",
                t_registry,
                url,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(data)),
                },
                body=data,
                timeout=300.0,
                deadline=deadline,
                repeatable=False,
            )
        except (ConnectionResetError, http.client.HTTPException) as exc:
            if attempt == 0:
                continue
            raise RegistryError(f"{target}: blob upload of {digest} failed: {exc}") from None
        if done.status in (201, 204):
            return
        if attempt == 1 or done.status < 500:
            raise _failed(target, done, f"the upload of blob {digest[:19]}…")


def _upload_url(base: str, location: str, digest: str) -> str:
    """The path (and query) of an upload `Location`, with `digest=` added (the session sends it to the same
    registry)."""

    joined = urllib.parse.urljoin(base + "/", location)
    parts = urllib.parse.urlsplit(joined)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append(("digest", digest))
    return parts.path + "?" + urllib.parse.urlencode(query)


def _cancel_upload(registry: str, location: str) -> None:
    path = urllib.parse.urlsplit(location).path
    with contextlib.suppress(OSError, http.client.HTTPException, NoAnswer, RegistryError):
        session().request("DELETE", registry, path, scope="pull,push")  # else it expires on its own


def copy(source: str, target_repository: str) -> ImageIndex:
    """Copy `source` (`repo@digest`, an index or one image manifest) into `target_repository` by digest,
    children and blobs first, exactly as it is (a carbon copy: same bytes, same digest). No tag moves."""
    found = read(source)
    if found is None or found.raw is None:
        raise RegistryError(f"{source} does not exist; nothing was copied")
    source_repo = source.partition("@")[0]
    if read_present(f"{target_repository}@{found.digest}"):
        return found
    doc = json.loads(found.raw)
    if found.is_index:
        for entry in found.manifests:
            copy(f"{source_repo}@{entry.digest}", target_repository)
    else:
        blobs = [doc.get("config") or {}, *(doc.get("layers") or [])]
        for blob in blobs:
            if blob.get("digest"):
                _copy_blob(
                    source_repo, target_repository, str(blob["digest"]), int(blob.get("size") or 0)
                )
    put_manifest_by_digest(
        target_repository, found.raw, found.media_type or str(doc.get("mediaType"))
    )
    return found


def read_present(ref: str) -> bool:
    """Whether `ref` (by digest) exists, from one HEAD."""
    answer = _send("HEAD", ref, headers={"Accept": _ACCEPT})
    if answer.status in (401, 403):
        raise NoAnswer(f"{ref}: HTTP {answer.status}")
    return answer.status == 200


# -- tag moves ------------------------------------------------------------------------------------------
WRITE_TIMEOUT_ENV = "BAKEPY_REGISTRY_TIMEOUT"
IN_DOUBT_GRACE = 120.0
"""After the timeout, how long a write already sent is still waited for: a write abandoned mid-flight may land
after the roll back, so the roll back waits for its answer (or for the connection to end)."""


def write_timeout() -> float:
    """Seconds a registry call, with its retries, may take before the run fails (`BAKEPY_REGISTRY_TIMEOUT`,
    default 60): the run's deadline for each read, write and put back. A value that is not a positive number is
    a `ConfigError`: publish and merge read it before anything is built or moved."""
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


def put_tag(
    ref: str, body: bytes, media_type: str, *, timeout: float, retry_for: float | None = None
) -> None:
    """Point the tag `ref` at the manifest `body` (already present by digest): one PUT, the floor of a tag move,
    retried (429 after its Retry-After, 5xx, resets) while `retry_for` seconds (default: `timeout`) have not
    passed; a PUT already sent is waited for up to `timeout`.

    Raises `NoAnswer` where the client cannot log in (the caller may move those tags with `imagetools create`),
    `RegistryError` with the registry's own words for any other refusal, or when no answer came in time.
    """
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    started = time.monotonic()
    try:
        answer = _send(
            "PUT",
            ref,
            body=body,
            headers={"Content-Type": media_type},
            timeout=timeout,
            deadline=started + (retry_for if retry_for is not None else timeout),
        )
    except RegistryError:
        if time.monotonic() - started >= timeout:
            raise RegistryError(f"{ref}: no answer to the tag move within {timeout:g} s") from None
        raise
    if answer.status in (401, 403):
        raise NoAnswer(f"{ref}: HTTP {answer.status}")
    if answer.status >= 400:
        raise _failed(ref, answer, "the tag move")
    stored = answer.headers.get("Docker-Content-Digest", digest)
    if stored != digest:
        raise RegistryError(f"{ref}: the registry stored {stored}, not {digest}")


# -- tag lists (issue 23: a tag counts as absent only when two reads, or the registry's list, agree) ----------
def tag_names(repository: str, *, timeout: float = READ_TIMEOUT) -> set[str] | None:
    """Every tag the registry lists for `repository` (a repository-only reference): `GET /v2/NAME/tags/list`,
    every page (`Link: <…>; rel="next"`). None where the list cannot be trusted to say a tag is absent: a 404
    (distribution answers it for a repository that has no tag yet, and a restarting registry for any), a login
    the client cannot make, a malformed answer or no answer within `timeout`."""
    registry, path, _, _ = split_reference(repository)
    url = f"/v2/{path}/tags/list?n=1000"
    names: set[str] = set()
    deadline = _deadline(timeout)
    for _ in range(1000):  # a registry that pages forever is not one whose list says anything
        try:
            answer = session().request("GET", registry, url, timeout=timeout, deadline=deadline)
        except (NoAnswer, ssl.SSLError, TimeoutError, OSError, http.client.HTTPException):
            return None
        if answer.status != 200:
            return None
        try:
            listed = json.loads(answer.body).get("tags") or []
            names.update(str(t) for t in listed)
        except (ValueError, AttributeError, TypeError):
            return None
        link = str(answer.headers.get("Link") or "")
        start, end = link.find("<"), link.find(">")
        if 'rel="next"' not in link or start < 0 or end < start:
            return names
        parts = urllib.parse.urlsplit(link[start + 1 : end])
        url = parts.path + (f"?{parts.query}" if parts.query else "")
    return None
