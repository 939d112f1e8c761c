"""Snapshots through Vagrant's own commands, one per machine: what VirtualBox and libvirt labs use
(Provider.snapshot_backend's default).

An HA lab (K3s servers on embedded etcd) is snapshotted powered off. Live snapshots taken one VM
after another hold each etcd member's memory at a different moment: restored, a leader's memory
can claim a follower acknowledged entries that the follower's older snapshot never had, and etcd
panics ("tocommit(N) is out of range [lastIndex(M)]"), leaving the servers crash-looping after
`labctl reset`. Powered off, each member keeps only what it wrote to disk, every member restarts
from its own log and raft resynchronises them, as after a power cut of the whole lab. We chose
that over K3s's `etcd-snapshot` + `--cluster-reset-restore-path` because a lab reset must bring
back the machines too (files, packages, what the learner broke), not only the datastore, and a
cluster reset rewrites membership on one server and needs the others' data wiped by hand.
A single server on kine/SQLite has no peers to disagree with and keeps the faster live snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.errors import SnapshotError
from labctl.lab.snapshot import Step, each
from labctl.messages import quoted

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.tools.vagrant import VagrantLab


@dataclass(frozen=True)
class VagrantBackend:
    """VirtualBox and libvirt: Vagrant's snapshot commands, one per machine."""

    lab_dir: Path
    provider: str
    boots_together: bool = False
    # Halt every machine before saving, restore without starting, then boot them together.
    powered_off: bool = False

    def _vagrant(self) -> VagrantLab:
        from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415 - edges load only when used

        return VagrantLab.for_lab(self.lab_dir)

    def _require_created(self, machines: tuple[str, ...]) -> None:
        states = {m.name: m.state for m in self._vagrant().status()}
        missing = [m for m in machines if states.get(m, "not_created") == "not_created"]
        if missing:
            raise SnapshotError(f"not created yet: {', '.join(missing)}", "run `labctl up` first")

    def save(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        self._require_created(machines)
        vagrant = self._vagrant()
        if self.powered_off:
            on_step(f"halting {len(machines)} machines so every etcd member is saved at rest")
            vagrant.halt()

        def one(machine: str) -> None:
            on_step(f"{machine}: vagrant snapshot save {name}")
            vagrant.snapshot_save(machine, name)

        try:
            each(machines, one)
        finally:
            if self.powered_off:
                self._boot(vagrant, machines, on_step, "booting them again")
                # A rebooted VirtualBox machine may get another forwarded SSH port.
                from labctl.lab.targets import save_targets  # noqa: PLC0415

                save_targets(self.lab_dir, vagrant.ssh_targets())

    def restore(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        self._require_created(machines)
        vagrant = self._vagrant()

        def one(machine: str) -> None:
            if name not in vagrant.snapshot_list(machine):
                raise SnapshotError(
                    f"{machine} has no provider snapshot {quoted(name)} (removed outside labctl?)",
                    f"`vagrant snapshot list {machine}` in {self.lab_dir} shows what it has",
                )
            on_step(f"{machine}: vagrant snapshot restore {name}")
            vagrant.snapshot_restore(machine, name, start=not self.powered_off)

        each(machines, one)
        stopped = [m.name for m in vagrant.status() if m.name in machines and m.state != "running"]
        if stopped:
            self._boot(vagrant, tuple(stopped), on_step, "the snapshot left them stopped")

    def _boot(
        self, vagrant: VagrantLab, machines: tuple[str, ...], on_step: Step, why: str
    ) -> None:
        on_step(f"booting {', '.join(machines)}: {why}")
        vagrant.up_all(
            list(machines), self.provider, lambda _m, _line: None, together=self.boots_together
        )

    def delete(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        vagrant = self._vagrant()
        created = {m.name for m in vagrant.status() if m.state != "not_created"}

        def one(machine: str) -> None:
            if machine in created and name in vagrant.snapshot_list(machine):
                on_step(f"{machine}: vagrant snapshot delete {name}")
                vagrant.snapshot_delete(machine, name)

        each(machines, one)
