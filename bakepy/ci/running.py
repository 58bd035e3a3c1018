"""Which CI system this process runs on, and the project as it builds there.

Kept apart from `workflow` (the generated files' shared parts): every project command asks it, so it imports
nothing beyond the model.
"""

from __future__ import annotations

from collections.abc import Mapping

from bakepy.model import Project


def running_ci(env: Mapping[str, str]) -> str | None:
    """The CI system this process runs on, from the variables each always sets: "github", "gitlab" or None."""
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return None


def on_ci(project: Project, env: Mapping[str, str]) -> Project:
    """`project` as it builds on the CI system `env` says it runs on: `[ci.github]` / `[ci.gitlab]` cache in
    place of `[project] cache` (bake-action#329: per-platform scopes either way)."""
    system = project.ci.system(running_ci(env))
    if system is None or system.cache is None:
        return project
    import dataclasses

    resolved = project.resolved
    settings = resolved.settings.model_copy(update={"cache": system.cache})
    return project.with_resolved(dataclasses.replace(resolved, settings=settings))
