"""Version numbers as the tag rules read them: semver (semver.org 2.0, a leading `v` allowed) and PEP 440.

Each parse gives the pieces a pattern can name (`raw`, `version`, `major`, `minor`, `patch`) and whether the
version is a pre-release: pre-releases (and PEP 440 dev and post releases) only ever produce `{{version}}` (or
`{{raw}}`), never a shorter `1.2` or `1`, and never `latest`. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParsedVersion", "parse_pep440", "parse_semver", "sanitize_tag"]

_SEMVER = re.compile(
    r"^[v=]?\s*(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

# PEP 440, appendix B ("the canonical public version identifiers" plus the permitted spellings)
_PEP440 = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_SPELLING = {"alpha": "a", "a": "a", "beta": "b", "b": "b"}

_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ParsedVersion:
    """A version as a pattern sees it."""

    raw: str
    version: str
    major: str
    minor: str
    patch: str
    prerelease: bool
    """A pre-release (semver `-x`; PEP 440 a/b/rc, dev or post): only `{{version}}`/`{{raw}}`, never `latest`."""

    def values(self) -> dict[str, str]:
        return {
            "raw": self.raw,
            "version": self.version,
            "major": self.major,
            "minor": self.minor,
            "patch": self.patch,
        }


def parse_semver(raw: str) -> ParsedVersion | None:
    """`v1.2.3`, `1.2.3-beta.1`; None when `raw` is not semver. `version` leaves out build metadata, as
    node-semver does (a tag cannot hold `+`)."""
    m = _SEMVER.match(raw.strip())
    if not m:
        return None
    version = f"{m['major']}.{m['minor']}.{m['patch']}" + (f"-{m['pre']}" if m["pre"] else "")
    return ParsedVersion(raw, version, m["major"], m["minor"], m["patch"], bool(m["pre"]))


def parse_pep440(raw: str) -> ParsedVersion | None:
    """`1.2.3`, `v1.2.3rc2`, `1.2.3post1`, `1.0dev4`; `version` is the normalised form (`1.2.3b2`,
    `1.2.3.post1`, `1.0.dev4`); None when `raw` is not PEP 440."""
    m = _PEP440.match(raw)
    if not m:
        return None
    release = [int(part) for part in m["release"].split(".")]
    out = ""
    if m["epoch"] and int(m["epoch"]):
        out += f"{int(m['epoch'])}!"
    out += ".".join(str(p) for p in release)
    if m["pre"]:
        label = _PRE_SPELLING.get(m["pre_l"].lower(), "rc")
        out += f"{label}{int(m['pre_n'] or 0)}"
    if m["post"]:
        out += f".post{int(m['post_n1'] or m['post_n2'] or 0)}"
    if m["dev"]:
        out += f".dev{int(m['dev_n'] or 0)}"
    if m["local"]:
        out += "+" + re.sub(r"[-_]", ".", m["local"].lower())
    padded = [*release, 0, 0]
    return ParsedVersion(
        raw,
        out,
        str(padded[0]),
        str(padded[1]),
        str(padded[2]),
        bool(m["pre"] or m["post"] or m["dev"]),
    )


def sanitize_tag(text: str) -> str:
    """What a rule yields, made a valid tag as metadata-action does: every run of characters a tag cannot
    hold becomes `-` (`my/branch` -> `my-branch`), no leading `.` or `-`, at most 128 characters."""
    return _TAG_INVALID.sub("-", text).lstrip(".-")[:128]
