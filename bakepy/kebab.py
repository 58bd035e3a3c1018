"""The shape every bakepy pydantic model shares: frozen, unknown keys refused, and each field taken by its
bake/TOML spelling (`cache-from`) as well as its Python name (`cache_from`).

bakepy.model and bakepy.tagging both build on it; it imports neither, so either can be imported alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


def kebab(name: str) -> str:
    """A Python field name as bake and TOML spell it: `cache_from` → `cache-from`."""
    return name.replace("_", "-")


class KebabModel(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=kebab,
        validate_by_name=True,
        validate_by_alias=True,
    )
