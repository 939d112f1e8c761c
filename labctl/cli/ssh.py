"""`labctl ssh NODE [-- CMD]`: a shell or a command on a lab machine, trusting only the lab's
own known_hosts (never ~/.ssh/known_hosts, never with checking switched off)."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.common import find_machine, resolve


def ssh(
    node: Annotated[str, typer.Argument(help="Machine: demo-server-1, or short: server-1.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run instead of a shell (after --).")
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Lab spec (default ./lab.yaml).")
    ] = None,
) -> None:
    """Shell or command on a lab machine.

    Opens a shell on NODE, or runs CMD there and exits with its status.
    """
    import subprocess  # noqa: PLC0415 - lazy: keeps --help fast
    from pathlib import Path  # noqa: PLC0415

    from labctl.lab.targets import load_target  # noqa: PLC0415
    from labctl.render import ssh_argv  # noqa: PLC0415

    resolved = resolve(Path(file) if file else None)
    name = find_machine(resolved, node)
    target = load_target(resolved.lab_dir, name)
    argv = ssh_argv(target, str(resolved.lab_dir / "known_hosts"))
    if command:
        argv += ["--", *command]
    else:
        argv.insert(1, "-t")
    raise typer.Exit(subprocess.call(argv))
