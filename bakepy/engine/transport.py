"""The one door to registries: HTTP(S) with docker's credentials, the token dance, TLS from `certs.d`, retries.

Every registry request of a run goes through one `Session` (`session()`), as every request of regclient or
go-containerregistry goes through one transport:

- **Where**: plain HTTP only where docker would use it without being told (a loopback registry that has no
  `certs.d` folder) or where `BAKEPY_INSECURE_REGISTRIES` names it; HTTPS everywhere else, verified against the
  system CAs plus docker's `/etc/docker/certs.d/HOST[:PORT]/*.crt`, with a client certificate from the
  `*.cert` / `*.key` pair there. Docker Hub (`docker.io`) is `registry-1.docker.io`.
- **Who**: credentials from `engine/credentials.py` (docker's resolution). A registry's challenge
  (`WWW-Authenticate`) is learnt from its first 401 and remembered: Basic logins are then sent with every request,
  Bearer tokens are fetched from the realm it names, one per repository and scope (`pull`, or `pull,push` for a
  repository the run writes to, so its reads and writes share one token), kept for their lifetime and fetched
  again on a 401.
- **The secret** goes only to that registry and its token realm, over HTTPS or to loopback; a redirect to another
  host (blob storage) is followed without it. It is never logged, and no error carries it.
- **Faults**: 429 waits its `Retry-After` (else backs off); resets, refused connections and 5xx are retried with
  backoff where the request may be repeated; all within the request's deadline. Each retry is logged.
- **Counts**: requests, retries and token fetches per run, for `--debug`.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import io
import json
import os
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from bakepy.engine.credentials import HUB_NAMES, Credentials, Keychain
from bakepy.errors import RegistryError

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
INSECURE_ENV = "BAKEPY_INSECURE_REGISTRIES"
CERTS_D_ENV = (
    "BAKEPY_CERTS_D"  # where docker's certs.d is (tests, rootless docker); /etc/docker/certs.d else
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_PREFIX = "retry "  # how a retry's log line starts (the live view shows those lines)
_REPOSITORY = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


class NoAnswer(Exception):
    """The registry cannot be asked here (no login for a registry that wants one, a helper that fails): the
    caller may fall back to buildx, which has docker's whole machinery."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message[str, str]
    body: bytes


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    tokens: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)  # buildx calls, by what they did

    def describe(self) -> str:
        falls = ", ".join(f"{n} {what}" for what, n in sorted(self.fallbacks.items()))
        return (
            f"registry client: {self.requests} request(s), {self.retries} retried, "
            f"{self.tokens} token fetch(es); imagetools children: {falls or 'none'}"
        )


def host_of(registry: str) -> str:
    if registry.startswith("["):
        return registry.split("]")[0] + "]"
    return registry.rsplit(":", 1)[0] if ":" in registry else registry


def endpoint_of(registry: str) -> str:
    return "registry-1.docker.io" if registry in HUB_NAMES else registry


def certs_dir(registry: str) -> Path:
    root = Path(os.environ.get(CERTS_D_ENV) or "/etc/docker/certs.d")
    return root / endpoint_of(registry)


def _insecure(registry: str) -> bool:
    listed = os.environ.get(INSECURE_ENV, "")
    return registry in {r.strip() for r in listed.split(",") if r.strip()}


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://auth.example/token",service="registry.example"` → ("bearer", {realm, service})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def may_send_secret(url: str) -> bool:
    """A secret goes over HTTPS, or in the clear only to a loopback address (nothing leaves the machine)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in LOOPBACK
    )


def may_send_secret_to_registry(url: str, registry_base: str) -> bool:
    """A secret goes over HTTPS, or in the clear only where the registry itself is plain-HTTP loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return True
    return (
        parts.scheme == "http"
        and registry_base.startswith("http://")
        and (parts.hostname or "") in LOOPBACK
    )


def retry_after(headers: Mapping[str, str] | Message[str, str] | None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date); None without one."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    value = str(value).strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the session follows redirects itself, dropping the login on another host


_PROXIED = urllib.request.build_opener(_NoRedirect())
_PROXY_VARIABLES = tuple(
    v
    for name in ("http_proxy", "https_proxy", "no_proxy", "request_method")
    for v in (name, name.upper())
)


class _Pool:
    """Kept-alive connections, idle ones per scheme and host, shared by every thread of the run: a connection is
    checked out for one request and back in after it, so the worker threads of each fan-out (reads, stages,
    tag moves, read-backs) reuse the connections the previous one opened instead of each connecting anew."""

    MAX_IDLE = 16  # per host: more than the widest fan-out (8 workers)

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def __del__(
        self,
    ) -> None:  # the run's session is dropped: close its sockets before they are collected
        for idle in self._idle.values():
            for conn in idle:
                conn.close()


