"""Registry credentials, resolved exactly as the docker CLI resolves them, held in memory only.

The Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) names them in three ways, tried in
docker's order (`configfile.GetCredentialsStore`):

1. `credHelpers[HOST]`: the program `docker-credential-VALUE` (ecr-login, gcloud, pass, secretservice, desktop …)
   is asked with `get`, the server address on its standard input;
2. `credsStore`: the same, with that one program for every registry;
3. `auths[HOST]`: `auth` (base64 `user:password`), `username` + `password`, `identitytoken` (an OAuth2 refresh
   token, exchanged at the token service) or `registrytoken` (a Bearer token used as is).

Docker Hub is looked up under `https://index.docker.io/v1/`, whatever name the reference used (`docker.io`,
`index.docker.io`, `registry-1.docker.io`). Keys of `auths` and `credHelpers` are compared by host (a key may carry
a scheme or a path: `https://ghcr.io`, `http://host:5000/v1/`).

A `Credentials` never prints its secret (its repr hides it), and nothing here logs or raises with one.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
HUB_SERVER = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A login for one registry. `kind`: `basic` (user + secret), `identity` (an OAuth2 refresh token) or
    `bearer` (a registry token, sent as is)."""

    kind: str
    user: str = ""
    secret: str = field(default="", repr=False)
    source: str = ""  # where it came from, for messages: `auths`, `credHelpers (ecr-login)`, …

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.secret}".encode()).decode()


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def docker_config() -> dict[str, object]:
    """The Docker config as docker reads it; an absent or unreadable file is an empty config."""
    try:
        data = json.loads((config_dir() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def key_host(key: str) -> str:
    """docker's `ConvertToHostname`: `https://host:5000/v1/` → `host:5000`."""
    return key.removeprefix("https://").removeprefix("http://").split("/")[0]


def same_registry(key: str, registry: str) -> bool:
    host = key_host(key)
    if registry in HUB_NAMES:
        return host in HUB_NAMES
    return host == registry


def server_address(registry: str) -> str:
    """What docker asks a credential helper for."""
    return HUB_SERVER if registry in HUB_NAMES else registry


def _entry(section: object, registry: str) -> object:
    if not isinstance(section, dict):
        return None
    exact = server_address(registry)
    if exact in section:
        return section[exact]
    return next((v for k, v in section.items() if same_registry(str(k), registry)), None)


def helper_name(registry: str, config: dict[str, object] | None = None) -> str | None:
    """The credential helper docker would ask for `registry` (`credHelpers`, else `credsStore`), if any."""
    config = docker_config() if config is None else config
    helper = _entry(config.get("credHelpers"), registry)
    if isinstance(helper, str) and helper:
        return helper
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def _from_helper(name: str, registry: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{name}")
    if program is None:
        return None
    try:
        out = subprocess.run(
            [program, "get"],
            input=server_address(registry),
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout  # a helper's exit 1 with "credentials not found" on stdout: no login
        found = json.loads(out or "{}")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if not isinstance(found, dict) or not found.get("Secret"):
        return None
    user = str(found.get("Username") or "")
    source = f"credential helper docker-credential-{name}"
    if user == "<token>":  # docker's convention for an identity token
        return Credentials("identity", "", str(found["Secret"]), source)
    return Credentials("basic", user, str(found["Secret"]), source)


def _from_auths(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("registrytoken"):
        return Credentials("bearer", "", str(entry["registrytoken"]), "auths")
    if entry.get("identitytoken"):
        return Credentials("identity", "", str(entry["identitytoken"]), "auths")
    if entry.get("auth"):
        try:
            user, _, secret = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except ValueError:
            return None
        return Credentials("basic", user, secret, "auths") if secret else None
    if entry.get("username") and entry.get("password"):
        return Credentials("basic", str(entry["username"]), str(entry["password"]), "auths")
    return None


def lookup(registry: str) -> Credentials | None:
    """The login docker would use for `registry`, or None: a helper first (`credHelpers`, then `credsStore`),
    else the config file's `auths`, as docker does."""
    config = docker_config()
    helper = helper_name(registry, config)
    if helper is not None:
        found = _from_helper(helper, registry)
        if found is not None:
            return found
        if _entry(config.get("credHelpers"), registry) is not None:
            return None  # a registry-specific helper that has nothing: docker stops there too
    return _from_auths(_entry(config.get("auths"), registry))


def has_credentials(registry: str) -> bool:
    """Whether the Docker credential store names `registry`, without reading a secret where it can (a helper's
    `list` prints server URLs and user names only)."""
    config = docker_config()
    for section in ("auths", "credHelpers"):
        if _entry(config.get(section), registry) is not None:
            return True
    store = config.get("credsStore")
    program = (
        shutil.which(f"docker-credential-{store}") if isinstance(store, str) and store else None
    )
    if program is None:
        return False
    try:
        out = subprocess.run([program, "list"], capture_output=True, text=True, timeout=10).stdout
        listed = json.loads(out or "{}")
    except (OSError, ValueError, subprocess.SubprocessError):
        return False
    return isinstance(listed, dict) and any(same_registry(str(k), registry) for k in listed)


class Keychain:
    """The run's logins, one lookup per registry (a helper process is asked once per run, as docker asks once
    per command)."""

    def __init__(self) -> None:
        self._found: dict[str, Credentials | None] = {}
        self._lock = threading.Lock()

    def get(self, registry: str) -> Credentials | None:
        key = "docker.io" if registry in HUB_NAMES else registry
        with self._lock:
            if key not in self._found:
                self._found[key] = lookup(key)
            return self._found[key]

    def forget(self) -> None:
        with self._lock:
            self._found.clear()
