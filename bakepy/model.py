"""The typed model of a bakepy project: Docker Bake targets, groups and variables, plus bakepy's settings.

This module owns what a project *means*. It validates every value a buildx v0.36 Bake file can hold
(platforms, image references, the CSV forms of cache/output/secret/ssh/attest/ulimit entries), and
resolves a definition the way bake does: `${VAR}` interpolation, `matrix` expansion with bake's naming,
`inherits` merging with bake's per-attribute rules. Both project forms (bakepy.toml and a Python
`bakefile.py`) build a `Project`; `Project.resolved` is the fully resolved view that `render` and `plan` use.

Pure: no files, no processes. Errors are pydantic `ValidationError`s whose messages say what is wrong and
how to fix it; `explain_error` and `format_path` turn them into one line with a TOML-style path.
"""

from __future__ import annotations

import contextvars
import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PrivateAttr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails

__all__ = [
    "SSH",
    "Attestation",
    "CacheEntry",
    "CacheSettings",
    "Group",
    "ImageReference",
    "ModelError",
    "Output",
    "Policy",
    "Project",
    "ProjectSettings",
    "ResolvedProject",
    "Resources",
    "Secret",
    "Target",
    "Ulimit",
    "Variable",
    "explain_error",
    "format_path",
    "normalize_platform",
    "parse_csv",
    "parse_reference",
    "parse_registry",
]


_M = TypeVar("_M", bound=BaseModel)

ENVIRONMENT: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "bakepy_environment", default=None
)
"""Where `${VAR}` looks for environment overrides while a project validates; None means os.environ."""


class ModelError(ValueError):
    """A validation failure with the path (below the value being validated) of the bad part."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.message = message
        self.path = tuple(path)
        super().__init__(f"{format_path(self.path)}: {message}" if self.path else message)


def _did_you_mean(value: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    matches = difflib.get_close_matches(value, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"; did you mean {matches[0]!r}?" if matches else ""


# --------------------------------------------------------------------------------------------------
# Platforms (containerd/platforms normalisation, as buildx applies it)

KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]
)
KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
_VARIANTS = {
    "arm": ("v5", "v6", "v7", "v8"),
    "arm64": (*(f"v8.{i}" for i in range(1, 10)), "v9", *(f"v9.{i}" for i in range(1, 6))),
    "amd64": ("v2", "v3", "v4"),
}
COMMON_PLATFORMS = (
    "linux/amd64",
    "linux/amd64/v2",
    "linux/amd64/v3",
    "linux/amd64/v4",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/arm/v5",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
    "linux/mips64",
    "linux/loong64",
    "windows/amd64",
    "windows/arm64",
    "darwin/amd64",
    "darwin/arm64",
    "freebsd/amd64",
    "freebsd/arm64",
)


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    # containerd/platforms database.go normalizeArch, then Normalize()'s arm default (v7).
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return arch, variant


def normalize_platform(value: str) -> str:
    """Return the canonical form of a platform (`linux/arm64/v8` -> `linux/arm64`); ValueError if invalid."""
    parts = value.strip().split("/")
    bad = f"{value!r} is not a platform"
    hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS)
    if len(parts) == 1 and parts[0]:
        word = parts[0].lower()
        if word in KNOWN_OS:
            raise ValueError(f"{bad}: add the architecture, e.g. '{word}/amd64'")
        arch, variant = _normalize_arch(word, "")
        if arch in KNOWN_ARCH:
            raise ValueError(
                f"{bad}; did you mean 'linux/{arch}{'/' + variant if variant else ''}'?"
            )
    if len(parts) not in (2, 3) or not all(parts):
        hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS, 0.85)
        raise ValueError(bad + (hint or "; write os/arch[/variant], e.g. 'linux/amd64'"))
    os_name = parts[0].lower()
    os_name = "darwin" if os_name == "macos" else os_name
    arch, variant = _normalize_arch(parts[1].lower(), parts[2].lower() if len(parts) == 3 else "")
    if os_name not in KNOWN_OS:
        raise ValueError(
            f"{bad}: unknown operating system {parts[0]!r}"
            + (hint or _did_you_mean(os_name, KNOWN_OS))
        )
    if arch not in KNOWN_ARCH:
        raise ValueError(
            f"{bad}: unknown architecture {parts[1]!r}" + (hint or _did_you_mean(arch, KNOWN_ARCH))
        )
    if variant and variant not in _VARIANTS.get(arch, ()):
        known = ", ".join(_VARIANTS.get(arch, ())) or "none"
        raise ValueError(f"{bad}: unknown variant {variant!r} for {arch} (known: {known})" + hint)
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"


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
    first, _, namespace = value.partition("/")
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


# --------------------------------------------------------------------------------------------------
# CSV (tonistiigi/go-csvvalue, as buildx parses --cache-from, --output, --secret, --attest)


def parse_csv(value: str) -> list[str]:
    """Split one CSV record the way buildx does (quotes group commas, `""` is a quote); ValueError if malformed."""
    fields: list[str] = []
    i, n = 0, len(value)
    while True:
        if i >= n or value[i] != '"':
            j = value.find(",", i)
            chunk = value[i:] if j < 0 else value[i:j]
            if '"' in chunk:
                raise ValueError(
                    f"bare '\"' in unquoted field {chunk!r}; quote the whole field: '\"{chunk.replace(chr(34), chr(34) * 2)}\"'"
                )
            fields.append(chunk)
            if j < 0:
                return fields
            i = j + 1
            continue
        i += 1
        buf: list[str] = []
        while True:
            j = value.find('"', i)
            if j < 0:
                raise ValueError(f"unterminated quoted field in {value!r}; close the '\"'")
            buf.append(value[i:j])
            i = j + 1
            if i < n and value[i] == '"':
                buf.append('"')
                i += 1
                continue
            break
        fields.append("".join(buf))
        if i >= n:
            return fields
        if value[i] != ",":
            raise ValueError(f"unexpected {value[i]!r} after a quoted field in {value!r}")
        i += 1


def _csv_field(field: str) -> str:
    # buildx's csvBuilder.Write: quote a key=value pair only when it holds a comma or a quote.
    if "," in field or '"' in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _csv_pairs(value: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for f in parse_csv(value):
        key, eq, val = f.partition("=")
        if not eq:
            raise ValueError(f"invalid {what} {value!r}: field {f!r} is not key=value")
        pairs.append((key.strip().lower(), val))
    return pairs


# --------------------------------------------------------------------------------------------------
# Interpolation: `${NAME}` and `${matrix.key}`; `$${` and `%%{` are literal `${` and `%{` (as in bake)

_TEMPLATE_RE = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|\$\{")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
_VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def has_template(value: str) -> bool:
    return "${" in value or "%%{" in value


def interpolate(value: str, lookup: Callable[[str], str]) -> str:
    """Replace every `${expr}` with `lookup(expr)` and unescape `$${`/`%%{`; ValueError on a bad template."""
    if not has_template(value):
        return value

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "$${":
            return "${"
        if text == "%%{":
            return "%{"
        expr = m.group(1)
        if expr is None:
            raise ValueError(
                f"unterminated '${{' in {value!r}; close it with '}}' or write '$${{' for a literal '${{'"
            )
        if not _IDENT_RE.fullmatch(expr.strip()):
            raise ValueError(
                f"'${{{expr}}}' is not a variable reference: bakepy interpolates ${{NAME}} and "
                f"${{matrixkey.field}} only; write '$${{' for a literal '${{'"
            )
        return lookup(expr.strip())

    return _TEMPLATE_RE.sub(sub, value)


def _literal(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("literal"))


def _deferred(value: str, info: ValidationInfo | None) -> bool:
    """In a definition, values with `${` are checked after interpolation, not before."""
    return "${" in value and not _literal(info)


# --------------------------------------------------------------------------------------------------
# Annotated string types


def _platform(value: str, info: ValidationInfo) -> str:
    return value if _deferred(value, info) else normalize_platform(value)


def _tag_reference(value: str, info: ValidationInfo) -> str:
    if _deferred(value, info):
        return value
    ref = parse_reference(value)
    if ref.digest:
        raise ValueError(
            f"{value.split('@')[0]}@{ref.digest[:19]}… pins a digest; `tags` name images to push, drop the '@…'"
        )
    return value


def _tag_name(value: str, info: ValidationInfo) -> str:
    if _deferred(value, info):
        return value
    if ":" in value or "/" in value:
        raise ValueError(
            f"{value!r} is not a tag name; [project] tags are names like 'latest' or '1.2.3' "
            "(put full references in a target's `tags`)"
        )
    _check_tag(value, value)
    return value


def _registry(value: str, info: ValidationInfo) -> str:
    if _deferred(value, info):
        return value
    host, namespace = parse_registry(value.rstrip("/"))
    return f"{host}/{namespace}" if namespace else host


def _image_name(value: str, info: ValidationInfo) -> str:
    if _deferred(value, info):
        return value
    first = value.partition("/")[0]
    if "/" in value and _is_domain(first) and first.lower() == first:
        raise ValueError(
            f"{value!r} names a registry; `image` is the path under each registry, put {first!r} in [project] registries"
        )
    if ":" in value or "@" in value:
        raise ValueError(
            f"{value!r} has a tag or digest; `image` is a repository path, tags go in `tags`"
        )
    _check_path(value, value, "image name")
    return value


def _target_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name: use only letters, digits, '_' and '-'")
    return value


def _variable_name(value: str) -> str:
    if not _VARIABLE_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid variable name: use letters, digits and '_', not starting with a digit"
        )
    return value


def _scalar_to_str(value: Any) -> Any:
    """TOML and bake accept numbers and booleans where strings are meant (`args = { N = 1 }`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _map_values_to_str(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _scalar_to_str(v) for k, v in value.items()}
    return value


Platform = Annotated[str, AfterValidator(_platform)]
TagReference = Annotated[str, AfterValidator(_tag_reference)]
TagName = Annotated[str, AfterValidator(_tag_name)]
Registry = Annotated[str, AfterValidator(_registry)]
ImageName = Annotated[str, AfterValidator(_image_name)]
Name = Annotated[str, AfterValidator(_target_name)]
VariableName = Annotated[str, AfterValidator(_variable_name)]
_SCALAR_SCHEMA: dict[str, Any] = {"type": ["string", "number", "boolean"]}
StrMap = Annotated[
    dict[str, str],
    BeforeValidator(_map_values_to_str),
    WithJsonSchema({"type": "object", "additionalProperties": _SCALAR_SCHEMA}),
]
NullableStrMap = Annotated[
    dict[str, str | None],
    BeforeValidator(_map_values_to_str),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        }
    ),
]


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=_kebab,
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )


