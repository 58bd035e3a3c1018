"""Checks across a resolved project's values that no single field's validator can see.

Owns two kinds of finding, each one line naming the file and the path to the value:

* conflicts, always errors (`ConfigError`): `network = "none"` with a `network.host` entitlement;
* warnings, errors under `--strict` or `[project] strict = true`: a build arg named like a credential
  (`GITHUB_TOKEN`, `*_PASSWORD`, `*_SECRET`, `*_KEY`, `*_TOKEN`, ...), whose value ends up in the rendered bake
  file, the build log, buildx's metadata file and the pushed image's config history, where build secrets
  (`secret = [...]` with `RUN --mount=type=secret`) never do. The warning names the arg, never its value.

Pure: reads only the model.
"""

from __future__ import annotations

import re

from bakepy.errors import ConfigError
from bakepy.model import Project, ResolvedProject

__all__ = ["check_conflicts", "credential_args", "looks_like_credential", "warnings"]

# Words that make a name a credential when it ends with them (`NPM_TOKEN`, `DB_PASSWORD`, `SSH_KEY`) or, for
# the unambiguous ones, when they appear anywhere (`SECRET_VALUE`, `PASSWORD_DB`).
_ENDS = (
    "TOKEN",
    "TOKENS",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "SECRETS",
    "KEY",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "PAT",
    "AUTH",
)
_ANYWHERE = (
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "APIKEY",
    "CREDENTIALS",
    "PRIVATE_KEY",
)
# Names that end like a credential but are not one: a key *name* or id, a public key.
_NOT = re.compile(
    r"(?:^|_)(?:PUBLIC_KEY|PUB_KEY|KEY_ID|KEYID|KEY_NAME|KEY_FILE_NAME|SORT_KEY|CACHE_KEY)$"
)
_WORD = re.compile(r"[^A-Z0-9]+")


def looks_like_credential(name: str) -> bool:
    """Whether a build arg's name says it holds a credential (GITHUB_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY)."""
    upper = _WORD.sub("_", name.upper()).strip("_")
    if not upper or _NOT.search(upper):
        return False
    words = upper.split("_")
    return words[-1] in _ENDS or any(re.search(rf"(?:^|_){w}(?:_|$)", upper) for w in _ANYWHERE)


def _secret_id(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "_", name.lower()).strip("_") or "secret"


def credential_args(resolved: ResolvedProject) -> list[str]:
    """One warning per credential-named build arg, saying where its value is visible and the secret to use."""
    out = []
    for name, target in resolved.targets.items():
        origin = resolved.origins.get(name, name)
        for arg, value in target.args.items():
            if value is None or not looks_like_credential(arg):
                continue
            sid = _secret_id(arg)
            out.append(
                f"{resolved.source}: target.{origin}.args.{arg}: a build arg named like a credential; its value "
                "is visible to anyone who can read the rendered docker-bake.json, the build log, buildx's "
                "metadata file or the pushed image's config history (docker history); pass it as a build "
                f'secret instead: secret = ["id={sid},env={arg}"] in [target.{origin}] and '
                f"`RUN --mount=type=secret,id={sid},env={arg} ...` in the Dockerfile"
            )
    return list(dict.fromkeys(out))


def warnings(project: Project) -> list[str]:
    """Every warning of a loaded project: the model's own (odd platform variants), then credential-named args."""
    resolved = project.resolved
    return [*resolved.warnings, *credential_args(resolved)]


def check_conflicts(resolved: ResolvedProject) -> None:
    """ConfigError for settings buildx takes one by one but that contradict each other."""
    for name, target in resolved.targets.items():
        origin = resolved.origins.get(name, name)
        if target.network == "none" and "network.host" in target.entitlements:
            raise ConfigError(
                f"{resolved.source}: target.{origin}.network: 'none' contradicts the network.host entitlement "
                f"in target.{origin}.entitlements",
                hint='keep one: network = "none" (no network for RUN) or the network.host entitlement with '
                'network = "host"',
            )
