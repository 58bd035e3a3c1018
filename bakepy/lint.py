"""Checks across a resolved project's values that no single field's validator can see.

Owns two kinds of finding, each one line naming the file and the path to the value:

* conflicts, always errors (`ConfigError`): `network = "none"` with a `network.host` entitlement;
* warnings, errors under `--strict` or `[project] strict = true`: a credential in a build arg, a label or an
  annotation, whose value ends up in the rendered bake file, the build log, buildx's metadata file and the
  pushed image's config history, where build secrets (`secret = [...]` with `RUN --mount=type=secret`) never
  do. A credential is found by its name (`GITHUB_TOKEN`, `DB_PASS`, `npmToken`, `SENTRY_DSN`, `*_KEY`, ...) or
  by the shape of its value under any name (`ghp_…`, `glpat-…`, `AKIA…`, `xoxb-…`, `sk_live_…`, a JWT, a URL
  with `user:pass@`). The same checks cover `--set` values (`pass_through_warnings`). A warning names the
  arg and the kind of credential, never its value.

Pure: reads only the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bakepy.errors import ConfigError
from bakepy.model import Project, ResolvedProject

__all__ = [
    "check_conflicts",
    "credential_args",
    "credential_kind",
    "looks_like_credential",
    "pass_through_warnings",
    "warnings",
]

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
    "PASS",
    "PWD",
    "JWT",
    "DSN",
    "WEBHOOK",
    "COOKIE",
)
# Endings of two words: the last one alone is innocent (`..._URL`, `..._CONFIG`).
_ENDS_TWO = (
    "WEBHOOK_URL",
    "HOOK_URL",
    "AUTH_CONFIG",
    "AUTH_URL",
    "CONNECTION_STRING",
    "DATABASE_URL",
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
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")  # npmToken -> npm_Token

# Values that are credentials whatever they are called, by the shapes their issuers give them. Each needs
# enough characters after its prefix that a word or a version does not match (`ghp_` alone, `AKIA` in text).
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
        ("a GitLab token", r"\b(?:glpat|gldt|glrt|glptt|glcbt|gloas)-[A-Za-z0-9_-]{20,}"),
        ("an AWS access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("a Slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
        ("a Slack webhook", r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{10,}"),
        ("a Stripe secret key", r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
        ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("a PyPI token", r"\bpypi-AgE[A-Za-z0-9_-]{20,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("a JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        ("a private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
        ("a URL with a password", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@[^/\s@]"),
    )
)


def looks_like_credential(name: str) -> bool:
    """Whether a build arg's name says it holds a credential (GITHUB_TOKEN, DB_PASS, npmToken, SENTRY_DSN)."""
    upper = _WORD.sub("_", _CAMEL.sub("_", name).upper()).strip("_")
    if not upper or _NOT.search(upper):
        return False
    words = upper.split("_")
    return (
        words[-1] in _ENDS
        or "_".join(words[-2:]) in _ENDS_TWO
        or any(re.search(rf"(?:^|_){w}(?:_|$)", upper) for w in _ANYWHERE)
    )


def credential_kind(value: str) -> str | None:
    """What credential `value` looks like (`"a GitHub token"`), whatever it is called; None when nothing does.
    The kind only: callers never print the value."""
    for kind, shape in _SHAPES:
        if shape.search(value):
            return kind
    return None


def _secret_id(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "_", name.lower()).strip("_") or "secret"


_VISIBLE = (
    "is visible to anyone who can read the rendered docker-bake.json, the build log, buildx's metadata file or "
    "the pushed image's config history (docker history)"
)


def _why(name: str, value: str) -> str | None:
    """`a build arg named like a credential` / `a build arg whose value looks like a GitHub token`; None if
    neither."""
    kind = credential_kind(value)
    if kind:
        return f"a build arg whose value looks like {kind}"
    if looks_like_credential(name):
        return "a build arg named like a credential"
    return None


def credential_args(resolved: ResolvedProject) -> list[str]:
    """One warning per build arg that holds a credential (by its name or its value's shape), and per label or
    annotation whose value looks like one, saying where it is visible and, for an arg, the secret to use."""
    out = []
    for name, target in resolved.targets.items():
        origin = resolved.origins.get(name, name)
        where = f"{resolved.source}: target.{origin}"
        for arg, value in target.args.items():
            why = None if value is None else _why(arg, value)
            if why is None:
                continue
            sid = _secret_id(arg)
            out.append(
                f"{where}.args.{arg}: {why}; its value {_VISIBLE}; pass it as a build "
                f'secret instead: secret = ["id={sid},env={arg}"] in [target.{origin}] and '
                f"`RUN --mount=type=secret,id={sid},env={arg} ...` in the Dockerfile"
            )
        for label, value in target.labels.items():
            kind = credential_kind(value or "")
            if kind:
                out.append(
                    f"{where}.labels.{label}: its value looks like {kind}, and a label is readable by anyone "
                    "who can pull the image; remove it from the label"
                )
        for i, annotation in enumerate(target.annotations):
            kind = credential_kind(annotation)
            if kind:
                out.append(
                    f"{where}.annotations[{i}]: its value looks like {kind}, and an annotation is readable by "
                    "anyone who can pull the image; remove it from the annotation"
                )
    return list(dict.fromkeys(out))


# `--set` attributes whose values name a secret's source (`id=x,env=NAME`), never hold one
_SET_SOURCES = ("secrets", "secret", "ssh")


def pass_through_warnings(sets: Sequence[str]) -> list[str]:
    """One warning per `--set TARGET.ATTRIBUTE=VALUE` that passes a credential: a build arg named like one, or
    any value shaped like one (`*.args.NPM_TOKEN=…`, `app.labels.x=ghp_…`). Never the value itself."""
    out = []
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq:
            continue
        key = key.rstrip("+")
        parts = key.split(".")
        if len(parts) >= 2 and parts[1] in _SET_SOURCES:
            continue
        if len(parts) >= 3 and parts[1] == "args":
            arg = ".".join(parts[2:])
            why = _why(arg, value)
            if why:
                sid = _secret_id(arg)
                out.append(
                    f"--set {key}: {why}; its value {_VISIBLE}; pass it as a build secret "
                    f"instead: --set {parts[0]}.secrets=id={sid},env={arg} and "
                    f"`RUN --mount=type=secret,id={sid},env={arg} ...` in the Dockerfile"
                )
            continue
        kind = credential_kind(value)
        if kind:
            out.append(
                f"--set {key}: its value looks like {kind}; it would be visible in the build log, buildx's "
                "metadata file and the pushed image; pass credentials as build secrets"
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