@dataclass
class _Token:
    actions: frozenset[str]
    value: str
    expires: float


class Session:
    """A run's registry client transport: connections, logins, tokens and counts. Thread-safe."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self.keychain = Keychain()
        self.stats = Stats()
        self.log = log
        self._pool = _Pool()
        self._lock = threading.Lock()
        self._challenges: dict[str, tuple[str, dict[str, str]]] = {}
        self._tokens: dict[tuple[str, str], list[_Token]] = {}
        self._token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._writes: set[tuple[str, str]] = set()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._schemes: dict[str, str] = {}
        self._direct: dict[tuple[str, str, tuple[str | None, ...]], bool] = {}

    # -- set-up -----------------------------------------------------------------------------------------
    def will_write(self, repositories: Iterable[tuple[str, str]]) -> None:
        """(registry, path) pairs this run pushes to: their reads ask for `pull,push` at once, so one token
        serves a repository's reads and writes."""
        with self._lock:
            self._writes.update(repositories)

    def learn(self, registry: str, challenge: str) -> None:
        """Remember `registry`'s `WWW-Authenticate` challenge (from a `/v2/` probe): its first requests then carry
        the login at once instead of each learning it from a 401."""
        scheme, params = parse_challenge(challenge)
        if scheme in ("basic", "bearer"):
            with self._lock:
                self._challenges.setdefault(registry, (scheme, params))

    def ping(self, registry: str, *, timeout: float = 5.0) -> Response:
        """`GET /v2/` without a login (the version check every client starts with): its challenge is learnt."""
        answer = self._with_retries(
            "GET", self.base(registry) + "/v2/", {"User-Agent": "bakepy"}, None,
            deadline=time.monotonic() + timeout, timeout=timeout,
        )  # fmt: skip
        if answer.status == 401:
            self.learn(registry, answer.headers.get("WWW-Authenticate") or "")
        return answer

    def prime(self, registries: Iterable[str]) -> None:
        """Learn the challenge of every registry not asked yet, one `/v2/` each, side by side, so the reads and
        writes that follow carry the login from their first request. Failures are left to those requests."""
        todo = [r for r in dict.fromkeys(registries) if r not in self._challenges]

        def one(registry: str) -> None:
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                self.ping(registry)

        threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in todo]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def scheme(self, registry: str) -> str:
        with self._lock:
            if registry not in self._schemes:
                host = host_of(registry)
                loopback = host in LOOPBACK or host.startswith("127.")
                tls = not (_insecure(registry) or (loopback and not certs_dir(registry).is_dir()))
                self._schemes[registry] = "https" if tls else "http"
            return self._schemes[registry]

    def base(self, registry: str) -> str:
        return f"{self.scheme(registry)}://{endpoint_of(registry)}"

    def _context(self, netloc: str) -> ssl.SSLContext:
        with self._lock:
            if netloc not in self._contexts:
                context = ssl.create_default_context()
                folder = certs_dir(netloc) if netloc != "registry-1.docker.io" else None
                if folder is not None and folder.is_dir():
                    for ca in sorted(folder.glob("*.crt")):
                        context.load_verify_locations(cafile=str(ca))
                    for cert in sorted(folder.glob("*.cert")):
                        key = cert.with_suffix(".key")
                        if key.is_file():
                            context.load_cert_chain(str(cert), str(key))
                self._contexts[netloc] = context
            return self._contexts[netloc]

    # -- one hop --------------------------------------------------------------------------------------------
    def _is_direct(self, scheme: str, host: str) -> bool:
        key = (scheme, host, tuple(os.environ.get(v) for v in _PROXY_VARIABLES))
        found = self._direct.get(key)
        if found is None:
            proxies = urllib.request.getproxies()
            found = scheme not in proxies or bool(urllib.request.proxy_bypass(host))
            self._direct[key] = found
        return found

    def _hop(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        """One request, one answer (any status; redirects are answers too)."""
        with self._lock:
            self.stats.requests += 1
        parts = urllib.parse.urlsplit(url)
        if not self._is_direct(parts.scheme, parts.hostname or ""):
            return self._proxied(method, url, headers, body, timeout)
        key = (parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in range(2):
            conn = self._pool.take(key)
            reused = conn is not None
            if conn is None:
                if parts.scheme == "https":
                    conn = http.client.HTTPSConnection(
                        parts.netloc, timeout=timeout, context=self._context(parts.netloc)
                    )
                else:
                    conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, target, body=body, headers=dict(headers))
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:
                    continue  # the registry closed an idle connection: a fresh one, once
                raise
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            else:
                self._pool.give(key, conn)
            return Response(response.status, response.headers, data)
        raise AssertionError("unreachable")

    @staticmethod
    def _proxied(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            with _PROXIED.open(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, exc.headers, exc.read())

    # -- the login ------------------------------------------------------------------------------------------
    def _credentials(self, registry: str) -> Credentials | None:
        return self.keychain.get(registry)

    def _authorization(self, registry: str, repository: str | None, actions: str) -> str | None:
        challenge = self._challenges.get(registry)
        if challenge is None:
            return None
        scheme, params = challenge
        creds = self._credentials(registry)
        if scheme == "basic":
            if creds is None or creds.kind != "basic":
                return None
            return creds.basic_header()
        if scheme == "bearer":
            if creds is not None and creds.kind == "bearer":
                return f"Bearer {creds.secret}"
            return f"Bearer {self._token(registry, params, repository, actions, creds)}"
        return None

    def _token(
        self,
        registry: str,
        params: Mapping[str, str],
        repository: str | None,
        actions: str,
        creds: Credentials | None,
    ) -> str:
        key = (registry, repository or "")
        wanted = frozenset(actions.split(","))
        with self._lock:
            if repository is not None and (registry, repository) in self._writes:
                wanted |= {"pull", "push"}
            lock = self._token_locks.setdefault(key, threading.Lock())
        with lock:  # one fetch per repository and scope, however many threads want it at once
            now = time.monotonic()
            for token in self._tokens.get(key, ()):
                if wanted <= token.actions and token.expires > now:
                    return token.value
            token = self._fetch_token(registry, params, repository, wanted, creds)
            self._tokens.setdefault(key, []).append(token)
            return token.value

    def _fetch_token(
        self,
        registry: str,
        params: Mapping[str, str],
        repository: str | None,
        actions: frozenset[str],
        creds: Credentials | None,
    ) -> _Token:
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise NoAnswer(f"{registry}: the token service {realm!r} is not a URL")
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        if repository is not None:
            known: list[str] = [a for a in ("pull", "push", "delete") if a in actions]
            order = known + sorted(set(actions) - set(known))
            query.append(("scope", f"repository:{repository}:{','.join(order)}"))
        headers = {"User-Agent": "bakepy"}
        body: bytes | None = None
        method = "GET"
        if creds is not None and not may_send_secret(realm):
            raise RegistryError(
                f"registry {registry}: its token service {realm} is plain HTTP off this machine; "
                "the login was not sent",
                hint="use a registry whose token service speaks HTTPS",
            )
        if creds is not None and creds.kind == "identity":
            method = "POST"
            form = [
                *query,
                ("grant_type", "refresh_token"),
                ("refresh_token", creds.secret),
                ("client_id", "bakepy"),
            ]
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            url = realm
        else:
            if creds is not None and creds.kind == "basic":
                headers["Authorization"] = creds.basic_header()
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        with self._lock:
            self.stats.tokens += 1
        answer = self._with_retries(method, url, headers, body, deadline=time.monotonic() + 60)
        if answer.status in (401, 403):
            who = "the stored login" if creds is not None else "an anonymous client"
            raise RegistryError(
                f"registry {registry}: the token service refuses {who} (HTTP {answer.status})",
                hint=f"docker login {registry}",
            )
        if answer.status != 200:
            raise RegistryError(
                f"registry {registry}: the token service answered HTTP {answer.status}"
            )
        try:
            doc = json.loads(answer.body)
            value = str(doc.get("token") or doc.get("access_token") or "")
            lifetime = float(doc.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            value, lifetime = "", 60.0
        if not value:
            raise RegistryError(f"registry {registry}: the token service answered no token")
        return _Token(actions, value, time.monotonic() + max(lifetime - 10, lifetime / 2))

    def token_for(self, registry: str, repository: str, actions: str) -> str:
        """The Bearer token this run uses for `actions` on `repository` (fetched now unless one is kept). The
        registry's challenge must be known (`ping`)."""
        challenge = self._challenges.get(registry)
        if challenge is None or challenge[0] != "bearer":
            raise NoAnswer(f"{registry}: no Bearer challenge known")
        creds = self._credentials(registry)
        if creds is not None and creds.kind == "bearer":
            return creds.secret
        return self._token(registry, challenge[1], repository, actions, creds)

    def _forget_token(self, registry: str, repository: str | None, value: str) -> None:
        key = (registry, repository or "")
        with self._lock:
            self._tokens[key] = [t for t in self._tokens.get(key, ()) if t.value != value]

    # -- requests --------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        registry: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
        repeatable: bool = True,
        scope: str | None = None,
    ) -> Response:
        """`METHOD https://REGISTRY/v2/…` with the run's login; the answer, whatever its status (after the login
        dance, redirects and retries). `deadline` (monotonic) bounds every retry; `repeatable=False` (a blob
        upload's PUT) is retried only where the registry never got it. `scope` overrides the token's actions."""
        match = _REPOSITORY.match(path)
        repository = match.group(1) if match else None
        actions = scope or ("pull" if method in ("GET", "HEAD") else "pull,push")
        if method == "DELETE":
            actions = scope or "delete"
        url = self.base(registry) + path
        deadline = deadline if deadline is not None else time.monotonic() + timeout
        base_headers = {"User-Agent": "bakepy", **(headers or {})}
        for attempt in range(3):  # the first answer may be a challenge; a token may have expired
            sent = dict(base_headers)
            auth = self._authorization(registry, repository, actions)
            if auth is not None:
                if not may_send_secret(url):
                    raise NoAnswer(f"{registry}: a login would go in the clear")
                sent["Authorization"] = auth
            answer = self._with_retries(
                method, url, sent, body, deadline=deadline, timeout=timeout, repeatable=repeatable
            )
            if answer.status != 401 or attempt == 2:
                return answer
            header = answer.headers.get("WWW-Authenticate") or ""
            scheme, params = parse_challenge(header)
            if scheme not in ("basic", "bearer"):
                return answer
            known = self._challenges.get(registry)
            with self._lock:
                self._challenges[registry] = (scheme, params)
            creds = self._credentials(registry)
            if scheme == "basic" and creds is None:
                raise NoAnswer(f"{registry} wants a login and docker has none for it")
            if auth is not None and auth.startswith("Bearer "):
                self._forget_token(registry, repository, auth.removeprefix("Bearer "))
                if known == (scheme, params) and attempt >= 1:
                    return answer  # a fresh token was refused too: the grant is missing
            elif auth is not None:
                return answer  # the login itself was refused
        raise AssertionError("unreachable")

    def _with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
        timeout: float = 30.0,
        repeatable: bool = True,
    ) -> Response:
        """One request with its redirects, retried on 429, 5xx, resets and refused connections while the
        deadline allows (429 honours Retry-After)."""
        attempt = 0
        while True:
            why: str
            wait: float
            try:
                answer = self._follow(method, url, headers, body, timeout)
                if answer.status not in RETRY_STATUSES or (not repeatable and answer.status != 429):
                    return answer
                asked = retry_after(answer.headers) if answer.status in (429, 503) else None
                wait = asked if asked is not None else self._backoff(attempt)
                why = f"HTTP {answer.status}" + (
                    f" (Retry-After {asked:g} s)" if asked is not None else ""
                )
                if time.monotonic() + wait > deadline:
                    return answer
            except (
                ConnectionResetError,
                ConnectionRefusedError,
                BrokenPipeError,
                http.client.RemoteDisconnected,
                http.client.IncompleteRead,
            ) as exc:
                wait = self._backoff(attempt)
                why = type(exc).__name__
                if not repeatable or time.monotonic() + wait > deadline:
                    raise
            attempt += 1
            with self._lock:
                self.stats.retries += 1
            if self.log is not None:
                shown = urllib.parse.urlsplit(url)
                self.log(
                    f"  {RETRY_PREFIX}{attempt}: {method} {shown.netloc}{shown.path} after {why}, "
                    f"in {wait:.1f} s"
                )
            time.sleep(wait)

    @staticmethod
    def _backoff(attempt: int) -> float:
        return float(min(8.0, 0.25 * 2**attempt) * (0.75 + random.random() / 2))

    def _follow(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        """Redirects followed (blob storage); the login is dropped on a hop to another host."""
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            answer = self._hop(method, url, headers, body, timeout)
            location = answer.headers.get("Location")
            if answer.status not in (301, 302, 303, 307, 308) or not location:
                return answer
            if method in ("PUT", "POST", "PATCH") and answer.status in (301, 302, 303):
                return answer  # never turn a write into a GET
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).netloc != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        return answer


def http_error(url: str, answer: Response) -> urllib.error.HTTPError:
    """An answer ≥ 400 as urllib's error (what the callers' handling speaks)."""
    return urllib.error.HTTPError(
        url, answer.status, http.client.responses.get(answer.status, ""), answer.headers,
        io.BytesIO(answer.body),
    )  # fmt: skip


_SESSION: Session | None = None
_SESSION_LOCK = threading.Lock()


def session() -> Session:
    """The process's registry session (a CLI command is one run)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = Session()
        return _SESSION


def new_session(log: Callable[[str], None] | None = None) -> Session:
    """Start a fresh session (a new run in the same process: tests, the Python API)."""
    global _SESSION
    with _SESSION_LOCK:
        _SESSION = Session(log)
        return _SESSION
