"""`bakepy recover`: finish what a run killed mid-commit left behind (its journal in `.bakepy/runs/`)."""

from __future__ import annotations

import json
from pathlib import Path

from bakepy.cli.app import app
from bakepy.cli.options import FileOpt, JsonOpt


@app.command()
def recover(file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Finish the tag moves of runs that were killed while moving tags (SIGKILL, OOM, power loss).

    Each such run left a journal in .bakepy/runs/ beside the project: the tags it meant to move and what they
    held. If every tag holds that run's index its commit is complete; otherwise every tag it moved is put back
    to the value it held right before, unless someone else moved it since (left alone, and named). publish,
    merge and assemble do this by themselves before moving any tag; exit 5 names what could not be restored.
    """
    from bakepy.engine.runner import Runner
    from bakepy.errors import RegistryError
    from bakepy.publish.journal import finish_pending
    from bakepy.publish.run import WORKDIR

    folder = file.resolve().parent if file is not None else Path.cwd()
    runs = folder / WORKDIR / "runs"
    results = finish_pending(Runner(log=lambda line: None, echo_output=False), runs)
    if as_json:
        shown = [{"run": r.run, "committed": r.committed, "clean": r.clean, "said": r.describe()}
                 for r in results]  # fmt: skip
        print(json.dumps({"runs": shown}, indent=2, sort_keys=True))
    elif not results:
        print(f"nothing to recover: no unfinished run in {runs}")
    for r in results:
        if not as_json:
            print(r.describe())
    unfinished = [r for r in results if not r.clean]
    if unfinished:
        raise RegistryError(
            f"{len(unfinished)} run(s) still cannot be finished; their journals stay in {runs}",
            hint="restore the tags named above with the commands given, or run bakepy recover again once "
            "the registry answers",
        )
