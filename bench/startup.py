"""Fixed overhead: `bakepy plan --json` against the floor of any typer + pydantic command, interleaved.

Sides, each a whole command in a fresh interpreter, run in turn every round:

- python_start: `python -c pass`, the interpreter alone;
- floor: bench/_floor_cli.py — typer parses the same options, pydantic validates the same TOML, JSON out;
  what any CLI built on the libraries bakepy is built on pays before doing anything of its own;
- typer_only, pydantic_only: each half of the floor alone, to show what each costs: the floor's command
  printing `{}` with no model (FLOOR_PART=typer), and bench/_floor_model.py, the model with no CLI library;
- bakepy_version: `bakepy --version` (typer and bakepy's command modules, no model);
- bakepy_plan: `bakepy plan --json` of that project (start-up, load, render, plan: the fixed overhead
  issue 9 names, aim ≤ 0.15 s).

Prints medians, bakepy_plan's ratio to the floor, and bakepy's own share (bakepy_plan − floor). No stack needed.

Usage: python bench/startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from _common import ROOT, installed_python, interleaved, report
from publish import write_project


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as install:
        python = installed_python(Path(install))
        root = Path(tmp)
        write_project(root, ["127.0.0.1:5000", "127.0.0.1:5001"], "bench-startup/app", 0)

        floor_cli = str(ROOT / "bench" / "_floor_cli.py")

        def run(*argv: str, env: dict[str, str] | None = None) -> None:
            subprocess.run(
                [python, *argv],
                cwd=root,
                check=True,
                capture_output=True,
                env={**os.environ, **(env or {})},
            )

        times = interleaved(
            args.rounds,
            python_start=lambda _r: run("-c", "pass"),
            floor=lambda _r: run(floor_cli, "plan", "--json"),
            typer_only=lambda _r: run(floor_cli, "plan", "--json", env={"FLOOR_PART": "typer"}),
            pydantic_only=lambda _r: run(str(ROOT / "bench" / "_floor_model.py")),
            bakepy_version=lambda _r: run("-m", "bakepy", "--version"),
            bakepy_plan=lambda _r: run("-m", "bakepy", "plan", "--json"),
        )
    report("start-up, whole commands (medians)", times, baseline="floor")
    plan, floor = statistics.median(times["bakepy_plan"]), statistics.median(times["floor"])
    print(
        f"\n  fixed overhead (bakepy plan --json): {plan * 1000:.0f} ms (aim ≤ 150 ms); floor of typer + pydantic:"
        f" {floor * 1000:.0f} ms; bakepy's own share: {(plan - floor) * 1000:.0f} ms"
    )
    fastest = min(times["floor"])
    print(
        f"  the floor's fastest run: {fastest * 1000:.0f} ms"
        + (
            " (over the aim: no command on typer + pydantic meets it here)"
            if fastest > 0.15
            else ""
        )
    )


if __name__ == "__main__":
    main()
