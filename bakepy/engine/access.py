"""Can this machine push to a registry? Reachability, credentials and push rights, checked in seconds, writing
nothing, before a build.

`probe` asks the registry's `/v2/` endpoint (plain HTTP for loopback, HTTPS elsewhere, HTTP again where TLS fails,
as for a registry BuildKit is told is insecure). A registry that wants a login (401) needs credentials in the
Docker credential store: an `auths` entry, a `credHelpers` entry, or a `credsStore` that lists the registry.

`push_access` then asks, without writing, whether those credentials may push to a repository. A Bearer registry
(the distribution token protocol, as Docker Hub, GHCR, Quay, Harbor and GitLab speak it) names a token service;
asked for `repository:REPO:push,pull` it grants the actions the account has, and a JWT token lists them in its
`access` claim. A Basic registry (htpasswd, ECR's proxy …) can only say whether it accepts the login: push
rights there are not provable without writing.

The secret is read from the credential store only here, only in memory, and sent only to the registry itself
or to the token service it names (over HTTPS, or plain HTTP on loopback as for the registry); it is never
printed, logged or put in an error.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit

from bakepy.engine import credentials, transport
from bakepy.errors import RegistryError

Access = Literal["open", "login", "down"]
PushVerdict = Literal["authorised", "refused", "unproven"]
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_HUB = credentials.HUB_NAMES


@dataclass(frozen=True)
class Probe:
    registry: str
    access: Access
    detail: str = ""
    credentials: bool | None = None  # for `login`: whether the credential store has any
    challenge: str = (
        ""  # for `login`: the WWW-Authenticate header (scheme and, for Bearer, realm and service)
    )
    base: str = ""  # the URL that answered, `http(s)://HOST/v2/`


def _host(registry: str) -> str:
    return registry.split("]")[0] + "]" if registry.startswith("[") else registry.rsplit(":", 1)[0]


def _ask(
    url: str, timeout: float, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int | None, str, dict[str, str], bytes]:
    """(status, why it failed, response headers, body); the request headers may hold a secret: never shown."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), "", dict(response.headers.items()), response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, "", dict(exc.headers.items()) if exc.headers else {}, b""
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason), {}, b""


def probe(registry: str, *, timeout: float = 5.0) -> Probe:
    """One `/v2/` request (two where TLS fails): open, wants a login, or does not answer."""
    endpoint = "registry-1.docker.io" if registry in _HUB else registry
    loopback = _host(registry) in _LOOPBACK
    base = f"{'http' if loopback else 'https'}://{endpoint}/v2/"
    status, why, headers, _ = _ask(base, timeout)
    if status is None and not loopback and ("ssl" in why.lower() or "certificate" in why.lower()):
        base = f"http://{endpoint}/v2/"
        status, why, headers, _ = _ask(base, timeout)
    if status is None:
        return Probe(registry, "down", why)
    if status in (401, 403):
        challenge = next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")
        return Probe(
            registry, "login", f"HTTP {status}", has_credentials(registry), challenge, base
        )
    return Probe(registry, "open", f"HTTP {status}", base=base)


def has_credentials(registry: str) -> bool:
    """Whether the Docker credential store names `registry` (never reading the secret)."""
    return credentials.has_credentials(registry)


@dataclass(frozen=True)
class PushAccess:
    repository: str
    """The repository path inside the registry (`team/app`)."""
    verdict: PushVerdict
    detail: str


parse_challenge = transport.parse_challenge


