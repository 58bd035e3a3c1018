"""Can this machine push to a registry? Reachability and credentials, checked in seconds before a build.

`probe` asks the registry's `/v2/` endpoint (plain HTTP for loopback, HTTPS elsewhere, HTTP again where TLS fails,
as for a registry BuildKit is told is insecure). A registry that wants a login (401) needs credentials in the
Docker credential store: an `auths` entry, a `credHelpers` entry, or a `credsStore` that lists the registry.
bakepy only asks whether they exist — it never reads, prints or logs one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bakepy.errors import RegistryError

Access = Literal["open", "login", "down"]
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Probe:
    registry: str
    access: Access
    detail: str = ""
    credentials: bool | None = None  # for `login`: whether the credential store has any


def _host(registry: str) -> str:
    return registry.split("]")[0] + "]" if registry.startswith("[") else registry.rsplit(":", 1)[0]


def _ask(url: str, timeout: float) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, ""
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)


def probe(registry: str, *, timeout: float = 5.0) -> Probe:
    """One `/v2/` request (two where TLS fails): open, wants a login, or does not answer."""
    endpoint = "registry-1.docker.io" if registry in _HUB else registry
    loopback = _host(registry) in _LOOPBACK
    status, why = _ask(f"{'http' if loopback else 'https'}://{endpoint}/v2/", timeout)
    if status is None and not loopback and ("ssl" in why.lower() or "certificate" in why.lower()):
        status, why = _ask(f"http://{endpoint}/v2/", timeout)
    if status is None:
        return Probe(registry, "down", why)
    if status in (401, 403):
        return Probe(registry, "login", f"HTTP {status}", has_credentials(registry))
    return Probe(registry, "open", f"HTTP {status}")


def _docker_config() -> dict[str, object]:
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _keys(value: object) -> set[str]:
    return {str(k) for k in value} if isinstance(value, dict) else set()


def _same_registry(key: str, registry: str) -> bool:
    key = key.removeprefix("https://").removeprefix("http://").split("/")[0]
    if registry in _HUB:
        return key in _HUB
    return key == registry


def has_credentials(registry: str) -> bool:
    """Whether the Docker credential store names `registry` (never reading the secret)."""
    config = _docker_config()
    for section in ("auths", "credHelpers"):
        if any(_same_registry(k, registry) for k in _keys(config.get(section))):
            return True
    store = config.get("credsStore")
    helper = (
        shutil.which(f"docker-credential-{store}") if isinstance(store, str) and store else None
    )
    if helper is None:
        return False
    try:  # `list` prints server URLs → user names; no secret
        out = subprocess.run([helper, "list"], capture_output=True, text=True, timeout=10).stdout
        return any(_same_registry(k, registry) for k in _keys(json.loads(out or "{}")))
    except (OSError, ValueError, subprocess.SubprocessError):
        return False


def require_push_access(registries: list[str]) -> list[Probe]:
    """Fail in seconds, before anything is built, when a registry does not answer or wants a login nobody did."""
    probes = [probe(r) for r in dict.fromkeys(registries)]
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
    return probes
