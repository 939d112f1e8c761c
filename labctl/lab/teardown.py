"""Destroying a lab: its machines, then everything labctl put on the host for it.

Order matters: machines first (they hold the lab bridge), then their snapshots (labctl's own
copies for lxc; Vagrant's went with the VMs), then the lxc network, then the attendees'
gateway entry and key (keys die with the lab), then the per-lab SSH trust, the cached Ansible
facts and the merged kubeconfig context, so no stale host key, fact or context outlives the
machines it described. The lab's secrets and run logs stay,
for the next `up` and for post-mortems; `rm -r .labctl/<lab>` removes them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lab.labdir import AUTO_PIN

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from labctl.plan import Plan

PER_BOOT_FILES = ("known_hosts", "ssh.json", "inventory/ssh.yml", "kubeconfig", AUTO_PIN)


def destroy_lab(
    plan: Plan, lab_dir: Path, on_step: Callable[[str], None] = lambda _: None
) -> Iterator[str]:
    """Destroy and clean up, yielding one line per thing done; `on_step` hears progress within
    a long step (the tasks of an uninstall)."""
    from labctl.lab.attendees import close_access  # noqa: PLC0415
    from labctl.lab.factcache import drop_cached_facts  # noqa: PLC0415
    from labctl.lab.incontroller import remove_controller  # noqa: PLC0415
    from labctl.lab.kubeconfig import remove_from_user_config  # noqa: PLC0415
    from labctl.lab.snapshot import forget_snapshots  # noqa: PLC0415
    from labctl.lab.workflow import forget_phases  # noqa: PLC0415

    yield from plan.provider.remove_machines(plan, lab_dir, on_step)
    yield from remove_controller(plan, lab_dir)
    yield from forget_snapshots(plan, lab_dir)
    yield from plan.provider.after_destroy(plan)
    yield from close_access(plan, lab_dir)
    for rel in PER_BOOT_FILES:
        if rel == "known_hosts" and not plan.provider.boots_machines:
            continue  # the user's machines keep their keys: trusted once, checked ever after
        path = lab_dir / rel
        if path.exists():
            path.unlink()
            yield f"removed {rel}"
    if drop_cached_facts(lab_dir):
        yield "removed the cached Ansible facts"
    if remove_from_user_config(plan.context):
        yield f"removed context {plan.context} from your kubeconfig"
    if lab_dir.exists():
        forget_phases(lab_dir, plan.name)
