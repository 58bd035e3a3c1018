"""Image references and registries: the github.com/distribution/reference grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# Image references (github.com/distribution/reference grammar)

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?", re.ASCII
)
_TAG_RE = re.compile(r"[\w][\w.-]*", re.ASCII)
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_TAG_MAX = 128
_NAME_MAX = 255
DEFAULT_DOMAIN = "docker.io"


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference. `domain` is None when the reference names none (Docker Hub is implied)."""

    domain: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def registry(self) -> str:
        """The registry host (with port) the reference lives in; `docker.io` when none is written."""
        return self.domain or DEFAULT_DOMAIN

    @property
    def repository(self) -> str:
        """The fully qualified repository: `docker.io/library/alpine` for `alpine`."""
        path = self.path
        if self.registry == DEFAULT_DOMAIN and "/" not in path:
            path = "library/" + path
        return f"{self.registry}/{path}"

    @property
    def normalized(self) -> str:
        """Fully qualified, with `:latest` when neither a tag nor a digest is written."""
        out = self.repository
        if self.tag or not self.digest:
            out += ":" + (self.tag or "latest")
        if self.digest:
            out += "@" + self.digest
        return out


def _is_domain(component: str) -> bool:
    # distribution/reference splitDockerDomain
    return (
        component == "localhost"
        or any(c in component for c in ".:")
        or component.lower() != component
    )


def _check_tag(tag: str, value: str) -> None:
    if len(tag) > _TAG_MAX:
        raise ValueError(
            f"tag '{tag[:16]}…' is {len(tag)} characters; a tag has at most {_TAG_MAX}"
        )
    if not _TAG_RE.fullmatch(tag):
        raise ValueError(
            f"{value!r} has an invalid tag {tag!r}: use letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )


def _check_path(path: str, value: str, what: str = "image reference") -> None:
    if not path:
        raise ValueError(f"{value!r} is not a valid {what}: the repository path is empty")
    if path.lower() != path and _PATH_RE.fullmatch(path.lower()):
        raise ValueError(
            f"{value!r} is not a valid {what}: the repository path must be lowercase; did you mean {value.replace(path, path.lower())!r}?"
        )
    if not _PATH_RE.fullmatch(path):
        raise ValueError(
            f"{value!r} is not a valid {what}: path {path!r} must be lowercase letters and digits separated by "
            "'/', '.', '_', '__' or '-'"
        )
    if len(path) > _NAME_MAX:
        raise ValueError(
            f"{value[:40]!r}… is not a valid {what}: the repository path has more than {_NAME_MAX} characters"
        )


def parse_reference(value: str) -> ImageReference:
    """Parse `[host[:port]/]path[:tag][@digest]`; ValueError saying what is wrong and how to fix it."""
    if not value or value != value.strip():
        raise ValueError(
            f"{value!r} is not a valid image reference: it is empty or has spaces around it"
        )
    rest, digest = value, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise ValueError(
                f"{value!r} has an invalid digest {digest!r}; write @sha256:<64 hex digits>"
            )
    tag = None
    last = rest.rfind(":")
    if last > rest.rfind("/"):
        rest, tag = rest[:last], rest[last + 1 :]
        _check_tag(tag, value)
    domain: str | None = None
    first, slash, remainder = rest.partition("/")
    if slash and _is_domain(first):
        domain, rest = first, remainder
        if domain == "index.docker.io":
            domain = DEFAULT_DOMAIN
        if not _DOMAIN_RE.fullmatch(domain):
            raise ValueError(
                f"{value!r} is not a valid image reference: {first!r} is not a registry host[:port]"
            )
    _check_path(rest, value)
    return ImageReference(domain=domain, path=rest, tag=tag, digest=digest)


def parse_registry(value: str) -> tuple[str, str]:
    """Split a registry prefix `host[:port][/namespace...]` into (host, namespace); ValueError if invalid."""
    scheme, sep, rest = value.partition("://")
    if sep and scheme.lower() in ("http", "https", "oci", "docker"):
        raise ValueError(
            f"{value!r} is not a registry: drop the scheme ({scheme}://), write {rest.rstrip('/')!r}"
            " (BuildKit and buildx talk plain HTTP to loopback registries by themselves)"
        )
    first, _, namespace = value.partition("/")
    port = first.rpartition(":")[2] if ":" in first and not first.endswith("]") else ""
    if port.isdigit() and not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not a registry: port {port} is out of range (1-65535)")
    if not first or not _is_domain(first) or not _DOMAIN_RE.fullmatch(first):
        raise ValueError(
            f"{value!r} is not a registry: start with a host such as 'docker.io/{value}' or '127.0.0.1:5000'"
        )
    if any(c in namespace for c in ":@"):
        raise ValueError(f"{value!r} is not a registry: a registry prefix has no tag or digest")
    if namespace:
        _check_path(namespace, value, "registry namespace")
    host = DEFAULT_DOMAIN if first == "index.docker.io" else first
    return host, namespace
