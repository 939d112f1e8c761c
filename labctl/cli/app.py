"""The labctl command: the typer app, global options, and the one place errors are caught.

Command modules import only typer and the standard library at import time; the core (pydantic,
jinja2) and the edges (vagrant, ansible-runner, paramiko) load inside the command that needs
them, so `labctl --help` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from labctl import __version__
from labctl.cli.commands import ABOUT, COMMANDS
from labctl.cli.output import OUT


def _target(name: str) -> Any:
    module, attribute, _ = COMMANDS[name]
    return getattr(importlib.import_module(f"labctl.cli.{module}"), attribute)


def build_command(name: str) -> Any:
    """The click command (or group) `labctl NAME` runs, made as typer makes the root's own
    commands and groups (with the root app's markup, exception and suggestion settings)."""
    from typer.main import get_command_from_info, get_group_from_info  # noqa: PLC0415
    from typer.models import CommandInfo, TyperInfo  # noqa: PLC0415

    target = _target(name)
    if isinstance(target, typer.Typer):
        return get_group_from_info(
            TyperInfo(target, name=name),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
    return get_command_from_info(
        CommandInfo(name=name, callback=target),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


class _BuiltOnFirstUse(MutableMapping[str, Any]):
    """COMMANDS as the name -> command mapping a typer group keeps, each built when looked up."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class LazyCommands(TyperGroup):
    """labctl's root group: its commands (and typo suggestions) from COMMANDS, each built on
    first use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _BuiltOnFirstUse()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `labctl --help`, from each command's help text, building none."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = []
        for name in COMMANDS:
            target = _target(name)
            text = target.info.help if isinstance(target, typer.Typer) else inspect.getdoc(target)
            rows.append((name, TyperCommand(name, help=text).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="labctl",
    cls=LazyCommands,
    help=ABOUT,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich_utils alone costs ~50 ms of startup
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        OUT.data(f"labctl {__version__}")
        raise typer.Exit


@app.callback()
def _global(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More detail; -vv shows tracebacks.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Stand up a real multi-VM Kubernetes (K3s) lab with Vagrant and Ansible."""
    OUT.verbosity, OUT.quiet = verbose, quiet


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage-error classes: typer's own (it vendors click from 0.2x on), and click's if present."""
    found: list[type[Exception]] = [typer.TyperException]
    try:
        import click  # noqa: PLC0415 - only to recognise its exceptions with older typer

        found.append(click.ClickException)
    except ImportError:  # pragma: no cover - click is optional with a vendoring typer
        pass
    return tuple(found)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; map every failure to its documented exit code and a one-line message."""
    from labctl import interrupts  # noqa: PLC0415
    from labctl.errors import ExitCode, LabctlError  # noqa: PLC0415
    from labctl.messages import cut  # noqa: PLC0415

    interrupts.install()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="labctl")
        code = result if isinstance(result, int) else ExitCode.OK
        if code == ExitCode.INTERRUPTED and interrupts.stopping():
            # typer turns a KeyboardInterrupt into Exit(130) itself, SIGTERM's included
            OUT.error(f"interrupted by {interrupts.reason()}")
            code = interrupts.exit_code()
    except LabctlError as exc:
        for text in exc.lines():
            OUT.error(text)
        if exc.hint:
            OUT.hint(exc.hint)
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        OUT.error(f"interrupted by {interrupts.reason()}")
        code = interrupts.exit_code()
    except typer.Exit as exc:
        code = exc.exit_code
    except _click_errors() as exc:
        formatter = getattr(exc, "format_message", None)
        message = formatter() if callable(formatter) else str(exc)
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "labctl"
        if message:  # empty when typer already printed the help (bare `labctl`)
            OUT.error(message)
            OUT.hint(f"`{command} --help` shows the usage")
        code = getattr(exc, "exit_code", ExitCode.INVALID_INPUT)
    except Exception as exc:
        if OUT.verbosity >= 2:
            raise
        OUT.error(f"internal error: {type(exc).__name__}: {cut(str(exc), 300)}")
        OUT.hint("this is a bug in labctl; rerun with -vv for the traceback and report it")
        code = ExitCode.INTERNAL
    sys.stdout.flush()
    sys.exit(int(code))
