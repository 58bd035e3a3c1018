"""`bakepy doctor`: print the machine's readiness as a rich table or JSON; exit non-zero on a failed check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app
from bakepy.cli.options import BuilderOpt, FileOpt, JsonOpt


@app.command()
def doctor(
    platform: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            "-p",
            metavar="PLATFORM",
            help="A platform to check (repeatable). Default: the project's, "
            "else linux/amd64 and linux/arm64.",
        ),
    ] = None,
    builder: BuilderOpt = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check docker, buildx, the builder, push-by-digest and QEMU; print how to fix what fails."""
    from bakepy.doctor import diagnose, project_repositories, registry_checks, wanted_platforms
    from bakepy.engine.runner import Runner
    from bakepy.errors import CheckFailedError

    quiet: list[str] = []
    runner = Runner(builder=builder, log=quiet.append if as_json else None)
    report = diagnose(runner, wanted_platforms(Path.cwd(), platform or [], file))
    report.checks.extend(registry_checks(project_repositories(Path.cwd(), file)))
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        _print_report(report)
    if not report.ok:
        failed = [c.name for c in report.checks if c.status == "fail" and c.required]
        raise CheckFailedError(
            f"doctor: {len(failed)} required check(s) failed: {', '.join(failed)}"
        )


def _short(platforms: list[str], most: int = 4) -> str:
    shown = ", ".join(platforms[:most])
    return shown + (f" (+{len(platforms) - most} more)" if len(platforms) > most else "")


def _print_report(report: object) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from bakepy.doctor import DoctorReport

    assert isinstance(report, DoctorReport)
    console = Console(highlight=False)
    marks = {"ok": "[green]✔ ok[/]", "warn": "[yellow]! warn[/]", "fail": "[red]✘ fail[/]"}
    checks = Table(title="bakepy doctor", show_lines=False)
    for col in ("check", "status", "detail"):
        checks.add_column(col, overflow="fold")
    for c in report.checks:
        checks.add_row(c.name, marks[c.status], c.detail)
    console.print(checks)
    fixes = [c for c in report.checks if c.fix and c.status != "ok"]
    if fixes:
        console.print("[bold]To fix:[/]")
        for c in fixes:
            console.print(f"  {c.name}: [cyan]{escape(c.fix or '')}[/]", soft_wrap=True)
    if report.builders:
        builders = Table(title="active builder")
        for col in ("", "name", "driver", "node", "status", "platforms"):
            builders.add_column(col, overflow="fold")
        for b in (
            x for x in report.builders if x.active
        ):  # the one that builds; `docker buildx ls` lists all
            for i, n in enumerate([*b.nodes] or [None]):
                builders.add_row(
                    "*" if b.active and i == 0 else "",
                    b.name if i == 0 else "",
                    b.driver if i == 0 else "",
                    n.name if n else "",
                    n.status if n else "",
                    _short(n.platforms) if n else "",
                )
        console.print(builders)
    if report.platforms:
        plats = Table(title=f"platforms (host: {report.host_arch})")
        for col in ("platform", "buildable", "how"):
            plats.add_column(col)
        for p in report.platforms:
            how = "—" if not p.available else ("emulated (QEMU)" if p.emulated else "native")
            plats.add_row(p.platform, "yes" if p.available else "[red]no[/]", how)
        console.print(plats)
    if report.binfmt:
        fmt = Table(title="binfmt_misc handlers")
        for col in ("handler", "enabled", "flags", "interpreter"):
            fmt.add_column(col)
        for h in report.binfmt:
            fmt.add_row(h.name, "yes" if h.enabled else "no", h.flags, h.interpreter)
        console.print(fmt)
