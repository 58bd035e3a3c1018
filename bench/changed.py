"""A release where nothing changed, whole commands: `bakepy publish --changed` against a bare `bakepy merge` of
the same tags, interleaved in one run.

T targets × 2 platforms (linux/amd64, linux/arm64) × the stack's 2 registries, each target FROM a base image in
the first registry, published once with `--changed` beforehand (untimed: every target built, every platform
manifest carrying its fingerprint). Then, each round, both sides move T × 2 new tags to the images already
there:

- publish_changed: `bakepy publish --changed` as a user runs it on a release where no input changed
  (interpreter start-up, load, plan, every context hashed with its .dockerignore, every base image's digest
  read with a HEAD, every tag read, nothing built, the unchanged indexes merged in one transaction, the
  read-back);
- bare_merge: `bakepy merge --records DIR` of the same images into as many new tags (the records of the first
  publish, re-stamped untimed with the new plan's fingerprint): what moving the tags costs with nothing decided.

Tags are new every round for each side (`<side>-r<round>`). Aim (issue 26): publish_changed builds nothing
(asserted: no bake file in its run folder) and takes ≤ 1.2× bare_merge's wall time at 10 targets × 2 platforms.

Usage: python bench/changed.py [--targets 10] [--rounds 3]
(brings the local stack up if needed)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import uuid
from pathlib import Path

from _common import bring_up_stack, installed_python, interleaved, report
from merge import restamp, write_project

PLATFORMS = ("linux/amd64", "linux/arm64")


def bakepy(python: str, *args: str, cwd: Path) -> str:
    """`bakepy ARGS` as users run it: `python` is the installed one (`installed_python`); its stderr."""
    done = subprocess.run(
        [python, "-m", "bakepy", *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    stack = bring_up_stack()
    registries = list(stack.registries)
    repo = f"bench-changed/{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as install:
        python = installed_python(Path(install))
        root = Path(tmp) / "proj"
        base = Path(tmp) / "base"
        for folder in (root, base):
            folder.mkdir()
        # the base image every target is FROM: in the first registry, so its digest is read like any base's
        (base / "Dockerfile").write_text("FROM busybox\nRUN echo base > /base\n")
        (base / "bakepy.toml").write_text(
            f'[project]\nregistries = ["{registries[0]}"]\nplatforms = {json.dumps(list(PLATFORMS))}\n'
            f'tags = ["1"]\n[target.os]\nimage = "{repo}/os"\n'
        )
        bakepy(python, "publish", cwd=base)
        for t in range(args.targets):
            (root / f"t{t}").mkdir()
            (root / f"t{t}" / "Dockerfile").write_text(
                f"FROM {registries[0]}/{repo}/os:1\nARG N\nCOPY . /src\n"
            )
            (root / f"t{t}" / "file.txt").write_text(f"{t}\n")
        write_project(root, registries, repo, args.targets, contexts=True, tags=["seed"])
        bakepy(python, "publish", "--changed", cwd=root)  # every target built, fingerprinted
        records = root / ".bakepy" / "records"
        runs = root / ".bakepy" / "runs"

        def tags(round_: int, side: str) -> list[str]:
            return [f"{side}-r{round_}"]

        def prepare_changed(round_: int) -> None:
            write_project(
                root, registries, repo, args.targets, contexts=True, tags=tags(round_, "changed")
            )

        def publish_changed(round_: int) -> None:
            before = set(runs.iterdir())
            said = bakepy(python, "publish", "--changed", cwd=root)
            (run,) = set(runs.iterdir()) - before
            assert not (run / "docker-bake.json").exists(), f"something was built:\n{said}"
            verdicts = [line for line in said.splitlines() if line.startswith("changed: ")]
            assert sum(": unchanged:" in line for line in verdicts) == args.targets, said

        def prepare_merge(round_: int) -> None:
            write_project(
                root, registries, repo, args.targets, contexts=True, tags=tags(round_, "merge")
            )
            restamp(root, records)

        def bare_merge(round_: int) -> None:
            bakepy(python, "merge", "--records", str(records), cwd=root)

        times = interleaved(
            args.rounds,
            prepare_changed=prepare_changed,
            publish_changed=publish_changed,
            prepare_merge=prepare_merge,
            bare_merge=bare_merge,
        )
    del times["prepare_changed"], times["prepare_merge"]
    n = args.targets * len(registries)
    report(
        f"a release with nothing changed: {args.targets} targets × {len(PLATFORMS)} platforms, "
        f"{n} new tags in {len(registries)} registries",
        times,
        baseline="bare_merge",
    )
    print(
        "\nWhole commands, interleaved per round; publish_changed built nothing in any round (checked)."
    )


if __name__ == "__main__":
    main()
