"""The labctl command: the typer app, global options, and the one place errors are caught.

Command modules import only typer and the standard library at import time; the core (pydantic,
jinja2) and the edges (vagrant, ansible-runner, paramiko) load inside the command that needs
them, so `labctl --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

from labctl import __version__
from labctl.cli import (
    box,
    bundle,
    check,
    destroy,
    doctor,
    fleet,
    halt,
    handout,
    init,
    kubeconfig,
    lesson,
    logs,
    provision,
    render,
    reset,
    schema,
    snapshot,
    ssh,
    status,
    test,
    up,
    validate,
)
from labctl.cli.output import OUT

app = typer.Typer(
    name="labctl",
    help="Stand up a real multi-VM Kubernetes (K3s) lab with Vagrant and Ansible.",
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


app.command("init")(init.init)
app.command("validate")(validate.validate)
app.command("render")(render.render)
app.command("up")(up.up)
app.command("status")(status.status)
app.command("ssh")(ssh.ssh)
app.command("provision")(provision.provision)
app.command("check")(check.check)
app.command("test")(test.run_test)
app.command("kubeconfig")(kubeconfig.kubeconfig)
app.command("handout")(handout.handout)
app.command("logs")(logs.logs)
app.command("doctor")(doctor.doctor)
app.command("reset")(reset.reset)
app.command("halt")(halt.halt)
app.command("destroy")(destroy.destroy)
app.command("schema")(schema.schema)
app.add_typer(box.app, name="box")
app.add_typer(bundle.app, name="bundle")
app.add_typer(fleet.app, name="fleet")
app.add_typer(lesson.app, name="lesson")
app.add_typer(snapshot.app, name="snapshot")


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