# --------------------------------------------------------------------------------------------------
# Structured attributes: a table or buildx's CSV string


def _attr_schema(
    type_values: Sequence[str], extra_props: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    props: dict[str, Any] = {"type": {"type": "string", "examples": list(type_values)}}
    props.update(extra_props or {})
    return {
        "anyOf": [
            {
                "type": "string",
                "description": "buildx CSV form, e.g. 'type=registry,ref=example.com/cache'",
            },
            {
                "type": "object",
                "properties": props,
                "required": ["type"],
                "additionalProperties": {"type": ["string", "boolean", "integer"]},
            },
        ]
    }


class _BakeValue(_Model):
    """A structured attribute (a typed table, or buildx's CSV string) that serialises as `bake_value()`: the form
    render writes and `docker buildx bake --print` shows."""

    def bake_value(self) -> Any:
        raise NotImplementedError

    @model_serializer(mode="plain")
    def _serialize(self) -> Any:
        return self.bake_value()


class _AttrEntry(_BakeValue):
    """An entry made of a `type` and free-form string attributes, written flat: `{type = "gha", scope = "x"}`."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ()
    WHAT: ClassVar[str] = "entry"
    SPECIAL: ClassVar[tuple[str, ...]] = ()

    type: str
    """The backend/exporter type."""
    attrs: StrMap = Field(default_factory=dict)
    """Every other key=value attribute, as buildx passes it on."""

    @classmethod
    def _from_csv(cls, value: str) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, val in _csv_pairs(value, cls.WHAT):
            data[key] = val
        if "type" not in data:
            raise ValueError(f"invalid {cls.WHAT} {value!r}: 'type=' is required")
        return data

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = cls._from_csv(data)
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        nested = data.pop("attrs", None)
        out: dict[str, Any] = {k: data.pop(k) for k in ("type", *cls.SPECIAL) if k in data}
        attrs = {k: _scalar_to_str(v) for k, v in data.items()}
        if isinstance(nested, Mapping):
            attrs.update({k: _scalar_to_str(v) for k, v in nested.items()})
        elif nested is not None:
            attrs["attrs"] = nested
        out["attrs"] = attrs
        return out

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        if cls.KNOWN_TYPES and not _deferred(value, info) and value not in cls.KNOWN_TYPES:
            raise ValueError(
                f"unknown {cls.WHAT} type {value!r}"
                + (
                    _did_you_mean(value, cls.KNOWN_TYPES)
                    or f" (known: {', '.join(cls.KNOWN_TYPES)})"
                )
            )
        return value

    def bake_value(self) -> dict[str, Any]:
        """The object form bake reads (and `--print` writes)."""
        out: dict[str, Any] = dict(self.attrs)
        out["type"] = self.type
        return out

    def csv(self) -> str:
        """The CSV form buildx's flags take."""
        parts = [f"type={self.type}"] + [f"{k}={v}" for k, v in sorted(self.attrs.items())]
        return ",".join(_csv_field(p) for p in parts)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = _attr_schema(cls.KNOWN_TYPES)
        schema["description"] = (cls.__doc__ or "").strip().splitlines()[0]
        return schema


class CacheEntry(_AttrEntry):
    """A cache import/export entry: `{type = "registry", ref = "..."}` or `"type=registry,ref=..."` or a bare ref."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ("registry", "local", "inline", "gha", "s3", "azblob")
    WHAT: ClassVar[str] = "cache entry"

    @classmethod
    def _from_csv(cls, value: str) -> dict[str, Any]:
        fields = parse_csv(value)
        # buildx: a single field without '=' is a registry ref ("user/app:cache")
        if len(fields) == 1 and "=" not in fields[0]:
            return {"type": "registry", "ref": fields[0]}
        return super()._from_csv(value)

    @model_validator(mode="after")
    def _ref(self, info: ValidationInfo) -> CacheEntry:
        ref = self.attrs.get("ref")
        if self.type == "registry" and ref is not None and not _deferred(ref, info):
            try:
                parse_reference(ref)
            except ValueError as exc:
                raise ModelError(str(exc), ("ref",)) from None
        return self


class Output(_AttrEntry):
    """An output (exporter): `{type = "image", name = "...", push = true}` or `"type=image,name=...,push=true"`."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = (
        "image",
        "registry",
        "docker",
        "oci",
        "tar",
        "local",
        "cacheonly",
    )
    WHAT: ClassVar[str] = "output"
    SPECIAL: ClassVar[tuple[str, ...]] = ("dest",)

    dest: str | None = None
    """The destination path (local, tar, oci, docker exporters)."""

    @classmethod
    def _from_csv(cls, value: str) -> dict[str, Any]:
        fields = parse_csv(value)
        # buildx: a lone path is a local export, "-" a tar stream on stdout
        if len(fields) == 1 and fields[0] == value and not value.startswith("type="):
            return {"type": "tar" if value == "-" else "local", "dest": value}
        return super()._from_csv(value)

    def bake_value(self) -> dict[str, Any]:
        out = super().bake_value()
        if self.dest:
            out["dest"] = self.dest
        return out

    def csv(self) -> str:
        parts = [f"type={self.type}"] + ([f"dest={self.dest}"] if self.dest else [])
        parts += [f"{k}={v}" for k, v in sorted(self.attrs.items())]
        return ",".join(_csv_field(p) for p in parts)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = _attr_schema(cls.KNOWN_TYPES, {"dest": {"type": "string"}})
        schema["description"] = (cls.__doc__ or "").strip().splitlines()[0]
        return schema


