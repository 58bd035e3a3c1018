"""Structured bake attributes: cache, output, attest, secret, ssh, ulimit, policy, resources (a table or buildx's CSV string)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

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

from bakepy.model.base import ModelError, _did_you_mean
from bakepy.model.csvvalue import _csv_field, _csv_pairs, parse_csv
from bakepy.model.interpolate import _deferred
from bakepy.model.references import parse_reference
from bakepy.model.types import Items, StrMap, _Model, _scalar_to_str

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
