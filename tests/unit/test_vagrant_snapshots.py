"""VirtualBox and libvirt snapshots (issue 16 item 6): an HA lab is saved with every machine
powered off and restored without starting, then booted together, so no etcd member comes back
from a moment different from the others' (etcd's "tocommit(N) is out of range" panic).

VirtualBox cannot run here, so `FakeVagrant` stands in for labctl.tools.vagrant.VagrantLab, named
as a fake. It keeps what Vagrant's VirtualBox provider does: a snapshot holds the machine's state
at save time (a live one comes back running, memory and all; a powered-off one comes back off),
`restore` boots a powered-off snapshot unless `--no-start`, and `halt` stops every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labctl.errors import BootError
from labctl.lab.targets import load_targets
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import SshTarget
from labctl.tools.vagrant import MachineStatus, VagrantLab
from tests.unit.specs import spec_text


@dataclass
class FakeVagrant:
    """Fake VagrantLab: machine states and snapshots in memory, every call recorded."""

    states: dict[str, str]
    snapshots: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_save: str | None = None

    def status(self) -> list[MachineStatus]:
        return [MachineStatus(n, s, "virtualbox") for n, s in self.states.items()]

    def halt(self) -> None:
        self.calls.append(("halt",))
        self.states = dict.fromkeys(self.states, "poweroff")

    def snapshot_save(self, machine: str, name: str) -> None:
        self.calls.append(("save", machine, self.states[machine]))
        if machine == self.fail_save:
            raise BootError(f"vagrant snapshot save {machine} {name} failed", "see the log")
        self.snapshots[machine, name] = self.states[machine]

    def snapshot_list(self, machine: str) -> list[str]:
        return [n for (m, n) in self.snapshots if m == machine]

    def snapshot_restore(self, machine: str, name: str, *, start: bool = True) -> None:
        self.calls.append(("restore", machine, "start" if start else "no-start"))
        saved = self.snapshots[machine, name]
        self.states[machine] = "running" if (saved == "running" or start) else "poweroff"

    def ssh_targets(self) -> dict[str, SshTarget]:
        self.calls.append(("ssh-config",))
        return {
            n: SshTarget(n, "127.0.0.1", 2200 + i, "vagrant", Path("/k"))
            for i, n in enumerate(self.states)
            if self.states[n] == "running"
        }

    def up_all(self, names: list[str], provider: str, on_line: object, *, together: bool) -> None:
        del provider, on_line, together
        self.calls.append(("up", *names))
        self.states.update(dict.fromkeys(names, "running"))


def backend_and_fake(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[object, FakeVagrant, tuple[str, ...]]:
    plan = plan_lab(parse_lab(spec_text(shape, "virtualbox")).lab)
    machines = tuple(m.name for m in plan.machines)
    fake = FakeVagrant(dict.fromkeys(machines, "running"))
    monkeypatch.setattr(VagrantLab, "for_lab", classmethod(lambda cls, lab_dir: fake))
    return plan.provider.snapshot_backend(plan, tmp_path), fake, machines


def test_an_ha_lab_is_saved_with_every_machine_at_rest_then_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, fake, machines = backend_and_fake("ha", tmp_path, monkeypatch)
    steps: list[str] = []
    backend.save(machines, "baseline", steps.append)  # type: ignore[attr-defined]
    assert fake.calls[0] == ("halt",)
    assert {c[2] for c in fake.calls if c[0] == "save"} == {"poweroff"}
    assert fake.calls[-2:] == [("up", *machines), ("ssh-config",)]
    assert set(load_targets(tmp_path)) == set(machines), "ssh.json refreshed after the reboot"
    assert set(fake.states.values()) == {"running"}
    assert "etcd member" in steps[0]


def test_an_ha_restore_starts_no_member_alone_then_boots_them_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, fake, machines = backend_and_fake("ha", tmp_path, monkeypatch)
    backend.save(machines, "baseline", lambda _: None)  # type: ignore[attr-defined]
    fake.calls.clear()
    backend.restore(machines, "baseline", lambda _: None)  # type: ignore[attr-defined]
    restores = [c for c in fake.calls if c[0] == "restore"]
    assert sorted(restores) == sorted(("restore", m, "no-start") for m in machines)
    assert fake.calls[-1] == ("up", *machines), "one boot of every member after all restores"
    assert set(fake.states.values()) == {"running"}


def test_a_failed_save_still_boots_the_halted_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, fake, machines = backend_and_fake("ha", tmp_path, monkeypatch)
    fake.fail_save = machines[1]
    with pytest.raises(BootError):
        backend.save(machines, "baseline", lambda _: None)  # type: ignore[attr-defined]
    assert fake.calls[-2] == ("up", *machines)
    assert set(fake.states.values()) == {"running"}


def test_a_single_sqlite_server_keeps_the_live_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, fake, machines = backend_and_fake("default", tmp_path, monkeypatch)
    backend.save(machines, "baseline", lambda _: None)  # type: ignore[attr-defined]
    backend.restore(machines, "baseline", lambda _: None)  # type: ignore[attr-defined]
    assert ("halt",) not in fake.calls
    assert {c[2] for c in fake.calls if c[0] == "save"} == {"running"}
    assert {c[2] for c in fake.calls if c[0] == "restore"} == {"start"}
    assert not [c for c in fake.calls if c[0] == "up"], "live snapshots come back running"
