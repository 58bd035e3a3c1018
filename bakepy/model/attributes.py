"""Structured bake attributes: cache, output, attest, secret, ssh, ulimit, policy, resources (a table or buildx's CSV string)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from bakepy.kebab import KebabModel
from bakepy.model.base import ModelError, _did_you_mean
from bakepy.model.csvvalue import _csv_field, _csv_pairs, parse_csv
from bakepy.model.interpolate import _deferred
from bakepy.model.references import parse_reference
from bakepy.model.types import Items, StrMap, _scalar_to_str

# --------------------------------------------------------------------------------------------------
# Structured attributes: a table or buildx's CSV string

_ATTR_VALUE: dict[str, Any] = {"type": ["string", "boolean", "integer"]}
_KEY_SCHEMA: dict[str, Any] = {"mode": {"enum": ["min", "max"]}}

#: BuildKit's cache backends' attributes (docs: "Export cache"), import and export, every backend.
CACHE_KEYS = (
    # registry, local
    "ref",
    "mode",
    "image-manifest",
    "oci-mediatypes",
    "compression",
    "compression-level",
    "force-compression",
    "ignore-error",
    "src",
    "dest",
    "digest",
    "tag",
    # gha
    "scope",
    "url",
    "url_v2",
    "token",
    "timeout",
    "repository",
    "ghtoken",
    "version",
    # s3, azblob
    "bucket",
    "region",
    "name",
    "endpoint_url",
    "prefix",
    "blobs_prefix",
    "manifests_prefix",
    "use_path_style",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "touch_refresh",
    "upload_parallelism",
    "download_parallelism",
    "account_url",
)
#: BuildKit's exporters' attributes (image/registry, docker, oci, local, tar), besides `type` and `dest`.
OUTPUT_KEYS = (
    "name",
    "push",
    "push-by-digest",
    "insecure",
    "dangling-name-prefix",
    "name-canonical",
    "compression",
    "compression-level",
    "force-compression",
    "oci-mediatypes",
    "oci-artifact",
    "unpack",
    "store",
    "rewrite-timestamp",
    "source-date-epoch",
    "buildinfo",
    "buildinfo-attrs",
    "attestation-prefix",
    "tar",
    "context",
    "platform-split",
)
#: provenance and sbom attestation attributes, besides `type` and `disabled`.
ATTEST_KEYS = (
    "mode",
    "builder-id",
    "reproducible",
    "inline-only",
    "version",
    "filename",
    "generator",
)


def _attr_schema(
    type_values: Sequence[str],
    extra_props: Mapping[str, Any] | None = None,
    keys: Sequence[str] = (),
) -> dict[str, Any]:
    props: dict[str, Any] = {"type": {"type": "string", "examples": list(type_values)}}
    props.update({key: _KEY_SCHEMA.get(key, _ATTR_VALUE) for key in keys})
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


class _BakeValue(KebabModel):
    """A structured attribute (a typed table, or buildx's CSV string) that serialises as `bake_value()`: the form
    render writes and `docker buildx bake --print` shows."""

    def bake_value(self) -> Any:
        raise NotImplementedError

    @model_serializer(mode="plain")
    def _serialize(self) -> Any:
        return self.bake_value()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Either form: buildx's CSV string, or the table of the class's fields."""
        return _csv_or_table_schema(cls, handler, core_schema)


class _AttrEntry(_BakeValue):
    """An entry made of a `type` and free-form string attributes, written flat: `{type = "gha", scope = "x"}`."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ()
    WHAT: ClassVar[str] = "entry"
    SPECIAL: ClassVar[tuple[str, ...]] = ()
    KEYS: ClassVar[tuple[str, ...]] = ()
    """The attributes BuildKit documents for this kind of entry, as buildx spells them. Each is a keyword of the
    class (`image-manifest` is `image_manifest=`); a key close to one of them is a misspelling and an error."""

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
        attrs = {cls._key(k): _scalar_to_str(v) for k, v in data.items() if v is not None}
        if isinstance(nested, Mapping):
            attrs.update({k: _scalar_to_str(v) for k, v in nested.items()})
        elif nested is not None:
            attrs["attrs"] = nested
        out["attrs"] = attrs
        return out

    @classmethod
    def _key(cls, key: str) -> str:
        """`key` as buildx spells it (a Python keyword's `_` is a `-`); an error if it misspells a known key.

        A key that resembles none is passed on as written: buildx hands every attribute to BuildKit, and a
        newer BuildKit may know it (issue 10: refuse only what is certainly wrong). The `attrs` table is the
        explicit way to pass one."""
        if key in cls.KEYS:
            return key
        dashed = key.replace("_", "-")
        if dashed in cls.KEYS:
            return dashed
        if (
            "." not in key
        ):  # annotation.*, annotation-index.*, registry.insecure: patterns, not typos
            hint = _did_you_mean(key, (*cls.KEYS, *cls.SPECIAL))
            if hint:
                raise ModelError(f"unknown key {key!r}{hint}", (key,))
        return key

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
        schema = _attr_schema(cls.KNOWN_TYPES, keys=cls.KEYS)
        schema["description"] = (cls.__doc__ or "").strip().splitlines()[0]
        return schema


class CacheEntry(_AttrEntry):
    """A cache import/export entry: `{type = "registry", ref = "..."}` or `"type=registry,ref=..."` or a bare ref."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ("registry", "local", "inline", "gha", "s3", "azblob")
    WHAT: ClassVar[str] = "cache entry"
    KEYS: ClassVar[tuple[str, ...]] = CACHE_KEYS

    if TYPE_CHECKING:
        # The keyword signature type checkers see (the attributes are kept, as written, in `attrs`).
        def __init__(
            self,
            *,
            type: Literal["registry", "local", "inline", "gha", "s3", "azblob"] | str,
            ref: str | None = None,
            mode: Literal["min", "max"] | None = None,
            image_manifest: bool | str | None = None,
            oci_mediatypes: bool | str | None = None,
            compression: Literal["uncompressed", "gzip", "estargz", "zstd"] | str | None = None,
            compression_level: int | str | None = None,
            force_compression: bool | str | None = None,
            ignore_error: bool | str | None = None,
            src: str | None = None,
            dest: str | None = None,
            digest: str | None = None,
            tag: str | None = None,
            scope: str | None = None,
            url: str | None = None,
            url_v2: str | None = None,
            token: str | None = None,
            timeout: str | None = None,
            repository: str | None = None,
            ghtoken: str | None = None,
            version: int | str | None = None,
            bucket: str | None = None,
            region: str | None = None,
            name: str | None = None,
            endpoint_url: str | None = None,
            prefix: str | None = None,
            blobs_prefix: str | None = None,
            manifests_prefix: str | None = None,
            use_path_style: bool | str | None = None,
            access_key_id: str | None = None,
            secret_access_key: str | None = None,
            session_token: str | None = None,
            touch_refresh: str | None = None,
            upload_parallelism: int | str | None = None,
            download_parallelism: int | str | None = None,
            account_url: str | None = None,
            attrs: Mapping[str, str] | None = None,
        ) -> None: ...

    @classmethod
    def _from_csv(cls, value: str) -> dict[str, Any]:
        fields = parse_csv(value)
        # buildx: a single field without '=' is a registry ref ("user/app:cache")
        if len(fields) == 1 and "=" not in fields[0]:
            return {"type": "registry", "ref": fields[0]}
        return super()._from_csv(value)

    @model_validator(mode="after")
    def _ref(self, info: ValidationInfo) -> CacheEntry:
        mode = self.attrs.get("mode")
        if mode is not None and mode not in ("min", "max") and not _deferred(mode, info):
            raise ModelError(
                f"{mode!r} is not a cache mode; use 'min' or 'max'"
                + _did_you_mean(mode, ("min", "max")),
                ("mode",),
            )
        return self

    def ref_problem(self, info: ValidationInfo | None = None) -> str | None:
        """Why a registry cache's `ref` is no image reference, or None. Checked where it matters (not here, for
        both directions): a cache export to it fails the build, so `cache-to` refuses it (`Target`); buildx
        only skips a cache import from it, with a warning, so `cache-from` takes it and warns, as bake does."""
        ref = self.attrs.get("ref")
        if self.type != "registry" or ref is None or _deferred(ref, info):
            return None
        try:
            parse_reference(ref)
        except ValueError as exc:
            return str(exc)
        return None


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
    KEYS: ClassVar[tuple[str, ...]] = OUTPUT_KEYS

    if TYPE_CHECKING:
        # The keyword signature type checkers see (the attributes but `dest` are kept, as written, in `attrs`).
        def __init__(
            self,
            *,
            type: Literal["image", "registry", "docker", "oci", "tar", "local", "cacheonly"] | str,
            dest: str | None = None,
            name: str | None = None,
            push: bool | str | None = None,
            push_by_digest: bool | str | None = None,
            insecure: bool | str | None = None,
            dangling_name_prefix: str | None = None,
            name_canonical: bool | str | None = None,
            compression: Literal["uncompressed", "gzip", "estargz", "zstd"] | str | None = None,
            compression_level: int | str | None = None,
            force_compression: bool | str | None = None,
            oci_mediatypes: bool | str | None = None,
            oci_artifact: bool | str | None = None,
            unpack: bool | str | None = None,
            store: bool | str | None = None,
            rewrite_timestamp: bool | str | None = None,
            source_date_epoch: int | str | None = None,
            buildinfo: bool | str | None = None,
            buildinfo_attrs: bool | str | None = None,
            attestation_prefix: str | None = None,
            tar: bool | str | None = None,
            context: str | None = None,
            platform_split: bool | str | None = None,
            attrs: Mapping[str, str] | None = None,
        ) -> None: ...

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
        schema = _attr_schema(cls.KNOWN_TYPES, {"dest": {"type": "string"}}, cls.KEYS)
        schema["description"] = (cls.__doc__ or "").strip().splitlines()[0]
        return schema


class Attestation(_AttrEntry):
    """An attestation: `{type = "provenance", mode = "max"}` or `"type=sbom"`; `disabled = true` turns one off."""

    KNOWN_TYPES: ClassVar[tuple[str, ...]] = ("provenance", "sbom")
    WHAT: ClassVar[str] = "attestation"
    SPECIAL: ClassVar[tuple[str, ...]] = ("disabled",)
    KEYS: ClassVar[tuple[str, ...]] = ATTEST_KEYS

    if TYPE_CHECKING:
        # The keyword signature type checkers see (the attributes but `disabled` are kept in `attrs`).
        def __init__(
            self,
            *,
            type: Literal["provenance", "sbom"] | str,
            disabled: bool = False,
            mode: Literal["min", "max"] | None = None,
            builder_id: str | None = None,
            reproducible: bool | str | None = None,
            inline_only: bool | str | None = None,
            version: str | None = None,
            filename: str | None = None,
            generator: str | None = None,
            attrs: Mapping[str, str] | None = None,
        ) -> None: ...

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
        schema = _attr_schema(cls.KNOWN_TYPES, {"disabled": {"type": "boolean"}}, cls.KEYS)
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
    paths: Items[str] = ()
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


class Resources(KebabModel):
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
