"""bakepy: publish multi-architecture container images safely.

This module owns the package version and the public typed API (`from bakepy import Project, Target, Group`).
It stays import-light: `bakepy --version` imports it, and neither python_on_whales nor pydantic may load on
that path, so the model classes are re-exported lazily, on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022  (the version first, then the model, alphabetically)
    "__version__",
    "Attestation",
    "CacheEntry",
    "CacheSettings",
    "Group",
    "Output",
    "Policy",
    "Project",
    "ProjectSettings",
    "Resources",
    "SSH",
    "Secret",
    "Target",
    "Ulimit",
    "Variable",
]

if TYPE_CHECKING:
    from bakepy.model import (
        SSH,
        Attestation,
        CacheEntry,
        CacheSettings,
        Group,
        Output,
        Policy,
        Project,
        ProjectSettings,
        Resources,
        Secret,
        Target,
        Ulimit,
        Variable,
    )


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from bakepy import model

        return getattr(model, name)
    raise AttributeError(f"module 'bakepy' has no attribute {name!r}")
