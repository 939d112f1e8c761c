"""`labctl destroy`: remove the lab's machines and what labctl added to the host."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.common import SpecArg, confirm_or_refuse, resolve
from labctl.cli.output import OUT


def destroy(
    file: SpecArg = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask; needed without a TTY.")
    ] = False,
) -> None:
    """Destroy the lab's machines and network.

    Also removes its known hosts and the context merged into ~/.kube/config.
    """
    from labctl.lab.lock import lab_lock  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.teardown import destroy_lab  # noqa: PLC0415

    resolved = resolve(file)
    confirm_or_refuse(f"Destroy lab {resolved.plan.name} and all its machines?", yes)
    with lab_lock(resolved.lab_dir, "destroy"):
        for line in destroy_lab(resolved.plan, resolved.lab_dir):
            OUT.line(line)
    OUT.line(f"Lab {resolved.plan.name} destroyed.")
