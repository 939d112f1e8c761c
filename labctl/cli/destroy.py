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
    plan = resolved.plan
    if plan.provider.boots_machines:
        confirm_or_refuse(f"Destroy lab {plan.name} and all its machines?", yes)
    else:  # the user's own machines: said before anything happens
        names = ", ".join(m.name for m in plan.machines)
        OUT.line(
            f"Lab {plan.name} runs on your own machines ({names}): destroy keeps them and "
            "uninstalls what labctl installed (K3s, its data, network interfaces and iptables "
            "chains, addon packages, the files labctl wrote)."
        )
        confirm_or_refuse(f"Uninstall lab {plan.name} from {names}?", yes)
    with lab_lock(resolved.lab_dir, "destroy"):

        def step(task: str) -> None:
            if OUT.verbosity:
                OUT.note(f"uninstall: {task}")

        for line in destroy_lab(plan, resolved.lab_dir, on_step=step):
            OUT.line(line)
    OUT.line(
        f"Lab {plan.name} destroyed."
        if plan.provider.boots_machines
        else f"Lab {plan.name} uninstalled; the machines are as labctl found them."
    )
