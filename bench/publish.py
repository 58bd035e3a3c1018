"""Publish overhead: `bakepy publish` against the bare buildx commands doing the same work.

A project of 2 targets × 2 platforms (arm64 under QEMU) × 3 tags × 2 registries. Every round changes a build
argument so both sides really rebuild one step per platform (like a new commit would), then:
- bakepy: `python -m bakepy publish` (start-up, render, bake, source checks, tag reads, merge, verification);
- bare: `docker buildx bake` of the same rendered file, then one `imagetools create` per target and registry with
  all its tags: the least a correct script does, with no checks and no verification.

`--login`: the registries are two distribution registries of the bench's own that want an htpasswd login
(bcrypt cost 4), with the logins in a private DOCKER_CONFIG, as every registry users push to wants one (aim,
issue 22: ≤ 1.05× bare buildx with builds of ≥ 10 s per platform).

Usage: python bench/publish.py [--rounds 3] [--busy 4500000] [--login]   (brings the local stack up if needed)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import textwrap
import uuid
from pathlib import Path

from _common import LoginRegistries, bring_up_stack, installed_python, interleaved, report, sh

from bakepy.bake.render import dumps, render_bake
from bakepy.config import load_project
from bakepy.publish.plan import merge_commands, plan_publish

# BUSY loop iterations natively; under QEMU (arm64 here, ~8× slower) an eighth, so both platforms take about as long.
DOCKERFILE = """FROM busybox
ARG NONCE
ARG FLAVOUR
ARG BUSY=0
ARG TARGETARCH
RUN echo $FLAVOUR $NONCE > /n && uname -m >> /n && n=$BUSY && if [ "$TARGETARCH" = arm64 ]; then n=$((BUSY / 8)); fi \
    && i=0 && while [ $i -lt $n ]; do i=$((i+1)); done
"""


def write_project(root: Path, registries: list[str], prefix: str, busy: int) -> None:
    (root / "Dockerfile").write_text(DOCKERFILE)
    regs = ", ".join(f'"{r}"' for r in registries)
    (root / "bakepy.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]
            tags = ["latest", "1.0", "1"]

            [variable.NONCE]
            default = "0"

            [target.web]
            image = "{prefix}/web"
            args = {{ NONCE = "${{NONCE}}", FLAVOUR = "web", BUSY = "{busy}" }}

            [target.api]
            image = "{prefix}/api"
            args = {{ NONCE = "${{NONCE}}", FLAVOUR = "api", BUSY = "{busy}" }}
            """
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="loop iterations of the rebuilt RUN step, natively (an eighth under QEMU); 4500000: every "
        "platform's step takes 10 s or more here (4 steps on 2 cores), the issue's \"build of ≥ 10 s per platform\"",
    )
    parser.add_argument("--login", action="store_true", help="registries that want a login")
    args = parser.parse_args()
    stack = bring_up_stack()
    run_id = uuid.uuid4().hex[:8]

    with tempfile.TemporaryDirectory() as tmp:
        python = installed_python(Path(tmp, "install"))
        ours, bare = Path(tmp, "bakepy"), Path(tmp, "bare")
        ours.mkdir()
        bare.mkdir()
        registries = list(stack.registries)
        login = None
        if args.login:
            Path(tmp, "logins").mkdir()
            login = LoginRegistries(Path(tmp, "logins"))
            registries = login.addresses
        write_project(ours, registries, f"bench-publish/{run_id}-bakepy", args.busy)
        write_project(bare, registries, f"bench-publish/{run_id}-bare", args.busy)

        def bakepy_publish(round_: int) -> None:
            env = {**os.environ, "NONCE": f"bakepy-{run_id}-{round_}"}
            subprocess.run(
                [python, "-m", "bakepy", "publish", "--json"],
                cwd=ours,
                env=env,
                check=True,
                capture_output=True,
            )

        # The bare side gets its bake files and plans ready-made (untimed): it pays only for the commands.
        plans = []
        for round_ in range(args.rounds):
            project = load_project(
                bare / "bakepy.toml", env={"NONCE": f"bare-{run_id}-{round_}"}
            ).project
            (bare / f"bake-{round_}.json").write_text(dumps(render_bake(project, publish=True)))
            plans.append(plan_publish(project))

        def bare_buildx(round_: int) -> None:
            plan = plans[round_]
            sh(
                "docker",
                "buildx",
                "bake",
                "-f",
                f"bake-{round_}.json",
                "--metadata-file",
                "meta.json",
                *plan.names,
                cwd=bare,
            )
            digests = {
                t: m["containerimage.digest"]
                for t, m in json.loads((bare / "meta.json").read_text()).items()
            }
            for command in merge_commands(plan, digests):
                sh(*command.argv)

        try:
            times = interleaved(args.rounds, bakepy_publish=bakepy_publish, bare_buildx=bare_buildx)
        finally:
            if login is not None:
                login.stop()

        # The fixed part of bakepy's cost: interpreter start-up, imports, load, render and plan of this project.
        def bakepy_plan(round_: int) -> None:
            subprocess.run([python, "-m", "bakepy", "plan", "--json"], cwd=ours,
                           check=True, capture_output=True)  # fmt: skip

        def python_start(round_: int) -> None:
            subprocess.run([python, "-c", "pass"], check=True, capture_output=True)

        fixed = interleaved(max(5, args.rounds), bakepy_plan=bakepy_plan, python_start=python_start)
    report("fixed overhead: `bakepy plan` (start-up + load + render + plan)", fixed, "python_start")
    report(
        f"publish of 2 targets × 2 platforms × 3 tags × 2 registries (one rebuilt step per platform, busy={args.busy})"
        + (" (registries with an htpasswd login)" if args.login else ""),
        times,
        baseline="bare_buildx",
    )


if __name__ == "__main__":
    main()
