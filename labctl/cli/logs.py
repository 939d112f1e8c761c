"""`labctl logs [--bundle]`: what the last run did, or a redacted tarball to attach."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.common import SpecArg, relative, resolve
from labctl.cli.output import OUT


def logs(
    file: SpecArg = None,
    bundle: Annotated[
        bool, typer.Option("--bundle", help="Write a redacted .tar.gz of the last run's logs.")
    ] = False,
) -> None:
    """Show the last run's logs, or bundle them.

    Each phase's status and the end of its output, secrets redacted.
    """
    from labctl.lab import logs as logbundle  # noqa: PLC0415 - lazy: keeps --help fast

    resolved = resolve(file)
    if bundle:
        OUT.data(relative(logbundle.bundle(resolved.lab_dir)))
        return
    for line in logbundle.summarise(resolved.lab_dir):
        OUT.line(line)
