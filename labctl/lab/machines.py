"""The lab's machines as Vagrant sees them: their states, and stopping them (for the CLI, which
reaches Vagrant only through here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.plan import Plan


def machine_states(plan: Plan, lab_dir: Path) -> dict[str, str]:
    """Machine name -> Vagrant's state (running, poweroff, not_created...); {} if not rendered.

    The provider answers from the hypervisor where it can, as Vagrant would; else Vagrant."""
    if not (lab_dir / "Vagrantfile").exists():
        return {}
    names = [m.name for m in plan.machines]
    direct = plan.provider.machine_states(lab_dir, names)
    if direct is not None:
        return dict(direct)
    from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415 - edges load only when used

    return {m.name: m.state for m in VagrantLab.for_lab(lab_dir).status()}


def halt_machines(lab_dir: Path) -> None:
    """Stop every machine of the lab, keeping it."""
    from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415

    VagrantLab.for_lab(lab_dir).halt()
