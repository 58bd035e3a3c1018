"""bake's merge rule per target attribute (its `Target.Merge`): what an inheriting target does with a value its
parents also set. Shared by the importer's factoring (bases, matrices) and its base detection, which must agree.
"""

from __future__ import annotations

#: bake's Target.Merge, by attribute (bake's spelling): a child's value replaces its parents' value …
REPLACE = frozenset(
    {
        "description",
        "context",
        "dockerfile",
        "dockerfile-inline",
        "target",
        "call",
        "pull",
        "no-cache",
        "network",
        "shm-size",
        "tags",
        "platforms",
        "cache-to",
        "output",
        "resources",  # merged field by field; kept only when equal, which any merge keeps
    }
)
#: … is merged into its parents' map entry by entry …
MAPS = frozenset({"args", "labels", "extra-hosts", "contexts"})
#: … or is appended to its parents' list.
APPEND = frozenset(
    {
        "annotations",
        "no-cache-filter",
        "ulimits",
        "entitlements",
        "policy",
        "attest",
        "secret",
        "ssh",
        "cache-from",
    }
)
