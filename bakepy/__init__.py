"""bakepy: publish multi-architecture container images safely.

This module owns the package version and the public typed API: the model (`from bakepy import Project, Target,
Group`, `MetadataSettings`, `TagRule` and `BuildContext` for tag rules) and the functions `load`, `render` and `plan`
(`bakepy.api`), and `variable_values` for a bakefile that computes with its variables
(`bakepy.bakefuncs`). It stays import-light: `bakepy --version` imports it, and neither python_on_whales nor pydantic
may load on that path, so every name is re-exported lazily, on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022  (the version, the model alphabetically, tag rules, then the functions)
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
    "MetadataSettings",
    "TagRule",
    "BuildContext",
    "PublishPlan",
    "load",
    "plan",
    "render",
    "variable_values",
]

# Where each lazily exported name lives (the model's classes: bakepy.model).
_HOMES = {
    "MetadataSettings": "bakepy.tagging.rules",
    "TagRule": "bakepy.tagging.rules",
    "BuildContext": "bakepy.tagging.context",
    "PublishPlan": "bakepy.publish.plan",
    "load": "bakepy.api",
    "plan": "bakepy.api",
    "render": "bakepy.api",
    "variable_values": "bakepy.bakefuncs",
}

if TYPE_CHECKING:
    from bakepy.api import load, plan, render
    from bakepy.bakefuncs import variable_values
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
    from bakepy.publish.plan import PublishPlan
    from bakepy.tagging.context import BuildContext
    from bakepy.tagging.rules import MetadataSettings, TagRule


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        import importlib

        return getattr(importlib.import_module(_HOMES.get(name, "bakepy.model")), name)
    raise AttributeError(f"module 'bakepy' has no attribute {name!r}")
