"""Merge cost: bakepy's merge against the hand-written loop users write today.

T targets × K tags × R registries, all from sources already pushed by digest:
- bakepy: one `imagetools create` per target and registry with all K tags, registries in parallel
  (`bakepy.registry.merge_all`, what `bakepy publish` and `bakepy merge` run);
- loop: one `docker buildx imagetools create -t TAG SOURCE` per tag, one after another.

Usage: python bench/merge.py [--targets 3] [--tags 5] [--rounds 3]   (brings the local stack up if needed)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from pathlib import Path

from _common import bring_up_stack, interleaved, report, sh

from bakepy.engine.runner import Runner
from bakepy.publish.merge import MergeStep, merge_all


def push_sources(registries: list[str], targets: int, workdir: Path) -> dict[str, str]:
    """Build one tiny image per target and push it by digest to every registry; return repo path → digest."""
    (workdir / "Dockerfile").write_text("FROM busybox\nARG N\nRUN echo $N > /n\n")
    run_id = uuid.uuid4().hex[:8]
    bake = {"target": {}}
    for t in range(targets):
        names = ",".join(f"{r}/bench-merge/{run_id}-t{t}" for r in registries)
        bake["target"][f"t{t}"] = {
            "context": ".",
            "args": {"N": f"{run_id}-{t}"},
            "platforms": ["linux/amd64", "linux/arm64"],
            "output": [
                f'type=image,"name={names}",push-by-digest=true,name-canonical=true,push=true'
            ],
        }
    (workdir / "bake.json").write_text(json.dumps(bake))
    sh(
        "docker",
        "buildx",
        "bake",
        "-f",
        "bake.json",
        "--metadata-file",
        "meta.json",
        *bake["target"],
        cwd=workdir,
    )
    meta = json.loads((workdir / "meta.json").read_text())
    return {
        f"bench-merge/{run_id}-t{t}": meta[f"t{t}"]["containerimage.digest"] for t in range(targets)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    stack = bring_up_stack()
    registries = stack.registries
    with tempfile.TemporaryDirectory() as tmp:
        sources = push_sources(registries, args.targets, Path(tmp))
    runner = Runner(log=lambda line: None)

    def tags(registry: str, repo: str, side: str, round_: int) -> tuple[str, ...]:
        return tuple(f"{registry}/{repo}:{side}-r{round_}-{k}" for k in range(args.tags))

    def bakepy_merge(round_: int) -> None:
        steps = [
            MergeStep(
                repo,
                registry,
                tags(registry, repo, "bakepy", round_),
                (f"{registry}/{repo}@{digest}",),
            )
            for repo, digest in sources.items()
            for registry in registries
        ]
        errors = [e for e in merge_all(runner, steps).values() if e is not None]
        assert not errors, errors

    def hand_loop(round_: int) -> None:
        for repo, digest in sources.items():
            for registry in registries:
                for tag in tags(registry, repo, "loop", round_):
                    sh(
                        "docker",
                        "buildx",
                        "imagetools",
                        "create",
                        "-t",
                        tag,
                        f"{registry}/{repo}@{digest}",
                    )

    times = interleaved(args.rounds, bakepy_merge=bakepy_merge, loop_one_create_per_tag=hand_loop)
    n = args.targets * args.tags * len(registries)
    report(
        f"merge of {args.targets} targets × {args.tags} tags × {len(registries)} registries = {n} tags",
        times,
        baseline="loop_one_create_per_tag",
    )


if __name__ == "__main__":
    main()
