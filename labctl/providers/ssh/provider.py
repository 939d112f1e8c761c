"""ssh: the lab's machines exist already and are the user's; labctl reaches them over SSH.

There is no Vagrantfile, boot, halt or snapshot. Preflight connects to every machine (asking
before it trusts a host key it has not seen) and judges what K3s needs there; `destroy` runs
playbooks/uninstall.yml, which takes back what labctl installed and leaves the machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labctl.providers.base import Provider

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from contextlib import AbstractContextManager

    from labctl.checks.runner import Executor
    from labctl.doctor import Finding
    from labctl.plan import Plan
    from labctl.providers.base import Step
    from labctl.spec.machines import JumpHost, OwnMachine
    from labctl.tools.ssh import SshTarget

NO_HYPERVISOR = (
    "the machines of a `provider: ssh` lab are your own, not a hypervisor's: labctl cannot "
    "{action} them"
)


class Ssh(Provider):
    name = "ssh"
    label = "ssh (your own machines)"
    default_box = ""  # nothing is booted from a box
    vagrant_block = ""
    boots_machines = False
    disk_estimate_mib = (0, 0)

    def machines_remote(self, lab: object) -> bool:
        return True

    def ssh_targets(self, plan: Plan) -> Mapping[str, SshTarget]:
        from labctl.tools.ssh import SshTarget  # noqa: PLC0415 - edges load only when used

        lab = plan.lab
        jumps = {
            name: SshTarget(name, j.address, j.port, j.user, _key(j))
            for name, j in lab.jump_hosts.items()
        }
        return {
            m.name: SshTarget(
                m.name, m.address, m.port, m.user, _key(m), jumps[m.jump] if m.jump else None
            )
            for m in lab.machines
        }

    def command_executor(self, known_hosts: Path) -> AbstractContextManager[Executor]:
        """SSH as for any lab, except that a host key the lab has not trusted is refused:
        only preflight, asking the user, pins new ones."""
        from labctl.tools.ssh import SshPool  # noqa: PLC0415

        return SshPool(known_hosts, trust_new=lambda *_: False)

    def machine_finding_ids(self) -> tuple[str, ...]:
        from labctl.providers.ssh.preflight import MACHINE_FINDING_IDS  # noqa: PLC0415

        return ("host-key", "reach", *MACHINE_FINDING_IDS)

    def machine_preflight(self, plan: Plan, run: Executor) -> list[Finding]:
        """Each machine over SSH: its host key trusted, then one probe, judged (preflight.py)."""
        from labctl.doctor import Finding  # noqa: PLC0415
        from labctl.errors import (  # noqa: PLC0415
            HostKeyMismatchError,
            HostKeyUnknownError,
            SshError,
        )
        from labctl.providers.ssh.preflight import judge_machine, probe  # noqa: PLC0415

        targets = self.ssh_targets(plan)
        findings: list[Finding] = []
        for machine in plan.machines:
            try:
                facts = probe(run, targets[machine.name])
            except (HostKeyUnknownError, HostKeyMismatchError) as exc:
                findings.append(Finding("host-key", "fail", exc.message, exc.hint))
                continue
            except SshError as exc:
                findings.append(Finding("reach", "fail", exc.message, exc.hint))
                continue
            findings += judge_machine(
                machine.name, machine.role.value, machine.ip, facts, etcd=plan.datastore == "etcd"
            )
        return findings

    def remove_machines(self, plan: Plan, lab_dir: Path, on_step: Step) -> Iterator[str]:
        """Uninstall what labctl installed (K3s, its network leftovers, addon packages, the
        files the roles wrote); the machines themselves stay, and say so."""
        import time  # noqa: PLC0415

        from labctl.errors import ProvisionError  # noqa: PLC0415
        from labctl.lab.incontroller import run_lab_playbook  # noqa: PLC0415
        from labctl.lab.labdir import lab_paths, write_atomic  # noqa: PLC0415
        from labctl.render import ssh_inventory  # noqa: PLC0415

        names = ", ".join(m.name for m in plan.machines)
        if not (lab_dir / "ansible.cfg").exists():
            yield f"nothing to uninstall: labctl never provisioned {names}"
            return
        known = lab_paths(lab_dir).lab_dir / "known_hosts"
        inventory = ssh_inventory(self.ssh_targets(plan), known, pinned_first=True)
        write_atomic(lab_dir / "inventory" / "ssh.yml", inventory)
        result = run_lab_playbook(
            plan,
            lab_dir,
            playbook="uninstall.yml",
            tags=(),
            ident=time.strftime("%Y%m%d-%H%M%S") + "-uninstall",
            on_task=on_step,
        )
        if not result.ok:
            raise ProvisionError(
                f"uninstalling from {names} failed: ansible status {result.status}, rc {result.rc}",
                f"the run's events are in {result.artifacts}; fix the machine and run "
                "`labctl destroy` again (it takes back only what is left)",
                details=[str(f) for f in result.failures],
            )
        if result.changed_total:
            yield f"uninstalled K3s and what labctl installed from {names} (machines kept)"
        else:
            yield f"nothing of labctl's was left on {names} (machines kept)"


def _key(host: OwnMachine | JumpHost) -> Path | None:
    return None if host.key is None else Path(host.key).expanduser()
