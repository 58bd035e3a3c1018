"""Options shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from bakepy.config import LoadedProject
    from bakepy.model import Project
    from bakepy.tagging.apply import TargetMetadata
    from bakepy.tagging.context import BuildContext

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        metavar="FILE",
        help="The project file (bakepy.toml, pyproject.toml or a Python module). "
        "Default: the one of bakepy.toml, pyproject.toml [tool.bakepy] and bakefile.py in the current "
        "directory (two of them are an error: choose with -f).",
        dir_okay=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
BuilderOpt = Annotated[
    str | None,
    typer.Option(
        "--builder",
        metavar="NAME",
        help="The buildx builder to use. Default: buildx's own choice (BUILDX_BUILDER, then the current one).",
    ),
]
TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Targets or groups to act on. Default: the `default` group, else every target."
    ),
]


def chosen_builder(builder: str | None, project: object | None) -> str | None:
    """--builder, else BUILDX_BUILDER (buildx reads it itself), else the project's [builder], else buildx's."""
    import os

    if builder or os.environ.get("BUILDX_BUILDER"):
        return builder
    settings = getattr(project, "builder", None)
    return getattr(settings, "name", None)


ForceTagsOpt = Annotated[
    bool,
    typer.Option(
        "--force-tags",
        help="Overwrite a tag another run moved during this one (and say so), instead of stopping with exit 9 "
        "(lost the race). Also: BAKEPY_FORCE_TAGS=1.",
    ),
]


def force_tags_option(force: bool) -> None:
    """`--force-tags`: the transaction reads it from the environment (`publish.merge.force_tags`)."""
    if force:
        import os

        os.environ["BAKEPY_FORCE_TAGS"] = "1"


StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Treat warnings (a build arg named like a credential, an unknown platform variant) as errors. "
        "Also: [project] strict = true.",
    ),
]


def print_warnings(project: Any, strict: bool = False) -> None:
    """One `warning:` line on stderr per thing the project's model finds odd but buildx takes; with `strict`
    (or `[project] strict = true`) the first one is a ConfigError instead (exit 2)."""
    import sys

    from bakepy.errors import ConfigError
    from bakepy.lint import warnings

    lines = warnings(project)
    if lines and (strict or project.settings.strict):
        more = f" (and {len(lines) - 1} more warning(s))" if len(lines) > 1 else ""
        raise ConfigError(
            lines[0] + more,
            hint="strict mode (--strict or [project] strict = true) turns warnings into errors",
        )
    for line in lines:
        sys.stderr.write(f"warning: {line}\n")


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="TARGET.ATTRIBUTE=VALUE",
        help="Override a target attribute for the build, as `docker buildx bake --set` takes it "
        "(repeatable), e.g. '*.args.VERSION=1.2'. Outputs and tags stay bakepy's.",
    ),
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        metavar="NAME=VALUE",
        help="Set a project variable for this run, NAME=VALUE (repeatable), as `docker buildx bake --var`; "
        "wins over the environment and the default.",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Build without BuildKit's cache.")]
ChangedOpt = Annotated[
    bool,
    typer.Option(
        "--changed",
        help="Build only the targets whose inputs changed since the image their tags hold (and what "
        "depends on them); the others' new tags hold the platform manifests they hold now (docs/changed.md).",
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option(
        "--all", help="With --changed: build every target anyway (fingerprints are still written)."
    ),
]


def check_changed(changed: bool, everything: bool) -> None:
    """`--all` only means something with `--changed`: ConfigError (exit 2) otherwise, with the fix."""
    if everything and not changed:
        from bakepy.errors import ConfigError

        raise ConfigError(
            "--all forces every target to build under --changed; without --changed everything builds anyway",
            hint="add --changed (to write the fingerprints while building everything), or drop --all",
        )


PullOpt = Annotated[
    bool, typer.Option("--pull", help="Always pull the base images' newest versions.")
]


def parse_vars(values: list[str] | None) -> dict[str, str]:
    """`--var NAME=VALUE` values as a mapping (the last one of a name wins); ConfigError when malformed."""
    from bakepy.errors import ConfigError

    out: dict[str, str] = {}
    for value in values or ():
        name, eq, text = value.partition("=")
        if not eq or not name:
            raise ConfigError(f"--var {value!r}: write NAME=VALUE, e.g. 'VERSION=1.2.3'")
        out[name] = text
    return out


def load_with_vars(
    file: Path | None, variables: list[str] | None, cwd: Path | None = None
) -> LoadedProject:
    """The project with `--var` values over the environment (bake's order: --var, environment, default).

    A name the project does not declare is an error (exit 2) with the closest declared name: bake would
    silently define a new variable no target reads, and a typo would build the default."""
    import difflib
    import os

    from bakepy.config import load_project
    from bakepy.errors import ConfigError

    values = parse_vars(variables)
    if not values:
        return load_project(file, cwd)
    loaded = load_project(file, cwd, env={**os.environ, **values})
    declared = sorted(loaded.project.variables)
    for name in values:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = f" (it declares {', '.join(declared)})" if declared and not close else ""
            raise ConfigError(
                f"--var {name}: {loaded.path.name} declares no variable {name!r}{hint}{known}",
                hint="declare it under [variable.NAME], or set a target attribute with --set",
            )
    return loaded


def var_environment(variables: list[str] | None) -> dict[str, str] | None:
    """What `${NAME}` reads when a command validates the project again (e.g. a metadata-action overlay)."""
    import os

    values = parse_vars(variables)
    return {**os.environ, **values} if values else None


MetadataBakeOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--metadata-bake",
        metavar="FILE",
        help="docker/metadata-action's bake file: its target (docker-metadata-action) is merged into the "
        "project's target of that name, which targets inherit, as `bake -f … -f FILE` merges it "
        "(repeatable: bake-file-tags, then bake-file-labels or bake-file-annotations).",
        dir_okay=False,
    ),
]


def with_metadata_bake(
    loaded: LoadedProject, metadata_bake: list[Path] | None, variables: list[str] | None
) -> LoadedProject:
    """`loaded` with each `--metadata-bake` file's target merged into the project's target of that name, in
    order (unchanged without one); `--var` values are seen again, as the overlay validates the project again."""
    if not metadata_bake:
        return loaded
    import dataclasses

    from bakepy.model import ENVIRONMENT
    from bakepy.tagging.overlay import overlay_project

    token = ENVIRONMENT.set(var_environment(variables))
    try:
        project = overlay_project(loaded.project, *metadata_bake, source=loaded.path.name)
    finally:
        ENVIRONMENT.reset(token)
    return dataclasses.replace(loaded, project=project)


def untagged_metadata(metadata_bake: list[Path] | None) -> list[Path]:
    """The `--metadata-bake` files whose target has an empty `tags` (metadata-action made no tag for this event,
    e.g. a pull request with release rules only)."""
    from bakepy.tagging.overlay import read_overlay

    return [path for path in metadata_bake or () if read_overlay(path)[1].get("tags") == []]


LoadOpt = Annotated[
    bool,
    typer.Option(
        "--load",
        help="Also load the built image into the local Docker daemon's image store (buildx's --load, one "
        "platform). Needs a Docker daemon; not with --push-by-digest.",
    ),
]


def bake_options(sets: list[str] | None, no_cache: bool, pull: bool, load: bool = False) -> Any:
    """The pass-through options for every build bake; `--set` of outputs or tags is refused (publish pushes by
    digest and moves tags itself: an override would undo the promise); a `--set` that passes a credential (a
    build arg named like one, a value shaped like one) gets a `warning:` line (`lint.pass_through_warnings`)."""
    import sys

    from bakepy.engine.runner import BakeOptions
    from bakepy.errors import ConfigError
    from bakepy.lint import pass_through_warnings

    for value in sets or ():
        key = value.split("=", 1)[0].rstrip("+")
        attribute = key.rsplit(".", 1)[-1]
        if "=" not in value or "." not in key:
            raise ConfigError(
                f"--set {value!r}: write TARGET.ATTRIBUTE=VALUE, e.g. '*.args.VERSION=1.2'"
            )
        if attribute in ("output", "tags", "push", "load"):
            raise ConfigError(
                f"--set {value!r}: bakepy sets {attribute} itself (push by digest, then every tag at once)",
                hint="set tags and registries in the project; use `bakepy render` for a file to bake by hand",
            )
    # a credential passed in a --set: named, never shown
    for line in pass_through_warnings(sets or ()):
        sys.stderr.write(f"warning: {line}\n")
    return BakeOptions(tuple(sets or ()), no_cache, pull, load)


ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        metavar="KEY=VALUE",
        help="Preview or force another event for tag rules: tag=v1.2.3, branch=main, pr=42, sha=…, "
        "event=schedule, default-branch=main, date=2020-01-10T00:30:00Z (repeatable).",
    ),
]
ContextSourceOpt = Annotated[
    str,
    typer.Option(
        "--context-source",
        metavar="auto|github|gitlab|git|none",
        help="Where the git context comes from: auto (GitHub Actions, then GitLab CI, then local git), "
        "github, gitlab, git or none.",
    ),
]


def uses_metadata(project: object) -> bool:
    """Whether the project has `metadata` (tag rules, labels) anywhere: only then is git read."""
    resolved = getattr(project, "resolved", None)
    if resolved is None:
        return False
    if resolved.settings.metadata is not None:
        return True
    return any(t.metadata is not None for t in resolved.targets.values())


def find_context(
    project_dir: Path, overrides: list[str] | None, source: str = "auto"
) -> BuildContext:
    """The git/CI context (bakepy.tagging.context), with `--context` overrides; ConfigError when bad."""
    import os

    from bakepy.engine.git import read_git
    from bakepy.errors import ConfigError
    from bakepy.tagging.context import ContextError, apply_overrides, detect_context

    try:
        found = detect_context(os.environ, lambda: read_git(project_dir), source=source)
        return apply_overrides(found, overrides or [])
    except ContextError as exc:
        raise ConfigError(str(exc)) from None


def in_context(
    loaded: LoadedProject,
    targets: list[str] | tuple[str, ...] | None,
    overrides: list[str] | None,
    source: str = "auto",
    *,
    need_tags: bool = True,
    context: BuildContext | None = None,
) -> tuple[Project, BuildContext | None, dict[str, TargetMetadata]]:
    """The loaded project as this context publishes it (rule tags, OCI labels, annotations), the context, and
    what each target got. Projects without `metadata` are returned as they are, and git is not read.
    On a CI system with its own `[ci.github]` / `[ci.gitlab]` cache, that cache replaces `[project] cache`."""
    import dataclasses
    import os

    from bakepy.ci.running import on_ci

    loaded = dataclasses.replace(loaded, project=on_ci(loaded.project, os.environ))
    if not uses_metadata(loaded.project):
        if overrides:
            from bakepy.errors import ConfigError

            raise ConfigError(
                "--context: the project has no tag rules to preview",
                hint="add [project.metadata] tags = [...] (see docs/tags.md)",
            )
        return loaded.project, None, {}
    from bakepy.tagging.apply import apply_context, read_package_facts

    project_dir = loaded.path.parent
    found = context or find_context(project_dir, overrides, source)
    project, report = apply_context(
        loaded.project,
        found,
        targets=targets or (),
        package=read_package_facts(project_dir),
        need_tags=need_tags,
    )
    return project, found, report


def contextual(
    loaded: LoadedProject,
    targets: list[str] | tuple[str, ...] | None,
    overrides: list[str] | None = None,
    source: str = "auto",
    *,
    need_tags: bool = True,
) -> LoadedProject:
    """`loaded` with its project as the git/CI context publishes it (unchanged without `metadata`)."""
    import dataclasses

    project, _, _ = in_context(loaded, targets, overrides, source, need_tags=need_tags)
    return dataclasses.replace(loaded, project=project)