def granted_actions(token: str, repository: str) -> set[str] | None:
    """The actions a registry token grants on `repository`: its JWT `access` claim (None when the token is not a
    JWT or has no such claim: opaque tokens say nothing)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return None
    actions: set[str] = set()
    for entry in access:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "repository"
            and entry.get("name") == repository
        ):
            actions.update(str(a) for a in entry.get("actions") or ())
    return actions


def _credentials(registry: str) -> tuple[str, str] | None:
    """(user, secret) as docker would send them; `<token>` as the user means the secret is an identity (refresh)
    token. Kept in memory only."""
    found = credentials.lookup(registry)
    if found is None:
        return None
    if found.kind == "identity":
        return "<token>", found.secret
    return found.user, found.secret


def _may_send_to(url: str, registry_base: str) -> bool:
    """A secret goes over HTTPS, or over plain HTTP only where the registry itself is plain-HTTP loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return (
        parts.scheme == "http"
        and registry_base.startswith("http://")
        and (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")
    )


def push_access(p: Probe, repository: str, *, timeout: float = 5.0) -> PushAccess:
    """May the stored login push to `repository` (its path in `p.registry`)? Asked without writing anything."""
    scheme, params = parse_challenge(p.challenge)
    creds = _credentials(p.registry)
    if creds is None:
        return PushAccess(repository, "refused", "no credentials stored")
    user, secret = creds
    if scheme == "bearer" and params.get("realm"):
        realm = params["realm"]
        if not _may_send_to(realm, p.base):
            return PushAccess(
                repository,
                "unproven",
                f"token service {realm} is not HTTPS: the login was not sent",
            )
        scope = f"repository:{repository}:push,pull"
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        if (
            user == "<token>"
        ):  # an identity token is exchanged with the OAuth2 form (as docker does)
            form = urlencode({**query, "grant_type": "refresh_token", "refresh_token": secret,
                              "client_id": "bakepy"}).encode()  # fmt: skip
            status, why, _, body = _ask(realm, timeout, data=form)
        else:
            basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
            url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            status, why, _, body = _ask(url, timeout, {"Authorization": f"Basic {basic}"})
        if status is None:
            return PushAccess(repository, "unproven", f"token service does not answer ({why})")
        if status in (401, 403):
            return PushAccess(
                repository, "refused", f"the token service refuses the stored login (HTTP {status})"
            )
        if status != 200:
            return PushAccess(repository, "unproven", f"token service answered HTTP {status}")
        try:
            answer = json.loads(body)
            token = str(answer.get("token") or answer.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        actions = granted_actions(token, repository)
        if actions is None:
            return PushAccess(
                repository, "unproven", "login accepted; its token does not say what it grants"
            )
        if "push" in actions:
            return PushAccess(repository, "authorised", "the token service grants push")
        granted = ", ".join(sorted(actions)) or "nothing"
        return PushAccess(repository, "refused", f"the token service grants {granted}, not push")
    # Basic (or an unknown scheme): the registry can only say whether it takes the login
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    if not _may_send_to(p.base, p.base):
        return PushAccess(repository, "unproven", "credentials present; not sent over plain HTTP")
    status, why, _, _ = _ask(p.base, timeout, {"Authorization": f"Basic {basic}"})
    if status in (401, 403):
        return PushAccess(
            repository, "refused", f"the registry refuses the stored login (HTTP {status})"
        )
    if status is None or status >= 400:
        return PushAccess(
            repository, "unproven", f"credentials present; login check failed ({why or status})"
        )
    return PushAccess(
        repository, "unproven", "login accepted; push not provable without writing (Basic auth)"
    )


def require_push_access(repositories: list[str]) -> list[Probe]:
    """Fail in seconds, before anything is built, when a registry does not answer, wants a login nobody did,
    or (where it can tell without a write) refuses a push to one of `repositories` (`registry/path`)."""
    by_registry: dict[str, list[str]] = {}
    for repository in repositories:
        registry, _, path = repository.partition("/")
        by_registry.setdefault(registry, []).append(path)
    probes = [probe(r) for r in by_registry]
    for p in probes:
        if p.access == "down":
            raise RegistryError(
                f"registry {p.registry} does not answer ({p.detail}); nothing was built or pushed",
                hint="check the address and that the registry is up (bakepy doctor checks every registry)",
            )
        if p.access == "login" and not p.credentials:
            raise RegistryError(
                f"registry {p.registry} wants a login and the Docker credential store has none for it; "
                "nothing was built or pushed",
                hint=f"docker login {p.registry}",
            )
        if p.access == "login":
            for path in dict.fromkeys(by_registry[p.registry]):
                found = push_access(p, path)
                if found.verdict == "refused":
                    raise RegistryError(
                        f"registry {p.registry}: the stored login may not push to {path} ({found.detail}); "
                        "nothing was built or pushed",
                        hint=f"docker login {p.registry} with an account that may push to {path}",
                    )
    return probes
