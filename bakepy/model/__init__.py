"""The typed model of a bakepy project: Docker Bake targets, groups and variables, plus bakepy's settings.

This package owns what a project *means*. It validates every value a buildx v0.36 Bake file can hold
(platforms, image references, the CSV forms of cache/output/secret/ssh/attest/ulimit entries), and
resolves a definition the way bake does: `${VAR}` interpolation, `matrix` expansion with bake's naming,
`inherits` merging with bake's per-attribute rules. Both project forms (bakepy.toml and a Python
`bakefile.py`) build a `Project`; `Project.resolved` is the fully resolved view that `render` and `plan` use.

Pure: no files, no processes. Errors are pydantic `ValidationError`s whose messages say what is wrong and
how to fix it; `explain_error` and `format_path` turn them into one line with a TOML-style path.

One module per concern, in the order a value meets them:

* `platforms`, `references`, `csvvalue`, `interpolate`: parsing of single values, as buildx parses them;
* `types`: the annotated string types the fields use;
* `attributes`: structured attributes (cache, output, attest, secret, ssh, ulimit, policy, resources);
* `targets`: `Target`, `Group`, `Variable`, the settings and the `Project` root;
* `resolve`: variables, matrices and inherits, as bake resolves them (`ResolvedProject`);
* `explain`: validation errors as one line with a path and a fix.
"""

from __future__ import annotations

from bakepy.model.attributes import (
    SSH,
    Attestation,
    CacheEntry,
    Output,
    Policy,
    Resources,
    Secret,
    Ulimit,
)
from bakepy.model.base import ENVIRONMENT, ModelError, format_path
from bakepy.model.builder import BuilderSettings
from bakepy.model.csvvalue import parse_csv
from bakepy.model.explain import explain_error
from bakepy.model.interpolate import has_template, interpolate
from bakepy.model.platforms import (
    COMMON_PLATFORMS,
    KNOWN_ARCH,
    KNOWN_OS,
    LOCAL,
    check_platform,
    local_platform,
    normalize_platform,
    platform_warning,
    same_platform,
)
from bakepy.model.references import DEFAULT_DOMAIN, ImageReference, parse_reference, parse_registry
from bakepy.model.resolve import ResolvedProject
from bakepy.model.targets import (
    CacheSettings,
    CISettings,
    CISystemSettings,
    GitLabSettings,
    Group,
    Project,
    ProjectSettings,
    Target,
    Variable,
)

__all__ = [
    "COMMON_PLATFORMS",
    "DEFAULT_DOMAIN",
    "ENVIRONMENT",
    "KNOWN_ARCH",
    "KNOWN_OS",
    "LOCAL",
    "SSH",
    "Attestation",
    "BuilderSettings",
    "CISettings",
    "CISystemSettings",
    "CacheEntry",
    "CacheSettings",
    "GitLabSettings",
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
    "check_platform",
    "explain_error",
    "format_path",
    "has_template",
    "interpolate",
    "local_platform",
    "normalize_platform",
    "parse_csv",
    "parse_reference",
    "parse_registry",
    "platform_warning",
    "same_platform",
]