class Attestation(_AttrEntry):
    """An attestation: `{type = "provenance", mode = "max"}` or `"type=sbom"`; `disabled = true` turns one off."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ("provenance", "sbom")
    WHAT: ClassVar[str] = "attestation"
    SPECIAL: ClassVar[tuple[str, ...]] = ("disabled",)

    disabled: StrictBool = False
    """Turn this attestation off (buildx otherwise adds a minimal provenance attestation)."""

    @field_validator("disabled", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        return value

    def bake_value(self) -> dict[str, Any]:
        out = super().bake_value()
        if self.disabled:
            out["disabled"] = True
        return out

    def csv(self) -> str:
        parts = [f"type={self.type}"] + (["disabled=true"] if self.disabled else [])
        parts += [f"{k}={v}" for k, v in sorted(self.attrs.items())]
        return ",".join(_csv_field(p) for p in parts)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = _attr_schema(cls.KNOWN_TYPES, {"disabled": {"type": "boolean"}})
        schema["description"] = (cls.__doc__ or "").strip().splitlines()[0]
        return schema


def _csv_or_table_schema(
    model: type[BaseModel], handler: GetJsonSchemaHandler, core_schema: CoreSchema
) -> JsonSchemaValue:
    table = handler.resolve_ref_schema(handler(core_schema))
    return {
        "description": (model.__doc__ or "").strip().splitlines()[0],
        "anyOf": [{"type": "string", "description": "buildx CSV form"}, table],
    }


class Secret(_BakeValue):
    """A build secret: `{id = "aws", src = "~/.aws/credentials"}`, `{id = "TOKEN", env = "TOKEN"}` or `"id=aws,src=..."`."""

    id: str | None = None
    """The secret id the Dockerfile mounts (`RUN --mount=type=secret,id=...`)."""
    src: str | None = None
    """A file to read the secret from."""
    env: str | None = None
    """An environment variable to read the secret from."""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            parsed: dict[str, Any] = {}
            for key, val in _csv_pairs(data, "secret"):
                if key not in ("type", "id", "src", "source", "env"):
                    raise ValueError(
                        f"invalid secret {data!r}: unknown key {key!r}"
                        + _did_you_mean(key, ("type", "id", "src", "env"))
                    )
                parsed["src" if key == "source" else key] = val
            data = parsed
        if isinstance(data, Mapping) and "type" in data:
            # buildx: type=env without env= reads the variable named by src
            data = dict(data)
            kind = data.pop("type")
            if kind not in ("file", "env"):
                raise ModelError(
                    f"unsupported secret type {kind!r}; use 'file' or 'env'", ("type",)
                )
            if kind == "env" and not data.get("env"):
                data["env"] = data.pop("src", None) or data.get("id")
        return data

    @model_validator(mode="after")
    def _has_id(self) -> Secret:
        if not (self.id or self.src or self.env):
            raise ValueError(
                "a secret needs at least an `id` (and a `src` file or an `env` variable)"
            )
        return self

    def bake_value(self) -> dict[str, Any]:
        return {k: v for k, v in (("id", self.id), ("src", self.src), ("env", self.env)) if v}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = _csv_or_table_schema(cls, handler, core_schema)
        schema["anyOf"][1]["properties"]["type"] = {"enum": ["file", "env"]}
        return schema


class SSH(_BakeValue):
    """An SSH agent socket or keys: `{id = "default"}`, `{id = "github", paths = ["~/.ssh/id_ed25519"]}` or `"default"`."""

    id: str = "default"
    """The id the Dockerfile mounts (`RUN --mount=type=ssh,id=...`)."""
    paths: tuple[str, ...] = ()
    """Agent sockets or key files; empty means $SSH_AUTH_SOCK."""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            # buildx SSH.UnmarshalText: id[=path,path...]
            key, eq, paths = data.partition("=")
            return {"id": key, "paths": paths.split(",")} if eq else {"id": key}
        return data

    def bake_value(self) -> dict[str, Any]:
        return {"id": self.id, "paths": list(self.paths)} if self.paths else {"id": self.id}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _csv_or_table_schema(cls, handler, core_schema)


ULIMIT_NAMES = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
]


class Ulimit(_BakeValue):
    """A ulimit for RUN containers: `{name = "nofile", soft = 1024, hard = 2048}` or `"nofile=1024:2048"`."""

    name: str
    """The resource (`nofile`, `nproc`, `memlock`, ...)."""
    soft: int
    """The soft limit (-1 for unlimited)."""
    hard: int | None = None
    """The hard limit; the soft limit when left out."""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            name, eq, limits = data.partition("=")
            soft, colon, hard = limits.partition(":")
            if (
                not eq
                or not re.fullmatch(r"-?[0-9]+", soft)
                or (colon and not re.fullmatch(r"-?[0-9]+", hard))
            ):
                raise ValueError(
                    f"invalid ulimit {data!r}; write name=soft[:hard], e.g. 'nofile=1024:2048'"
                )
            return {"name": name, "soft": int(soft), "hard": int(hard) if colon else None}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value not in ULIMIT_NAMES:
            raise ValueError(
                f"unknown ulimit {value!r}"
                + (_did_you_mean(value, ULIMIT_NAMES) or f" (known: {', '.join(ULIMIT_NAMES)})")
            )
        return value

    @model_validator(mode="after")
    def _order(self) -> Ulimit:
        if self.hard is not None and self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError(
                f"ulimit {self.name}: soft limit {self.soft} is above hard limit {self.hard}"
            )
        return self

    def bake_value(self) -> str:
        # As written: bake prints `name=soft` for a soft-only limit (the hard one then equals it).
        return (
            f"{self.name}={self.soft}"
            if self.hard is None
            else f"{self.name}={self.soft}:{self.hard}"
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _csv_or_table_schema(cls, handler, core_schema)


class Policy(_BakeValue):
    """A policy to validate build sources: `{filename = "extra.rego"}` or `"filename=extra.rego,strict=true"`."""

    filename: str | None = None
    """A Rego policy file."""
    reset: bool | None = None
    """Drop the policies loaded so far (such as Dockerfile.rego)."""
    disabled: bool | None = None
    """Turn policy evaluation off."""
    strict: bool | None = None
    """Fail on policy warnings."""
    log_level: str | None = None
    """Policy log level (panic, fatal, error, warn, info, debug, trace)."""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            out: dict[str, Any] = {}
            for key, val in _csv_pairs(data, "policy"):
                if key not in ("filename", "reset", "disabled", "strict", "log-level"):
                    raise ValueError(f"invalid policy {data!r}: unknown key {key!r}")
                out[key] = val if key in ("filename", "log-level") else val.lower() in ("true", "1")
            return out
        return data

    def bake_value(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("filename", self.filename),
                ("reset", self.reset),
                ("disabled", self.disabled),
                ("strict", self.strict),
                ("log-level", self.log_level),
            )
            if v is not None
        }

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _csv_or_table_schema(cls, handler, core_schema)


class Resources(_Model):
    """cgroup limits for RUN containers."""

    memory: str | None = None
    memory_swap: str | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None

    def bake_value(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    def merged(self, other: Resources) -> Resources:
        return Resources.model_construct(
            **{**self.model_dump(exclude_none=True), **other.model_dump(exclude_none=True)}
        )


# --------------------------------------------------------------------------------------------------
# Targets, groups, variables

CALL_METHODS = ("build", "check", "outline", "targets")
NETWORK_MODES = ("default", "host", "none")
ENTITLEMENTS = (
    "network.host",
    "security.insecure",
    "device",
    "fs",
    "fs.read",
    "fs.write",
    "image",
    "image.push",
    "image.load",
    "ssh",
)
_ANNOTATION_TYPES = ("index", "index-descriptor", "manifest", "manifest-descriptor")
_SHM_RE = re.compile(
    r"(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?"
)  # go-units RAMInBytes, as buildx parses it


class Target(_Model):
    """A bake target: one `docker build`. Every attribute is buildx v0.36 bake's, spelled as in bake."""

    description: str | None = None
    """Human-readable description (`bake --list=targets`)."""
    inherits: tuple[Name, ...] = ()
    """Targets whose attributes this one starts from; later entries win."""
    args: NullableStrMap = Field(default_factory=dict)
    """Build arguments (`--build-arg`)."""
    annotations: tuple[str, ...] = ()
    """Exporter annotations, `[types:]key=value` (types: index, manifest, ...)."""
    attest: tuple[Attestation, ...] = ()
    """Attestations (provenance, sbom)."""
    cache_from: tuple[CacheEntry, ...] = ()
    """External cache sources."""
    cache_to: tuple[CacheEntry, ...] = ()
    """External cache destinations."""
    call: str | None = None
    """Frontend method: build, check, outline, targets (with `,format=...` options)."""
    context: str | None = None
    """Build context: a directory (relative to where bake runs) or a URL. Default '.'."""
    contexts: StrMap = Field(default_factory=dict)
    """Named build contexts; `target:NAME` links another target."""
    dockerfile: str | None = None
    """Dockerfile path (relative to the context). Default 'Dockerfile'."""
    dockerfile_inline: str | None = None
    """An inline Dockerfile; wins over `dockerfile`."""
    entitlements: tuple[str, ...] = ()
    """Privileges the build needs (network.host, security.insecure, ...)."""
    extra_hosts: StrMap = Field(default_factory=dict)
    """host -> IP mappings (`--add-host`)."""
    labels: NullableStrMap = Field(default_factory=dict)
    """Image labels."""
    matrix: Annotated[
        dict[VariableName, tuple[str | dict[str, str], ...]] | None,
        WithJsonSchema(
            {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [
                            _SCALAR_SCHEMA,
                            {"type": "object", "additionalProperties": _SCALAR_SCHEMA},
                        ]
                    },
                },
            }
        ),
    ] = None
    """Fork this target: each key is a variable, each combination of values a target (named by `name`)."""
    name: str | None = None
    """Name template for matrix targets, e.g. 'app-${py}'."""
    network: str | None = None
    """Network mode for RUN: default, host or none."""
    no_cache: StrictBool | None = None
    """Build without cache."""
    no_cache_filter: tuple[str, ...] = ()
    """Stages to build without cache."""
    output: tuple[Output, ...] = ()
    """Outputs (exporters)."""
    platforms: tuple[Platform, ...] = ()
    """Target platforms, os/arch[/variant]; default: [project] platforms."""
    policy: tuple[Policy, ...] = ()
    """Policies validating build sources."""
    pull: StrictBool | None = None
    """Always pull base images."""
    resources: Resources | None = None
    """cgroup limits for RUN containers."""
    secret: tuple[Secret, ...] = ()
    """Secrets exposed to the build."""
    shm_size: Annotated[str | None, WithJsonSchema({"type": ["string", "integer"]})] = None
    """Size of /dev/shm, e.g. '128m'."""
    ssh: tuple[SSH, ...] = ()
    """SSH agent sockets or keys exposed to the build."""
    tags: tuple[TagReference, ...] = ()
    """Full image references, published exactly as written (besides registries x image x [project] tags)."""
    target: str | None = None
    """Dockerfile stage to build."""
    ulimits: tuple[Ulimit, ...] = ()
    """ulimits for RUN containers."""
    image: ImageName | None = None
    """bakepy: the repository path under each [project] registry. Default: the target's name."""

    BAKE_ONLY_FIELDS: ClassVar[tuple[str, ...]] = ("image",)

    @field_validator("matrix", mode="before")
    @classmethod
    def _matrix(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[Any, Any] = {}
        for key, values in value.items():
            if (
                isinstance(values, (str, int, float))
                or not isinstance(values, Sequence)
                or not values
            ):
                raise ModelError(
                    f'matrix values must be a non-empty list, e.g. {key} = ["a", "b"]', (key,)
                )
            items = []
            for i, item in enumerate(values):
                if isinstance(item, Mapping):
                    bad = [k for k, v in item.items() if not isinstance(v, (str, int, float, bool))]
                    if bad:
                        raise ModelError(
                            "a matrix table holds strings or numbers only", (key, i, bad[0])
                        )
                    items.append({str(k): _scalar_to_str(v) for k, v in item.items()})
                elif isinstance(item, (str, int, float, bool)):
                    items.append(_scalar_to_str(item))
                else:
                    raise ModelError(
                        "a matrix value is a string, a number or a table of strings", (key, i)
                    )
            out[key] = items
        return out

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for i, item in enumerate(value):
            if _deferred(item, info):
                continue
            key, eq, _ = item.partition("=")
            if not eq or not key:
                raise ModelError(
                    f"invalid annotation {item!r}; write key=value or 'index,manifest:key=value'",
                    (i,),
                )
            types, colon, _ = key.partition(":")
            for kind in types.split(",") if colon else ():
                base = kind.partition("[")[0]
                if base not in _ANNOTATION_TYPES:
                    raise ModelError(
                        f"unknown annotation level {base!r}"
                        + (
                            _did_you_mean(base, _ANNOTATION_TYPES)
                            or f" (known: {', '.join(_ANNOTATION_TYPES)})"
                        ),
                        (i,),
                    )
        return value

    @field_validator("call")
    @classmethod
    def _call(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or _deferred(value, info):
            return value
        method = next((f for f in parse_csv(value) if "=" not in f), "build")
        if method not in CALL_METHODS:
            raise ValueError(
                f"unknown call method {method!r}"
                + (_did_you_mean(method, CALL_METHODS) or f" (known: {', '.join(CALL_METHODS)})")
            )
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _deferred(value, info) and value not in NETWORK_MODES:
            raise ValueError(
                f"unknown network mode {value!r}"
                + (_did_you_mean(value, NETWORK_MODES) or "; use default, host or none")
            )
        return value

    @field_validator("shm_size", mode="before")
    @classmethod
    def _shm(cls, value: Any, info: ValidationInfo) -> Any:
        value = (
            _scalar_to_str(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else value
        )
        if isinstance(value, str) and not _deferred(value, info) and not _SHM_RE.fullmatch(value):
            raise ValueError(
                f"invalid shm-size {value!r}; write a size such as '128m', '1g' or '256MiB'"
            )
        return value

    @field_validator("entitlements")
    @classmethod
    def _entitlements(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for i, item in enumerate(value):
            key = item.partition("=")[0]
            if not _deferred(item, info) and key not in ENTITLEMENTS:
                raise ModelError(
                    f"unknown entitlement {key!r}"
                    + (_did_you_mean(key, ENTITLEMENTS) or f" (known: {', '.join(ENTITLEMENTS)})"),
                    (i,),
                )
        return value

    @field_validator("platforms")
    @classmethod
    def _unique_platforms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if item in seen:
                raise ModelError(
                    f"{item!r} repeats platforms[{seen[item]}]; list each platform once", (i,)
                )
            seen[item] = i
        return value

    @field_validator("args", "labels", "contexts", "extra_hosts")
    @classmethod
    def _keys(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        for key in value:
            if "${" in key or "%{" in key or not key:
                raise ModelError(
                    f"key {key!r} must be a plain, non-empty name (no '${{' or '%{{')", (key,)
                )
        return value

    @model_validator(mode="after")
    def _name_needs_matrix(self) -> Target:
        if self.name is not None and self.matrix is None:
            raise ModelError(
                "`name` only names matrix targets; add a `matrix` or remove `name`", ("name",)
            )
        return self


class Group(_Model):
    """A bake group: targets (or other groups) built together."""

    targets: tuple[Name, ...] = ()
    """Targets or groups in this group."""
    description: str | None = None
    """Human-readable description."""


class Variable(_Model):
    """A bake variable: `${NAME}` in any string. The environment variable NAME overrides the default."""

    default: Annotated[str | None, WithJsonSchema(_SCALAR_SCHEMA)] = None
    """The value when the environment does not set NAME (numbers and booleans are taken as strings)."""
    description: str | None = None
    """Human-readable description."""

    @field_validator("default", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if isinstance(value, (list, dict, tuple)):
            raise ValueError("a variable default is a string, a number or a boolean")
        return _scalar_to_str(value)


class CacheSettings(_Model):
    """Per-platform cache scopes: each target x platform reads and writes its own scope, so parallel
    runners never overwrite each other's cache (bake-action#329)."""

    type: Literal["registry", "gha", "local"]
    """registry: tags under `ref`; gha: GitHub Actions cache scopes; local: directories under `path`."""
    ref: str | None = None
    """registry: the repository holding cache tags, e.g. '127.0.0.1:5000/cache'."""
    path: str | None = None
    """local: the directory holding one sub-directory per scope."""
    mode: Literal["min", "max"] = "max"
    """Cache export mode: max caches every stage, min only the result."""

    @model_validator(mode="after")
    def _needs(self, info: ValidationInfo) -> CacheSettings:
        if self.type == "registry":
            if not self.ref:
                raise ModelError(
                    "a registry cache needs `ref`, the repository to keep cache tags in", ("ref",)
                )
            if not _deferred(self.ref, info):
                try:
                    ref = parse_reference(self.ref)
                except ValueError as exc:
                    raise ModelError(str(exc), ("ref",)) from None
                if ref.tag or ref.digest:
                    raise ModelError(
                        f"{self.ref!r} has a tag or digest; `ref` is a repository, bakepy adds one tag per scope",
                        ("ref",),
                    )
        if self.type == "local" and not self.path:
            raise ModelError(
                "a local cache needs `path`, the directory to keep cache scopes in", ("path",)
            )
        return self

    def scope(self, target: str, platform: str | None) -> str:
        """The scope of one target x platform (`app.linux-arm64`), or of its all-platform build (`app.all`)."""
        return f"{target}.{platform.replace('/', '-') if platform else 'all'}"

    def entry(self, scope: str, *, export: bool) -> CacheEntry:
        """The cache-from (or, with `export`, cache-to) entry for one scope."""
        attrs: dict[str, str] = {}
        if self.type == "registry":
            assert self.ref is not None
            attrs["ref"] = f"{self.ref}:{scope}"
        elif self.type == "gha":
            attrs["scope"] = scope
        else:
            assert self.path is not None
            attrs["dest" if export else "src"] = f"{self.path.rstrip('/')}/{scope}"
        if export:
            attrs["mode"] = self.mode
        return CacheEntry.model_construct(type=self.type, attrs=attrs)


class ProjectSettings(_Model):
    """bakepy's own settings: the `[project]` table."""

    registries: tuple[Registry, ...] = ()
    """Registry prefixes, host[:port][/namespace...]; every target publishes registry/image:tag to each."""
    platforms: tuple[Platform, ...] = ()
    """Default platforms for targets that set none."""
    tags: tuple[TagName, ...] = ()
    """Tag names; every target publishes registries x image x tags."""
    runners: dict[str, str] = Field(default_factory=dict)
    """CI runner label per platform, and `default` for the others."""
    cache: CacheSettings | None = None
    """Per-platform cache scopes."""

    @field_validator("runners")
    @classmethod
    def _runners(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        out = {}
        for key, label in value.items():
            if key == "default" or _deferred(key, info):
                out[key] = label
                continue
            try:
                out[normalize_platform(key)] = label
            except ValueError as exc:
                raise ModelError(
                    f"{exc} (runners keys are platforms or 'default')", (key,)
                ) from None
        return out

    @field_validator("platforms", "registries", "tags")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if item in seen:
                raise ModelError(f"{item!r} repeats [{seen[item]}]; list each once", (i,))
            seen[item] = i
        return value


class Project(_Model):
    """A bakepy project: what bakepy.toml (or `[tool.bakepy]`, or a bakefile.py) says."""

    settings: ProjectSettings = Field(default_factory=ProjectSettings, alias="project")
    """bakepy settings: registries, default platforms, tags, runners, cache."""
    variables: dict[VariableName, Variable] = Field(default_factory=dict, alias="variable")
    """Variables, interpolated as ${NAME}."""
    targets: dict[Name, Target] = Field(default_factory=dict, alias="target")
    """Targets by name."""
    groups: dict[Name, Group] = Field(default_factory=dict, alias="group")
    """Groups by name."""

    _resolved: ResolvedProject | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Project:
        env = info.context.get("env") if info.context else None
        env = env if env is not None else ENVIRONMENT.get()
        self._resolved = _Resolver(self, os.environ if env is None else env).resolve()
        return self

    @property
    def resolved(self) -> ResolvedProject:
        """The fully resolved project: variables interpolated, matrices expanded, inherits merged."""
        if self._resolved is None:  # pragma: no cover - set by the validator
            self._resolved = _Resolver(self, os.environ).resolve()
        return self._resolved


# --------------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class ResolvedProject:
    """A project as bake would see it: only literal values, no matrix, no inherits."""

    settings: ProjectSettings
    targets: Mapping[str, Target]
    """Resolved targets in definition order (matrix targets in place of their definition)."""
    groups: Mapping[str, Group]
    """Groups, including one per matrix definition that expanded to other names (as bake adds)."""
    variables: Mapping[str, str | None]
    """The value of every variable."""
    origins: Mapping[str, str] = field(default_factory=dict)
    """Resolved target name -> the `[target.NAME]` it came from."""

    @property
    def default_targets(self) -> tuple[str, ...]:
        """What runs when no target is named: the `default` group, a `default` target, else every target."""
        if "default" in self.groups:
            return self.select(["default"])
        if "default" in self.targets:
            return ("default",)
        return tuple(self.targets)

    def select(self, names: Sequence[str] = ()) -> tuple[str, ...]:
        """Expand target and group names to target names (in order, once each); ConfigError on unknown names."""
        from bakepy.errors import ConfigError

        if not names:
            return self.default_targets
        out: dict[str, None] = {}

        def visit(name: str, stack: tuple[str, ...]) -> None:
            if name in self.targets:
                out[name] = None
            elif name in self.groups:
                if name in stack:
                    return
                for member in self.groups[name].targets:
                    visit(member, (*stack, name))
            else:
                known = [*self.targets, *self.groups]
                raise ConfigError(
                    f"unknown target or group {name!r}"
                    + (_did_you_mean(name, known) or f"; known: {', '.join(sorted(known))}")
                )

        for name in names:
            visit(name, ())
        return tuple(out)

    def linked(self, name: str) -> tuple[str, ...]:
        """Targets linked as `target:NAME` contexts by `name`, transitively (bake builds them too)."""
        out: dict[str, None] = {}
        todo = [name]
        while todo:
            for value in self.targets[todo.pop()].contexts.values():
                if value.startswith("target:"):
                    linked = value[len("target:") :]
                    if linked not in out and linked != name:
                        out[linked] = None
                        todo.append(linked)
        return tuple(out)

    def image(self, name: str) -> str:
        """The repository path a target publishes under each registry."""
        return self.targets[name].image or name


# bake's Target.Merge: how an inheriting target combines each attribute with its parents'.
_REPLACE = [
    "description",
    "context",
    "dockerfile",
    "dockerfile_inline",
    "target",
    "call",
    "pull",
    "no_cache",
    "network",
    "shm_size",
    "image",
    "tags",
    "platforms",
    "cache_to",
    "output",
]
_MAP_SKIP_NONE = ("args", "labels", "extra_hosts")
_APPEND = ("annotations", "no_cache_filter", "ulimits", "entitlements", "policy")


def _identity(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return json.dumps(item.model_dump(), sort_keys=True)
    return item


def _dedupe(items: Iterable[Any], key: Callable[[Any], Any] = _identity) -> tuple[Any, ...]:
    """Keep the first position of each key, holding the last value given for it (bake's removeDupes)."""
    out: dict[Any, Any] = {}
    for item in items:
        out[key(item)] = item
    return tuple(out.values())


def _merge(fields: dict[str, Any], child: Target) -> None:
    for name in child.model_fields_set:
        value = getattr(child, name)
        if name in _REPLACE:
            if name == "description" and not value:
                continue
            fields[name] = value
        elif name in _MAP_SKIP_NONE or name == "contexts":
            merged = dict(fields.get(name) or {})
            merged.update({k: v for k, v in value.items() if v is not None})
            fields[name] = merged
        elif name in _APPEND or name in ("attest", "secret", "ssh", "cache_from"):
            fields[name] = (*fields.get(name, ()), *value)
        elif name == "resources":
            fields[name] = fields[name].merged(value) if fields.get(name) else value


def _normalize(fields: dict[str, Any]) -> None:
    """bake's Target.normalize: drop duplicates, add network.host for `network = "host"`."""
    for name in (
        "annotations",
        "tags",
        "platforms",
        "no_cache_filter",
        "cache_from",
        "cache_to",
        "output",
    ):
        if name in fields:
            fields[name] = _dedupe(fields[name])
    if "attest" in fields:
        fields["attest"] = _dedupe(fields["attest"], lambda a: a.type)
    if "secret" in fields:
        fields["secret"] = _dedupe(fields["secret"], lambda s: s.id)
    if "ssh" in fields:
        fields["ssh"] = _dedupe(fields["ssh"], lambda s: s.id)
    if "ulimits" in fields:
        fields["ulimits"] = _dedupe(fields["ulimits"], lambda u: u.name)
    if fields.get("network") == "host":
        fields["entitlements"] = (*fields.get("entitlements", ()), "network.host")
    if "entitlements" in fields:
        fields["entitlements"] = _dedupe(fields["entitlements"])
    for name in ("args", "labels", "extra_hosts"):
        if name in fields:
            fields[name] = {k: v for k, v in fields[name].items() if v is not None}
    if "contexts" in fields:
        fields["contexts"] = {k: v for k, v in fields["contexts"].items() if v}
    fields["context"] = fields.get("context") or "."
    fields["dockerfile"] = fields.get("dockerfile") or "Dockerfile"


def _walk_interpolate(value: Any, lookup: Callable[[str], str], path: tuple[str | int, ...]) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value, lookup)
        except ValueError as exc:
            raise ModelError(str(exc), path) from None
    if isinstance(value, Mapping):
        return {k: _walk_interpolate(v, lookup, (*path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk_interpolate(v, lookup, (*path, i)) for i, v in enumerate(value)]
    return value


def _contains_template(value: Any) -> bool:
    if isinstance(value, str):
        return has_template(value)
    if isinstance(value, Mapping):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_template(v) for v in value)
    return False


class _Resolver:
    def __init__(self, project: Project, env: Mapping[str, str]) -> None:
        self.project = project
        self.env = env
        self.values: dict[str, str | None] = {}

    # variables
    def variable(self, name: str, stack: tuple[str, ...] = ()) -> str:
        variables = self.project.variables
        if name not in variables:
            raise ValueError(
                f"unknown variable {name!r} in '${{{name}}}'"
                + (_did_you_mean(name, variables) or f"; declare it in [variable.{name}]")
            )
        if name in self.values:
            value = self.values[name]
        else:
            if name in stack:
                raise ValueError(
                    f"variable {name!r} refers to itself through {' -> '.join((*stack, name))}"
                )
            if name in self.env:
                value = self.env[name]  # bake takes environment values literally
            else:
                default = variables[name].default
                try:
                    value = (
                        None
                        if default is None
                        else interpolate(default, lambda n: self.variable(n, (*stack, name)))
                    )
                except ModelError:
                    raise
                except ValueError as exc:
                    raise ModelError(
                        str(exc), ("variable", stack[0] if stack else name, "default")
                    ) from None
            self.values[name] = value
        if value is None:
            raise ValueError(
                f"variable {name!r} has no value; set {name} in the environment or give it a default"
            )
        return value

    def resolve(self) -> ResolvedProject:
        project = self.project
        for name in project.variables:
            try:
                self.variable(name)
            except ModelError:
                raise
            except ValueError as exc:
                if "has no value" not in str(exc):
                    raise ModelError(str(exc), ("variable", name, "default")) from None
        settings = self._settings()
        for name in project.groups:
            if name in project.targets:
                raise ModelError(
                    f"{name!r} is both a target and a group; rename one", ("group", name)
                )
        partial: dict[str, Target] = {}
        origins: dict[str, str] = {}
        matrix_groups: dict[str, Group] = {}
        for label, definition in project.targets.items():
            names = []
            for name, target in self._expand(label, definition):
                where = (
                    ("target", label, "name")
                    if definition.matrix is not None
                    else ("target", label)
                )
                if name in partial:
                    key = next(iter(definition.matrix or ()), "key")
                    raise ModelError(
                        f'matrix name {name!r} repeats; put a matrix variable in `name`, e.g. name = "{label}-${{{key}}}"'
                        if origins[name] == label
                        else f"target {name!r} is defined twice (by {origins[name]!r} and {label!r})",
                        where,
                    )
                if name in project.groups or (name != label and name in project.targets):
                    raise ModelError(
                        f"matrix target {name!r} clashes with the {('group' if name in project.groups else 'target')} of that name",
                        where,
                    )
                partial[name] = target
                origins[name] = label
                names.append(name)
            if names != [label]:
                if label in project.groups:
                    raise ModelError(
                        f"matrix target {label!r} clashes with the group of that name",
                        ("group", label),
                    )
                matrix_groups[label] = Group.model_construct(targets=tuple(names))
        targets = {name: self._inherit(name, partial, origins, ()) for name in partial}
        resolved: dict[str, Target] = {}
        for name, fields in targets.items():
            if not fields.get("platforms") and settings.platforms:
                fields["platforms"] = settings.platforms
            _normalize(fields)
            fields.pop("inherits", None)
            fields.pop("matrix", None)
            fields.pop("name", None)
            resolved[name] = Target.model_construct(_fields_set=set(fields), **fields)
        groups = {**project.groups, **matrix_groups}
        self._check_groups(groups, resolved)
        self._check_links(resolved, origins)
        return ResolvedProject(
            settings=settings,
            targets=resolved,
            groups=groups,
            variables=dict(self.values),
            origins=origins,
        )

    def _settings(self) -> ProjectSettings:
        settings = self.project.settings
        raw = settings.model_dump(by_alias=True, exclude_unset=True)
        if not _contains_template(raw):
            return settings
        raw = _walk_interpolate(raw, self.variable, ("project",))
        return _revalidate(ProjectSettings, raw, ("project",))

    def _expand(self, label: str, definition: Target) -> Iterator[tuple[str, Target]]:
        raw = definition.model_dump(by_alias=True, exclude_unset=True, exclude={"matrix", "name"})
        base = ("target", label)
        if definition.matrix is None:
            if not _contains_template(raw):
                yield label, definition
                return
            yield label, _revalidate(Target, _walk_interpolate(raw, self.variable, base), base)
            return
        matrix = {
            key: [
                _walk_interpolate(v, self.variable, (*base, "matrix", key, i))
                for i, v in enumerate(values)
            ]
            for key, values in definition.matrix.items()
        }
        combos: list[dict[str, Any]] = [{}]
        for key, values in matrix.items():  # first key varies slowest
            combos = [{**c, key: v} for c in combos for v in values]
        if definition.name is None and len(combos) > 1:
            first = next(iter(matrix))
            raise ModelError(
                f'a matrix of {len(combos)} combinations needs a `name` template, e.g. name = "{label}-${{{first}}}"',
                (*base, "matrix"),
            )
        for combo in combos:

            def lookup(expr: str, combo: dict[str, Any] = combo) -> str:
                head, _, rest = expr.partition(".")
                if head in combo:
                    value = combo[head]
                    if isinstance(value, dict):
                        if not rest:
                            raise ValueError(
                                f"matrix value '${{{head}}}' is a table; pick a key: {', '.join(f'${{{head}.{k}}}' for k in value)}"
                            )
                        if rest not in value:
                            raise ValueError(
                                f"matrix value {head!r} has no key {rest!r}"
                                + _did_you_mean(rest, value)
                            )
                        return str(value[rest])
                    if rest:
                        raise ValueError(
                            f"matrix value '${{{head}}}' is a string; it has no key {rest!r}"
                        )
                    return str(value)
                if rest:
                    raise ValueError(
                        f"unknown matrix variable {head!r} in '${{{expr}}}'"
                        + _did_you_mean(head, combo)
                    )
                try:
                    return self.variable(expr)
                except ValueError as exc:
                    hint = _did_you_mean(expr, [*combo, *self.project.variables])
                    raise ValueError(
                        f"unknown variable {expr!r} in '${{{expr}}}'{hint or f'; declare it in [variable.{expr}] or the matrix'}"
                    ) from exc

            if definition.name is None:
                name = label
            else:
                try:
                    name = interpolate(definition.name, lookup)
                except ValueError as exc:
                    raise ModelError(str(exc), (*base, "name")) from None
                if not _NAME_RE.fullmatch(name):
                    raise ModelError(
                        f"matrix target name {name!r} may hold only letters, digits, '_' and '-'; "
                        'use a matrix table with a name-safe key, e.g. {id = "312", version = "3.12"}',
                        (*base, "name"),
                    )
            yield name, _revalidate(Target, _walk_interpolate(raw, lookup, base), base)

    def _inherit(
        self,
        name: str,
        partial: Mapping[str, Target],
        origins: Mapping[str, str],
        stack: tuple[str, ...],
    ) -> dict[str, Any]:
        target = partial[name]
        fields: dict[str, Any] = {}
        for i, parent in enumerate(target.inherits):
            where = ("target", origins[name], "inherits", i)
            if parent in stack or parent == name:
                cycle = " -> ".join((*stack, name, parent))
                raise ModelError(f"inherits cycle: {cycle}; remove one of these inherits", where)
            if parent not in partial:
                if parent in self.project.groups:
                    raise ModelError(f"{parent!r} is a group; inherits takes targets", where)
                raise ModelError(
                    f"unknown target {parent!r}"
                    + (_did_you_mean(parent, partial) or f"; known targets: {', '.join(partial)}"),
                    where,
                )
            parent_fields = self._inherit(parent, partial, origins, (*stack, name))
            _merge(fields, Target.model_construct(_fields_set=set(parent_fields), **parent_fields))
        _merge(fields, target)
        return fields

    def _check_groups(self, groups: Mapping[str, Group], targets: Mapping[str, Target]) -> None:
        for name, group in groups.items():
            for i, member in enumerate(group.targets):
                if member not in targets and member not in groups:
                    known = [*targets, *groups]
                    raise ModelError(
                        f"unknown target or group {member!r}"
                        + (_did_you_mean(member, known) or f"; known: {', '.join(known)}"),
                        ("group", name, "targets", i),
                    )

        def visit(name: str, stack: tuple[str, ...]) -> None:
            for i, member in enumerate(groups[name].targets):
                if member in groups:
                    if member in stack or member == name:
                        raise ModelError(
                            f"groups contain each other: {' -> '.join((*stack, name, member))}",
                            ("group", name, "targets", i),
                        )
                    visit(member, (*stack, name))

        for name in groups:
            visit(name, ())

    def _check_links(self, targets: Mapping[str, Target], origins: Mapping[str, str]) -> None:
        for name, target in targets.items():
            for key, value in target.contexts.items():
                if not value.startswith("target:"):
                    continue
                linked = value[len("target:") :]
                where = ("target", origins[name], "contexts", key)
                if linked == name:
                    raise ModelError(f"target {name!r} cannot use itself as a context", where)
                if linked not in targets:
                    raise ModelError(
                        f"unknown target {linked!r}" + _did_you_mean(linked, targets), where
                    )

        def visit(name: str, stack: tuple[str, ...]) -> None:
            for key, value in targets[name].contexts.items():
                if value.startswith("target:"):
                    linked = value[len("target:") :]
                    if linked in stack:
                        raise ModelError(
                            f"context loop: {' -> '.join((*stack, name, linked))}",
                            ("target", origins[name], "contexts", key),
                        )
                    visit(linked, (*stack, name))

        for name in targets:
            visit(name, ())


_LITERAL = {"literal": True}


def _revalidate(model: type[_M], raw: Mapping[str, Any], base: tuple[str | int, ...]) -> _M:
    """Validate interpolated values, with nothing deferred; errors carry the path from the project root."""
    try:
        return model.model_validate(raw, context=_LITERAL)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc, message = explain_error(err, model)
        raise ModelError(message, (*base, *loc)) from None


# --------------------------------------------------------------------------------------------------
# Error messages


def format_path(loc: Sequence[str | int]) -> str:
    """`('target', 'app', 'platforms', 1)` -> `target.app.platforms[1]` (TOML key spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = (
            part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else '"' + part.replace('"', '\\"') + '"'
        )
        out += f".{key}" if out else key
    return out


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the key at the end of `loc` (for 'did you mean')."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = None
            for fname, finfo in current.model_fields.items():
                if part in (finfo.alias, fname):
                    found = finfo.annotation
                    break
            if found is None:
                return None
            current = found
        else:
            continue
        # unwrap Optional / tuple / dict to the model inside
        for _ in range(4):
            args = [
                a for a in typing.get_args(current) if a is not type(None) and a is not Ellipsis
            ]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            if not args:
                break
            if typing.get_origin(current) is dict:
                current = args[-1]
                # the next loc part is the key: skip one string
                return _model_at_after_key(current, loc, part)
            current = args[0]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_at_after_key(
    value_type: Any, loc: Sequence[str | int], dict_field: str | int
) -> type[BaseModel] | None:
    idx = list(loc).index(dict_field)
    rest = list(loc)[idx + 2 :]
    if isinstance(value_type, type) and issubclass(value_type, BaseModel):
        return _model_at(value_type, rest) if rest else value_type
    return None


def _fields_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if name != "attrs"]


def explain_error(err: ErrorDetails, root: type[BaseModel]) -> tuple[tuple[str | int, ...], str]:
    """One pydantic error -> (path, one-line message with the fix), paths in TOML key spelling."""
    loc = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        exc = ctx.get("error")
        if isinstance(exc, ModelError):
            return (*loc, *exc.path), exc.message
        return loc, str(exc) if exc is not None else err["msg"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        holder = _model_at(root, loc[:-1])
        hint = _did_you_mean(key, _fields_of(holder), 0.5) if holder else ""
        snake = key.replace("_", "-")
        if not hint and holder and snake in _fields_of(holder):
            hint = f"; did you mean {snake!r}?"
        return loc, f"unknown key {key!r}" + hint
    if kind == "missing":
        return loc, f"missing required key {loc[-1]!r}"
    expected = {
        "string_type": "a string",
        "bool_type": "a boolean (true or false)",
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "float_type": "a number",
        "list_type": "an array",
        "tuple_type": "an array",
        "dict_type": "a table",
        "model_type": "a table",
        "model_attributes_type": "a table",
        "bool_parsing": "a boolean (true or false)",
    }.get(kind)
    if expected:
        fix = ""
        if expected == "an array" and isinstance(value, str):
            fix = f"; write [{_short(value)}]".replace("'", '"')
        return loc, f"expected {expected}, got {_toml_type(value)} {_short(value)}{fix}"
    if kind == "literal_error":
        allowed = str(ctx.get("expected", ""))
        options = re.findall(r"'([^']*)'", allowed)
        hint = _did_you_mean(str(value), options) if isinstance(value, str) else ""
        return loc, f"{_short(value)} is not one of {allowed}{hint}"
    return loc, err["msg"]
