"""Can this machine push to a registry? Reachability, credentials and push rights, checked in seconds, writing
nothing, before a build.

`probe` asks the registry's `/v2/` endpoint through the run's registry client (`engine/transport.py`: HTTPS with
docker's `certs.d` trust, plain HTTP only for loopback without `certs.d` or a registry listed in
`BAKEPY_INSECURE_REGISTRIES`). A registry that wants a login (401) needs credentials in the Docker credential
store: an `auths` entry, a `credHelpers` entry, or a `credsStore` that lists the registry.

`push_access` then asks, without writing, whether those credentials may push to a repository. A Bearer registry
(the distribution token protocol, as Docker Hub, GHCR, Quay, Harbor and GitLab speak it) names a token service;
asked for `repository:REPO:push,pull` it grants the actions the account has, and a JWT token lists them in its
`access` claim (the token is the one the run then pushes with: the client keeps it). A Basic registry (htpasswd,
ECR's proxy …) can only say whether it accepts the login: push rights there are not provable without writing.

Secrets stay inside the client (`engine/credentials.py`, `engine/transport.py`): never printed, logged or put in
an error.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Literal

from bakepy.engine import credentials, transport
from bakepy.errors import RegistryError

Access = Literal["open", "login", "down"]
PushVerdict = Literal["authorised", "refused", "unproven"]


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


def probe(registry: str, *, timeout: float = 5.0) -> Probe:
    """One `/v2/` request through the registry client (its scheme, TLS trust and retries): open, wants a login,
    or does not answer. A challenge is remembered for the run's later requests."""
    client = transport.session()
    base = f"{client.base(registry)}/v2/"
    try:
        answer = client.ping(registry, timeout=timeout)
    except ssl.SSLError as exc:
        return Probe(registry, "down", f"TLS: {exc.reason or exc}", base=base)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Probe(registry, "down", str(getattr(exc, "reason", exc)), base=base)
    if answer.status in (401, 403):
        challenge = answer.headers.get("WWW-Authenticate") or ""
        return Probe(
            registry, "login", f"HTTP {answer.status}", has_credentials(registry), challenge, base
        )
    return Probe(registry, "open", f"HTTP {answer.status}", base=base)


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


_may_send_to = transport.may_send_secret_to_registry


def push_access(p: Probe, repository: str, *, timeout: float = 5.0) -> PushAccess:
    """May the stored login push to `repository` (its path in `p.registry`)? Asked without writing anything."""
    scheme, params = parse_challenge(p.challenge)
    client = transport.session()
    if client.keychain.get(p.registry) is None:
        return PushAccess(repository, "refused", "no credentials stored")
    if scheme == "bearer" and params.get("realm"):
        try:
            token = client.token_for(p.registry, repository, "pull,push")
        except RegistryError as exc:
            refused = "refuses" in exc.message
            return PushAccess(
                repository,
                "refused" if refused else "unproven",
                exc.message.partition(": ")[2] or exc.message,
            )
        except (transport.NoAnswer, OSError, http.client.HTTPException) as exc:
            return PushAccess(repository, "unproven", f"token service does not answer ({exc})")
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
    try:
        answer = client.request("GET", p.registry, "/v2/", timeout=timeout)
    except transport.NoAnswer as exc:
        return PushAccess(repository, "unproven", f"credentials present; not sent ({exc})")
    except (OSError, http.client.HTTPException) as exc:
        return PushAccess(
            repository, "unproven", f"credentials present; login check failed ({exc})"
        )
    if answer.status in (401, 403):
        return PushAccess(
            repository, "refused", f"the registry refuses the stored login (HTTP {answer.status})"
        )
    if answer.status >= 400:
        return PushAccess(
            repository, "unproven", f"credentials present; login check failed ({answer.status})"
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
