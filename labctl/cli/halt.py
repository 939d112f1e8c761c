"""`labctl halt`: stop the lab's machines, keeping them and everything installed."""

from __future__ import annotations

from labctl.cli.common import SpecArg, refuse_own_machines, resolve
from labctl.cli.output import OUT


def halt(file: SpecArg = None) -> None:
    """Stop the machines, keep the lab.

    `labctl up` boots them again without re-provisioning.
    """
    from labctl.lab.lock import lab_lock  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.machines import halt_machines  # noqa: PLC0415
    from labctl.lab.workflow import forget_phases  # noqa: PLC0415

    resolved = resolve(file)
    refuse_own_machines(resolved, "halt", "since nothing but their owner may power them off")
    lab_dir = resolved.lab_dir
    with lab_lock(lab_dir, "halt"):
        if not (lab_dir / "Vagrantfile").exists():
            OUT.line(f"Lab {resolved.plan.name} has never been rendered; nothing to halt.")
            return
        halt_machines(lab_dir)
        rerun = {"boot", "wait-ssh", "checks"}
        keep = [p.name for p in resolved.plan.phases if p.name not in rerun]
        forget_phases(lab_dir, resolved.plan.name, keep=keep)
    OUT.line(f"Lab {resolved.plan.name} halted. `labctl up` boots it again.")
