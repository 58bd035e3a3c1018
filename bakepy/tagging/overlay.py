"""docker/metadata-action's own bake file, read as an overlay at publish time.

metadata-action writes one target (`docker-metadata-action` unless its `bake-target` input says otherwise)
holding this run's `tags`, `labels`, `annotations` and `args`; bake-action users list that file after their own,
and their targets `inherits = ["docker-metadata-action"]`. `overlay_project` does the same to a bakepy project:
the file's target is merged into the project's target of that name (an empty placeholder, kept out of the
default group), as bake merges a target a later file defines again, and the project is resolved again, so every inheriting target gets the run's values, without baking
one run's tags into bakepy.toml. Pure: the file is read, nothing runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.errors import ConfigError

if TYPE_CHECKING:
    from bakepy.model import Project

__all__ = ["overlay_project", "read_overlay"]

_KEYS = ("tags", "labels", "annotations", "args")


def read_overlay(path: Path) -> tuple[str, dict[str, Any]]:
    """(target name, its tags/labels/annotations/args) from a metadata-action bake file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the metadata bake file ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(
            f"{path}: not a JSON bake file ({exc})",
            hint="pass the file metadata-action wrote (its bake-file output)",
        ) from None
    targets = data.get("target") if isinstance(data, dict) else None
    if not isinstance(targets, dict) or len(targets) != 1:
        raise ConfigError(
            f"{path}: target: expected exactly one target (metadata-action's `docker-metadata-action`), "
            f"found {len(targets) if isinstance(targets, dict) else 'none'}",
            hint="pass a file metadata-action wrote (its bake-file, bake-file-tags, bake-file-labels or "
            "bake-file-annotations output), one --metadata-bake each",
        )
    ((name, body),) = targets.items()
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: target.{name}: expected a table")
    unknown = [k for k in body if k not in _KEYS]
    if unknown:
        raise ConfigError(
            f"{path}: target.{name}.{unknown[0]}: metadata-action writes only {', '.join(_KEYS)}"
        )
    return name, {k: body[k] for k in _KEYS if k in body}


def overlay_project(project: Project, *paths: Path, source: str = "bakepy.toml") -> Project:
    """`project` with each metadata bake file's target merged into the project's target of that name, as bake
    merges a target a later `-f` file defines again. Several files (metadata-action's `bake-file-tags` and
    `bake-file-labels`, say) are merged one after the other, in the order bake would read them; the project is
    validated once, after the last."""
    from pydantic import ValidationError

    from bakepy.model import Project, explain_error, format_path

    dump = project.model_dump(by_alias=True, exclude_unset=True)
    for path in paths:
        name, values = read_overlay(path)
        if name not in project.targets:
            raise ConfigError(
                f"{path}: target {name!r} is not in {source}",
                hint=f'add an empty [target.{name}] (kept out of the default group) and `inherits = ["{name}"]` '
                "to the targets that take its tags and labels, as with bake-action",
            )
        placeholder = dict(dump.get("target", {}).get(name) or {})
        # bake's merge of a target defined again in a later file (buildx's Target.Merge): tags replaced, labels
        # and args merged key by key (a null value leaves the key as it was), annotations appended
        if "tags" in values:
            placeholder["tags"] = values["tags"]
        for key in ("labels", "args"):
            if key in values:
                given = {k: v for k, v in values[key].items() if v is not None}
                placeholder[key] = {**placeholder.get(key, {}), **given}
        if "annotations" in values:
            placeholder["annotations"] = [
                *placeholder.get("annotations", ()),
                *values["annotations"],
            ]
        dump.setdefault("target", {})[name] = placeholder
    try:
        return Project.model_validate(dump)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc, message = explain_error(err, Project)
        raise ConfigError(f"{', '.join(map(str, paths))}: {format_path(loc)}: {message}") from None
