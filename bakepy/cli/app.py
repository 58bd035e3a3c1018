"""The Typer application, global options and the one top-level error handler.

Every command module registers itself on `app`. Errors are turned into exit codes here and nowhere else:
an expected `BakepyError` prints one red line (and its hint) on stderr and exits with its code; Ctrl-C exits
130; anything else is reported as an unexpected error. `--debug` adds the traceback. Locals are never shown
(they may hold registry tokens).
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from bakepy import __version__
from bakepy.errors import BakepyError

REPORT_URL = "https://github.com/bakepy/bakepy/issues"


class _State:
    debug = False


state = _State()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_error(exc: BaseException) -> int:
    """Print `exc` for a person and return the exit code to use."""
    console = _stderr_console()
    if state.debug:
        console.print("".join(traceback.format_exception(exc)), markup=False, end="")
        if isinstance(exc, BakepyError) and exc.detail:
            console.print(exc.detail, markup=False)
    if isinstance(exc, BakepyError):
        console.print(f"[bold red]error:[/] {_escape(exc.message)}")
        if exc.hint:
            console.print(f"[yellow]hint:[/] {_escape(exc.hint)}")
        return exc.exit_code
    console.print(
        f"[bold red]unexpected error:[/] {_escape(type(exc).__name__)}: {_escape(str(exc))}\n"
        f"This is a bug in bakepy {__version__}. Run again with --debug and report the output at {REPORT_URL}"
    )
    return 1


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _is_usage_error(exc: BaseException) -> bool:
    """click's UsageError (a bad option value, an unknown command), whichever click typer brings."""
    return hasattr(exc, "format_message") and any(
        c.__name__ == "UsageError" for c in type(exc).__mro__
    )


def _usage_error(exc: Exception) -> NoReturn:
    """One line like every other input error, not click's three (Usage / Try / Error); exit 2."""
    where = getattr(getattr(exc, "ctx", None), "command_path", None) or "bakepy"
    console = _stderr_console()
    console.print(f"[bold red]error:[/] {_escape(exc.format_message())}")  # type: ignore[attr-defined]
    console.print(f"[yellow]hint:[/] {_escape(f'{where} -h lists the options')}")
    raise typer.Exit(2) from None


def _unknown_command(name: str, commands: list[str], where: str = "bakepy") -> NoReturn:
    """An unknown command: one line with bakepy's did-you-mean, and the commands there are as the hint; exit 2."""
    from bakepy.model.base import did_you_mean

    console = _stderr_console()
    within = f" in {where}" if where != "bakepy" else ""
    said = f"no command {name!r}{within}{did_you_mean(name, commands)}"
    console.print(f"[bold red]error:[/] {_escape(said)}")
    listed = ", ".join(commands)
    console.print(
        f"[yellow]hint:[/] {_escape(f'the commands: {listed} ({where} COMMAND -h for one)')}"
    )
    raise typer.Exit(2)


class BakepySubGroup(TyperGroup):
    """A group of subcommands (`bakepy ci`, `bakepy builder`): an unknown one is answered as at the top, with
    bakepy's did-you-mean and the commands there are."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name is not None and not name.startswith("-") and self.get_command(ctx, name) is None:
            _unknown_command(name, self.list_commands(ctx), ctx.command_path or "bakepy")
        return super().resolve_command(ctx, args)


class BakepyGroup(BakepySubGroup):
    """A Typer group whose `invoke` maps exceptions to exit codes (so CliRunner sees the same as a shell)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # the root's own options (`bakepy --nope`)
        except Exception as exc:
            if not _is_usage_error(exc):
                raise
            _usage_error(exc)

    def invoke(self, ctx: Any) -> Any:
        from bakepy.cli import start_collecting

        start_collecting()
        try:
            return self._invoke(ctx)
        except Exception as exc:
            if not _is_usage_error(exc):
                raise
            _usage_error(exc)

    def _invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (
            typer.Exit,
            typer.Abort,
            typer.TyperException,
        ):  # usage errors, --help, explicit exits
            raise
        except KeyboardInterrupt:
            # Outside the tag moves (which handle it themselves): nothing moved, but children may still run.
            from bakepy.engine.runner import terminate_descendants

            terminate_descendants()
            _stderr_console().print(
                "[red]interrupted[/] before any tag moved: no tag was created or moved"
            )
            raise typer.Exit(130) from None
        except Exception as exc:
            raise typer.Exit(report_error(exc)) from None


app = typer.Typer(
    cls=BakepyGroup,
    name="bakepy",
    help="Publish multi-architecture container images: every platform by digest, then every tag in every "
    "registry in one shot. A tag never points at an incomplete image.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"bakepy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and every command's full output.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    state.debug = debug


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default: the process's arguments) and return its exit code (no SystemExit)."""
    from bakepy.cli import load_commands

    args = sys.argv[1:] if argv is None else argv
    state.debug = "--debug" in args
    load_commands(args)
    try:
        app(args=argv, prog_name="bakepy")
    except (
        SystemExit
    ) as exc:  # typer's standalone mode: usage errors (2), Ctrl-C (130), our exit codes
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
