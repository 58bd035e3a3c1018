"""Benchmark: `bakepy matrix` for a generated 500-target project, as a CI plan job runs it (a fresh process).

    python bench/matrix.py [--targets 500] [--runs 5] [--format github]

Generates a bakepy.toml with N targets (three platforms, runners for two of them, a cache, variables,
inherits, per-target args and labels), then runs `python -m bakepy matrix` on it --runs times as a subprocess
(interpreter start-up, CLI import, load, validate, plan, split, print) and prints the best and median wall
time. The aim: at most 1 s. A script, never a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import installed_python


def generate(n: int) -> str:
    lines = [
        "[project]",
        'registries = ["ghcr.io/bench", "docker.io/bench", "127.0.0.1:5000/bench"]',
        'platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"]',
        'tags = ["latest", "${VERSION}"]',
        'runners = { "linux/arm64" = "ubuntu-24.04-arm", default = "ubuntu-latest" }',
        'cache = { type = "gha" }',
        "",
        "[variable.VERSION]",
        'default = "1.0"',
        "",
    ]
    for b in range(5):
        lines += [
            f"[target._base{b}]",
            'context = "."',
            f'args = {{ FLAVOR = "f{b}" }}',
            f'labels = {{ "org.opencontainers.image.vendor" = "bench", "bench.base" = "{b}" }}',
            "",
        ]
    for i in range(n):
        lines += [
            f"[target.app{i}]",
            f'inherits = ["_base{i % 5}"]',
            f'args = {{ INDEX = "{i}", VERSION = "${{VERSION}}" }}',
        ]
        if i % 7 == 0:
            lines.append('platforms = ["linux/amd64"]')
        lines.append("")
    names = ", ".join(f'"app{i}"' for i in range(n))
    lines += ["[group.default]", f"targets = [{names}]", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", default="github", choices=("github", "gitlab", "json"))
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("GITHUB_OUTPUT", None)
    with tempfile.TemporaryDirectory(prefix="bakepy-bench-matrix-") as tmp:
        project = Path(tmp)
        python = installed_python(project / "install")
        (project / "bakepy.toml").write_text(generate(args.targets))
        argv = [python, "-m", "bakepy", "matrix", "--format", args.format]
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run(
                argv, cwd=project, env=env, capture_output=True, text=True, check=True
            )
            times.append(time.perf_counter() - start)
        data = json.loads(proc.stdout)
    jobs = len(
        data["include"]
        if args.format == "github"
        else data
        if args.format == "gitlab"
        else data["entries"]
    )
    best, median = min(times), statistics.median(times)
    print(
        f"bakepy matrix --format {args.format}: {args.targets} targets -> {jobs} jobs; "
        f"best {best * 1000:.0f} ms, median {median * 1000:.0f} ms "
        f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)}); aim <= 1000 ms: "
        + ("ok" if median <= 1.0 else "OVER")
    )


if __name__ == "__main__":
    main()
