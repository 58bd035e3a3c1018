"""Merge cost, whole commands: `bakepy merge` against what users run by hand, interleaved in one run.

T targets × K tags × R registries, every target built per platform (linux/amd64, linux/arm64) by
`bakepy build --platform P --push-by-digest` beforehand (untimed), so every side merges the same two
per-platform sources per target into new tags each round:

- bakepy: `bakepy merge --records DIR` as a user runs it (interpreter start-up, load, plan, record checks,
  registry reads, staging by digest, the tag moves — one manifest PUT per tag, side by side, on these open
  registries; one `imagetools create` per target where a registry wants credentials — and the read-back);
- one_create_per_target: one `docker buildx imagetools create` per target carrying every tag of every
  registry (what bakepy's design promises to be), targets one after another;
- loop_one_create_per_tag: one `docker buildx imagetools create -t TAG` per tag and registry.

Tags are new every round (`r<round>-<k>`); for bakepy the records are re-stamped (untimed) with the new plan's
fingerprint, which covers the tags. Aims (issue 9): ≤ 0.8 of one_create_per_target at 10×10×2 and ≤ 0.15 of the
per-tag loop at 3×5×2.

`--login`: the registries are two distribution registries of the bench's own that want an htpasswd login
(bcrypt cost 4), the logins in a private DOCKER_CONFIG, as every registry users push to wants one; the
registries' access logs give each side's requests (median per run, and the ratio to one_create_per_target).
Aims (issue 22): ≤ 0.8× the time and ≤ 1.1× the requests of one_create_per_target, at 3×5×2 and 10×10×2.

Usage: python bench/merge.py [--targets 3] [--tags 5] [--rounds 3] [--login] [--skip-loop]
(brings the local stack up if needed)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import textwrap
import uuid
from pathlib import Path

from _common import (
    Counting,
    LoginRegistries,
    bring_up_stack,
    installed_python,
    interleaved,
    report,
    sh,
)

from bakepy.ci.split import target_fingerprints
from bakepy.config import load_project
from bakepy.publish.plan import plan_publish

PLATFORMS = ("linux/amd64", "linux/arm64")


def write_project(
    root: Path,
    registries: list[str],
    repo: str,
    targets: int,
    tags: list[str],
    *,
    contexts: bool = False,
) -> None:
    """T targets t0…, each built with its own N; `contexts`: each from its own folder tN (bench/changed.py)."""
    lines = [
        "[project]",
        f"registries = {json.dumps(registries)}",
        f"platforms = {json.dumps(list(PLATFORMS))}",
        f"tags = {json.dumps(tags)}",
        "",
    ]
    for t in range(targets):
        context = [f'context = "t{t}"'] if contexts else []
        lines += [
            f"[target.t{t}]",
            *context,
            f'image = "{repo}/t{t}"',
            f'args = {{ N = "{t}" }}',
            "",
        ]
    (root / "bakepy.toml").write_text("\n".join(lines))


def restamp(root: Path, records: Path) -> None:
    """Give every record the fingerprint of the current plan (the tags changed): untimed set-up."""
    project = load_project(None, root).project
    fingerprints = target_fingerprints(project, plan_publish(project))
    for path in records.rglob("*.json"):
        doc = json.loads(path.read_text())
        doc["fingerprint"] = fingerprints[doc["target"]]
        path.write_text(json.dumps(doc))


def bakepy(python: str, *args: str, cwd: Path) -> None:
    """`bakepy ARGS` as users run it: `python` is the installed one (`installed_python`)."""
    subprocess.run(
        [python, "-m", "bakepy", *args], cwd=cwd, check=True, capture_output=True, text=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--login", action="store_true", help="registries that want a login")
    parser.add_argument("--skip-loop", action="store_true", help="leave the per-tag loop out")
    args = parser.parse_args()

    stack = bring_up_stack()
    registries = list(stack.registries)
    repo = f"bench-merge/{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        tempfile.TemporaryDirectory() as install,
        tempfile.TemporaryDirectory() as logins,
    ):
        python = installed_python(Path(install))
        root = Path(tmp)
        login = LoginRegistries(Path(logins)) if args.login else None
        if login is not None:
            registries = login.addresses
        (root / "Dockerfile").write_text("FROM busybox\nARG N\nRUN echo $N > /n\n")
        write_project(root, registries, repo, args.targets, ["seed"])
        records = root / "records"
        for platform in PLATFORMS:
            bakepy(python, "build", "--platform", platform, "--push-by-digest", "--records",
                   str(records / platform.replace("/", "-")), cwd=root)  # fmt: skip
        sources = {
            (doc["target"], doc["platform"]): doc["source"]
            for doc in (json.loads(p.read_text()) for p in records.rglob("*.json"))
        }

        def tags(round_: int, side: str) -> list[str]:
            return [f"{side}-r{round_}-{k}" for k in range(args.tags)]

        def prepare(round_: int) -> None:
            write_project(root, registries, repo, args.targets, tags(round_, "bakepy"))
            restamp(root, records)

        def bakepy_merge(round_: int) -> None:
            bakepy(python, "merge", "--records", str(records), cwd=root)

        def refs(t: int, round_: int, side: str) -> tuple[list[str], list[str]]:
            first = f"{registries[0]}/{repo}/t{t}"
            srcs = [f"{first}@{sources[(f't{t}', p)]}" for p in PLATFORMS]
            every = [f"{r}/{repo}/t{t}:{tag}" for r in registries for tag in tags(round_, side)]
            return srcs, every

        def one_create_per_target(round_: int) -> None:
            for t in range(args.targets):
                srcs, every = refs(t, round_, "target")
                argv = ["docker", "buildx", "imagetools", "create"]
                sh(*argv, *(a for tag in every for a in ("-t", tag)), *srcs)

        def loop_one_create_per_tag(round_: int) -> None:
            for t in range(args.targets):
                srcs, every = refs(t, round_, "loop")
                for tag in every:
                    sh("docker", "buildx", "imagetools", "create", "-t", tag, *srcs)

        sides = {
            "bakepy_merge": bakepy_merge,
            "one_create_per_target": one_create_per_target,
            "loop_one_create_per_tag": loop_one_create_per_tag,
        }
        if args.skip_loop:
            del sides["loop_one_create_per_tag"]
        counting = Counting(login.requests) if login is not None else None
        if counting is not None:
            sides = counting.wrap(sides)
        try:
            times = interleaved(args.rounds, prepare=prepare, **sides)
            requests = counting.per_side() if counting is not None else {}
        finally:
            if login is not None:
                login.stop()
    del times["prepare"]
    n = args.targets * args.tags * len(registries)
    title = f"merge of {args.targets} targets × {args.tags} tags × {len(registries)} registries = {n} tags"
    if args.login:
        title += " (registries with an htpasswd login)"
    report(title, times, baseline="one_create_per_target")
    if "loop_one_create_per_tag" in times:
        ours, loop = (
            statistics.median(times[k]) for k in ("bakepy_merge", "loop_one_create_per_tag")
        )
        print(f"  bakepy_merge / loop_one_create_per_tag: {ours / loop:.3f}")
    if requests:
        base = statistics.median(requests["one_create_per_target"])
        print("  registry requests per run (from the registries' access logs):")
        for name, counts in requests.items():
            median = statistics.median(counts)
            print(
                f"    {name:<26} median {median:6.0f}  (runs: {', '.join(map(str, counts))})"
                f"  ratio to one_create_per_target: {median / base:.2f}"
            )
    print(
        textwrap.dedent("""
        Whole commands, interleaved per round; every side merges two per-platform sources per target.
    """).rstrip()
    )


if __name__ == "__main__":
    main()
