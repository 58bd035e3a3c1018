"""`bakepy tags`: the tags, OCI labels and annotations this git/CI context yields, per target and registry, and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.cli.app import app
from bakepy.cli.options import (
    ContextOpt,
    ContextSourceOpt,
    FileOpt,
    JsonOpt,
    TargetsArg,
    print_warnings,
)

if TYPE_CHECKING:
    from bakepy.tagging.context import BuildContext


def context_to_json(context: BuildContext) -> dict[str, Any]:
    """The context's stable JSON shape (`bakepy tags --json`)."""
    return {
        "source": context.source,
        "event": context.event,
        "event_name": context.event_name,
        "ref": context.ref,
        "branch": context.branch,
        "tag": context.tag,
        "pr": context.pr,
        "sha": context.sha,
        "base_ref": context.base_ref,
        "default_branch": context.default_branch,
        "is_default_branch": context.is_default_branch,
        "source_url": context.source_url,
        "dirty": context.dirty,
        "created": context.created.isoformat(),
        "push": context.event != "pr",
        "notes": list(context.notes),
        "description": context.describe(),
    }


@app.command()
def tags(
    targets: TargetsArg = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
    context: ContextOpt = None,
    context_source: ContextSourceOpt = "auto",
) -> None:
    """Show the tags, labels and annotations this git/CI context gives each target, and which rule made each.

    The context comes from GitHub Actions, GitLab CI or the local git checkout; `--context tag=v1.2.3` (or
    branch=…, pr=…, event=schedule, …) previews another event.
    """
    from rich.console import Console

    from bakepy.config import load_project
    from bakepy.errors import ConfigError
    from bakepy.publish.plan import plan_publish

    loaded = load_project(file, Path.cwd())
    print_warnings(loaded.project)
    from bakepy.cli.options import in_context, uses_metadata

    if not uses_metadata(loaded.project):
        raise ConfigError(
            f"{loaded.path.name}: the project has no tag rules (no `metadata` in [project] or a target)",
            hint='add [project.metadata] tags = ["type=semver,pattern={{version}}", "type=ref,event=branch"] '
            "(see docs/tags.md)",
        )
    project, found, report = in_context(loaded, targets, context, context_source, need_tags=False)
    assert found is not None
    pushes = found.event != "pr"
    plan = (
        plan_publish(project, targets or ())
        if pushes and any(r.tags for r in report.values())
        else None
    )
    out: list[dict[str, Any]] = []
    for name, meta in report.items():
        why = {o.tag: o.rule for o in meta.tags}
        registries: dict[str, list[dict[str, str]]] = {}
        if plan is not None and name in plan.names:
            for registry, refs in plan.target(name).tags_by_registry.items():
                registries[registry] = [
                    {
                        "reference": ref,
                        "rule": why.get(ref.rsplit(":", 1)[1], "written in the project"),
                    }
                    for ref in refs
                ]
        out.append({**meta.to_json(), "registries": registries})
    if as_json:
        data = {"context": context_to_json(found), "targets": out}
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"context: {found.describe()}", markup=False)
    for note in found.notes:
        console.print(f"note: {note}", markup=False)
    if not pushes:
        console.print(
            "a pull request: `bakepy publish` builds every platform and pushes nothing",
            markup=False,
        )
    for item in out:
        console.print(f"\ntarget {item['target']}", style="bold", markup=False)
        if not item["tags"]:
            console.print("  no tag: none of its rules applies to this event", markup=False)
        width = max((len(t["tag"]) for t in item["tags"]), default=0)
        for t in item["tags"]:
            console.print(f"  {t['tag'].ljust(width)}  {t['rule']}", markup=False)
        for refs in item["registries"].values():
            for ref in refs:
                console.print(f"  {ref['reference']}", markup=False)
        if item["labels"]:
            console.print("  labels:", markup=False)
            for key, value in item["labels"].items():
                console.print(f"    {key}={value}", markup=False)
        if item["annotations"]:
            console.print("  annotations:", markup=False)
            for entry in item["annotations"]:
                console.print(f"    {entry}", markup=False)
        for kept in item["kept"]:
            console.print(f"  kept the target's own {kept}", markup=False)
