"""Snapshots through Vagrant's own commands, one per machine: what VirtualBox and libvirt labs use
(Provider.snapshot_backend's default)."""

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

        def one(machine: str) -> None:
            on_step(f"{machine}: vagrant snapshot save {name}")
            vagrant.snapshot_save(machine, name)

        each(machines, one)

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
            vagrant.snapshot_restore(machine, name)

        each(machines, one)
        stopped = [m.name for m in vagrant.status() if m.name in machines and m.state != "running"]
        if stopped:
            on_step(f"booting {', '.join(stopped)}: the snapshot left them stopped")
            vagrant.up_all(
                stopped, self.provider, lambda _m, _line: None, together=self.boots_together
            )

    def delete(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        vagrant = self._vagrant()
        created = {m.name for m in vagrant.status() if m.state != "not_created"}

        def one(machine: str) -> None:
            if machine in created and name in vagrant.snapshot_list(machine):
                on_step(f"{machine}: vagrant snapshot delete {name}")
                vagrant.snapshot_delete(machine, name)

        each(machines, one)
