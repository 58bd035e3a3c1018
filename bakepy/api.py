"""The functions of bakepy's public Python API: load a project, render it, plan its publish.

Each is a thin, typed door to the stage that does the work (`bakepy.config`, `bakepy.bake.render`,
`bakepy.publish.plan`, `bakepy.tagging.apply`), so a script or a test gets what `bakepy render` and
`bakepy plan` print without a process: `bakepy.render(project)`, `bakepy.plan(project)`. Re-exported lazily by
`bakepy` (`import bakepy` loads none of it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bakepy.model import Project
    from bakepy.publish.plan import PublishPlan
    from bakepy.tagging.context import BuildContext

__all__ = ["load", "plan", "render"]


def load(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Project:
    """The project of `path` (a bakepy.toml, a pyproject.toml with [tool.bakepy] or a bakefile.py), or of the
    one project file in the current directory, as the CLI finds it. `env` replaces os.environ for `${VAR}`.
    Raises `bakepy.errors.ConfigError` (the CLI's one-line message) for bad input."""
    from bakepy.config import load_project

    return load_project(None if path is None else Path(path), env=env).project


def render(
    project: Project,
    *,
    targets: Sequence[str] | None = None,
    platform: str | None = None,
    publish: bool = False,
) -> dict[str, Any]:
    """The docker-bake.json of `project` as a dict, as `bakepy render` writes it (`json.dumps` it, or
    `bakepy.bake.render.dumps` for the CLI's bytes). `targets` selects targets or groups (default: all),
    `platform` keeps one platform of each target, `publish` renders what a publish builds (push by digest)."""
    from bakepy.bake.render import render_bake

    return render_bake(project, targets=targets, platform=platform, publish=publish)


def plan(
    project: Project,
    targets: Sequence[str] = (),
    platforms: Sequence[str] | None = None,
    *,
    context: BuildContext | None = None,
) -> PublishPlan:
    """What `bakepy publish` would do for `targets` (default: the default group): targets × platforms × tags ×
    registries, as `bakepy plan --json` prints it (`bakepy.publish.plan.plan_to_json`).

    A project with tag rules ([project.metadata]) gets its tags from `context`, the git/CI event to publish
    (`bakepy.tagging.context.detect_context`, or a `BuildContext` you make); without one its rules are not
    applied. Raises ConfigError for bad names or values, NothingToDoError when nothing would be published."""
    from bakepy.publish.plan import plan_publish

    if context is not None:
        from bakepy.tagging.apply import apply_context

        project, _ = apply_context(project, context, targets=targets)
    return plan_publish(project, targets, platforms)
