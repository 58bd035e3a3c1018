"""What buildx's own store says about a builder, read from its files: no docker process.

`docker buildx create` writes each builder to `<config>/instances/<name>` (JSON: its driver and nodes) and the one
`docker buildx use` picked to `<config>/current`; `<config>` is `$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`,
else `~/.docker/buildx` (buildx `util/confutil`, `store/store.go`). Reading them answers one question before a
build in microseconds — does the builder have more than one node? — where `docker buildx inspect` takes 0.1–0.2 s
of process start. Anything this module is unsure of (a builder chosen through a docker context, a kubernetes
builder whose pods are its nodes, an unreadable file, a format it does not know) is `None`, and the caller asks
buildx itself.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# buildx store/util.go: a builder name starts with a letter and has only letters, digits and ._-
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9._-]*$")
_DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Drivers whose nodes are the ones the store lists. A kubernetes builder's nodes are its pods, known only once
# buildx asks the cluster (buildx builder/node.go `DynamicNodes`): several replicas build like several nodes.
_STATIC_DRIVERS = frozenset({"docker-container", "remote", "docker"})


@dataclass(frozen=True)
class StoredBuilder:
    name: str
    driver: str
    nodes: tuple[str, ...]
    """The nodes' names, in buildx's order."""


def config_dir(env: Mapping[str, str]) -> Path:
    """buildx's configuration folder, as buildx finds it."""
    if env.get("BUILDX_CONFIG"):
        return Path(env["BUILDX_CONFIG"])
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "buildx"
    return Path.home() / ".docker" / "buildx"


def stored_builder(
    builder: str | None, env: Mapping[str, str] | None = None
) -> StoredBuilder | None:
    """The builder buildx would use (`builder`, else `$BUILDX_BUILDER`, else the current one) as its store
    describes it; None when the store cannot say for sure."""
    env = os.environ if env is None else env
    directory = config_dir(env)
    name = builder or env.get("BUILDX_BUILDER") or _current(directory, env)
    if not name or not _NAME.match(name):
        return None
    try:
        document = json.loads((directory / "instances" / name.lower()).read_text())
        driver = str(document.get("Driver") or "")
        if driver not in _STATIC_DRIVERS or document.get("Dynamic"):
            return None
        nodes = document["Nodes"]
        return StoredBuilder(
            str(document["Name"]), driver, tuple(str(node["Name"]) for node in nodes)
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a docker context used as a builder, a builder not created yet, another format


def _current(directory: Path, env: Mapping[str, str]) -> str | None:
    """The builder `docker buildx use` set for the current docker endpoint (buildx `Txn.Current`). None when
    there is none: buildx then takes a per-endpoint default or the docker context itself, and the caller asks
    buildx."""
    try:
        current = json.loads((directory / "current").read_text())
        name, key, everywhere = current.get("Name"), current.get("Key"), current.get("Global")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(name, str) or not name:
        return None
    if everywhere is True:
        return name
    endpoint = _endpoint(env)
    return name if endpoint is not None and key == endpoint else None


def _endpoint(env: Mapping[str, str]) -> str | None:
    """The key buildx files `current` under (buildx `dockerutil.GetCurrentEndpoint`): the docker context's name,
    or for the default context its host. The context is the docker CLI's: the default one when DOCKER_HOST is
    set, else DOCKER_CONTEXT, else `currentContext` in its config.json. None when that file cannot be read."""
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    context = env.get("DOCKER_CONTEXT")
    if not context:
        config = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"
        try:
            context = json.loads((config / "config.json").read_text()).get("currentContext")
        except FileNotFoundError:
            context = None
        except (OSError, ValueError, AttributeError):
            return None
    if context and context != "default":
        return str(context)
    return _DEFAULT_DOCKER_HOST
