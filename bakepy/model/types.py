"""The annotated string types every model field uses (platform, tag, registry, image, names, maps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationInfo,
    WithJsonSchema,
)

from bakepy.model.interpolate import _NAME_RE, _VARIABLE_RE, _deferred
from bakepy.model.platforms import check_platform
from bakepy.model.references import (
    _check_path,
    _check_tag,
    _is_domain,
    parse_reference,
    parse_registry,
)
from bakepy.tagging.rules import as_tuple

# --------------------------------------------------------------------------------------------------
# Annotated string types


def _platform(value: str, info: ValidationInfo) -> str:
    return value if _deferred(value, info) else check_platform(value)


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
_T = TypeVar("_T")
Items = Annotated[Sequence[_T], AfterValidator(as_tuple)]
"""A list field: any sequence in (the lists the docs pass, in Python or TOML), a tuple once validated, so
models stay hashable. Annotated as `Sequence` rather than `tuple` because type checkers build the keyword
signature from the annotation: `tuple[str, ...]` would refuse `platforms=["linux/amd64"]`."""
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
