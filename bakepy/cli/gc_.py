"""`bakepy gc`: digests the project pushed that no tag reaches any more; a dry run unless --delete. (Named gc_ so
the package never shadows the standard library's gc, which `bakepy.cli` uses.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app
from bakepy.cli.options import FileOpt, JsonOpt


@app.command()
def gc(
    delete: Annotated[
        bool,
        typer.Option("--delete", help="Delete them (by digest, where the registry allows it)."),
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            help="Never touch what was pushed this recently (a publish running beside gc stages first).",
        ),
    ] = 3600.0,
    ecr_policy: Annotated[
        bool,
        typer.Option(
            "--ecr-policy",
            help="Print the same rules as an Amazon ECR lifecycle policy (JSON for "
            "`aws ecr put-lifecycle-policy`) and stop.",
        ),
    ] = False,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the digests this project pushed (its history in .bakepy/pushed.jsonl) that no tag reaches any more:
    never the children of a tagged index, never a signature, attestation or SBOM of one. --delete deletes them.
    """
    from rich.console import Console

    from bakepy.config import load_project
    from bakepy.errors import ConfigError
    from bakepy.publish.gc import run_gc
    from bakepy.publish.run import WORKDIR

    if grace < 0:
        raise ConfigError(f"--grace {grace:g}: give seconds, 0 or more")
    if ecr_policy:
        from bakepy.publish.gc import ecr_lifecycle_policy

        print(json.dumps(ecr_lifecycle_policy(grace), indent=2))
        return
    loaded = load_project(file, Path.cwd())
    work = loaded.path.parent / WORKDIR
    result = run_gc(work, grace=grace, remove=delete)
    if as_json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        out = Console(highlight=False, soft_wrap=True)
        count = sum(len(c) for c in result.candidates.values())
        for repo, candidates in result.candidates.items():
            for digest, why in candidates.items():
                out.print(f"{repo}@{digest}  {why}", markup=False)
        kept = sum(len(g) for g in result.in_grace.values())
        verb = "deleted" if delete else "unreachable (dry run: --delete deletes them)"
        done = len(result.deleted) if delete else count
        out.print(
            f"{done} digest(s) {verb}"
            + (f"; {kept} pushed within the last {grace:g} s kept" if kept else ""),
            markup=False,
        )
    if result.failed:
        from bakepy.errors import RegistryError

        first, why = result.failed[0]
        raise RegistryError(
            f"{len(result.failed)} digest(s) not deleted: {first} ({why})"
            + (" …" if len(result.failed) > 1 else ""),
            hint="enable deletes on the registry (distribution: storage.delete.enabled), or use its own "
            "retention rules (docs/lifecycle.md)",
        )
