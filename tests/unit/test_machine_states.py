"""Machine states read from the hypervisor, in the words `vagrant status` would use.

The provider paths run for real on the lxc test bed, where tests/integration/test_lifecycle_lxc.py
compares them with `vagrant status` (running, halted, one machine killed). VirtualBox cannot run
here: its path is shown with a FAKE VBoxManage that prints what VBoxManage prints (output and
error text as VBoxManage gives them, VBOX_E_OBJECT_NOT_FOUND for an unknown UUID).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from labctl.providers import machine_states as ms
from labctl.providers.libvirt import Libvirt
from labctl.providers.lxc.provider import Lxc
from labctl.providers.virtualbox import VirtualBox

if TYPE_CHECKING:
    from pathlib import Path

LXC_LS = """NAME                          STATE
demo-server-1_1733300000000   RUNNING
demo-agent-1_1733300000001    STOPPED
other-lab-server-1_17333000   FROZEN
"""

SHOWVMINFO_RUNNING = """name="demo-server-1"
groups="/"
ostype="Ubuntu (64-bit)"
UUID="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
VMState="running"
VMStateChangeTime="2026-12-04T10:00:00.000000000"
"""
SHOWVMINFO_INACCESSIBLE = """name="<inaccessible>"
UUID="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1"
"""
NOT_FOUND = (
    "VBoxManage: error: Could not find a registered machine named "
    "'0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f2'\n"
    "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
    "VirtualBoxWrap, interface IVirtualBox, callee nsISupports\n"
)


def record(lab_dir: Path, machine: str, provider: str, ident: str) -> None:
    path = lab_dir / ".vagrant" / "machines" / machine / provider / "id"
    path.parent.mkdir(parents=True)
    path.write_text(ident)


def test_lxc_ls_rows_are_states_in_vagrant_lxc_words() -> None:
    assert ms.parse_lxc_ls_states(LXC_LS) == {
        "demo-server-1_1733300000000": "running",
        "demo-agent-1_1733300000001": "stopped",
        "other-lab-server-1_17333000": "frozen",
    }
    assert ms.parse_lxc_ls_states("NAME STATE\n") == {}


def test_showvminfo_state_as_vagrants_virtualbox_driver_reads_it() -> None:
    assert ms.parse_vbox_state(SHOWVMINFO_RUNNING) == "running"
    assert ms.parse_vbox_state(SHOWVMINFO_RUNNING.replace("running", "poweroff")) == "poweroff"
    assert ms.parse_vbox_state(SHOWVMINFO_INACCESSIBLE) == "inaccessible"
    assert ms.parse_vbox_state("") is None


def test_no_id_or_an_id_the_hypervisor_lacks_is_not_created(tmp_path: Path) -> None:
    record(tmp_path, "demo-server-1", "lxc", "Demo-Server-1_17\n")
    record(tmp_path, "demo-agent-1", "lxc", "gone_18")
    ids = {n: ms.recorded_id(tmp_path, n, "lxc") for n in ("demo-server-1", "demo-agent-1", "x")}
    assert ids == {"demo-server-1": "Demo-Server-1_17", "demo-agent-1": "gone_18", "x": None}
    assert ms.states_by_id(list(ids), ids, {"Demo-Server-1_17": "running"}) == {
        "demo-server-1": "running",
        "demo-agent-1": "not_created",
        "x": "not_created",
    }


def test_lxc_without_recorded_ids_answers_without_asking_anything(tmp_path: Path) -> None:
    assert Lxc().machine_states(tmp_path, ["a", "b"]) == {"a": "not_created", "b": "not_created"}


def test_libvirt_leaves_the_answer_to_vagrant(tmp_path: Path) -> None:
    """vagrant-libvirt calls a running domain without an address lease `inaccessible`, and may
    talk to a remote hypervisor: only Vagrant answers as Vagrant does there."""
    record(tmp_path, "demo-server-1", "libvirt", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert Libvirt().machine_states(tmp_path, ["demo-server-1"]) is None


@pytest.fixture
def fake_vboxmanage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FAKE VBoxManage on PATH: `showvminfo UUID` prints the file answers/UUID (exit 0), or
    VBoxManage's not-found error (exit 1) when there is none, or fails with exit 2 for `broken`."""
    answers = tmp_path / "answers"
    answers.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "VBoxManage"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$2" = broken ] && {{ echo "VBoxManage: error: the service is gone" >&2; exit 2; }}\n'
        f'[ -f "{answers}/$2" ] && {{ cat "{answers}/$2"; exit 0; }}\n'
        f"printf '%s' \"{NOT_FOUND.replace(chr(10), chr(92) + 'n')}\" >&2\n"
        "exit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return answers


def test_virtualbox_asks_showvminfo_per_machine(tmp_path: Path, fake_vboxmanage: Path) -> None:
    lab = tmp_path / "lab"
    record(lab, "demo-server-1", "virtualbox", "uuid-1")
    record(lab, "demo-agent-1", "virtualbox", "uuid-2")
    record(lab, "demo-agent-2", "virtualbox", "uuid-3")
    (fake_vboxmanage / "uuid-1").write_text(SHOWVMINFO_RUNNING)
    (fake_vboxmanage / "uuid-2").write_text(SHOWVMINFO_RUNNING.replace("running", "saved"))
    names = ["demo-server-1", "demo-agent-1", "demo-agent-2", "demo-agent-3"]
    assert VirtualBox().machine_states(lab, names) == {
        "demo-server-1": "running",
        "demo-agent-1": "saved",
        "demo-agent-2": "not_created",  # VBOX_E_OBJECT_NOT_FOUND: Vagrant forgets the id
        "demo-agent-3": "not_created",  # never created: no id
    }


def test_a_failing_vboxmanage_leaves_the_answer_to_vagrant(
    tmp_path: Path, fake_vboxmanage: Path
) -> None:
    lab = tmp_path / "lab"
    record(lab, "demo-server-1", "virtualbox", "broken")
    assert VirtualBox().machine_states(lab, ["demo-server-1"]) is None


def test_up_offline_asks_the_box_store_only_when_something_may_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vagrant box list` (~1.2 s) is skipped when preflight and boot are done for this spec
    and the provider says every machine runs; a stopped machine or an undone phase asks."""
    import time

    from labctl.cli.common import _boot_settled, resolve
    from labctl.lab.state import LabState, PhaseRecord, save_state, spec_hash

    (tmp_path / "lab.yaml").write_text("name: settled\nprovider: lxc\nagents: {count: 1}\n")
    monkeypatch.chdir(tmp_path)
    resolved = resolve(None)
    names = [m.name for m in resolved.plan.machines]
    resolved.lab_dir.mkdir(parents=True, exist_ok=True)
    current = spec_hash(resolved.plan.lab)
    states = dict.fromkeys(names, "running")
    monkeypatch.setattr(Lxc, "machine_states", lambda self, lab_dir, names: dict(states))

    assert not _boot_settled(resolved), "no state yet: preflight and boot are to come"
    done = PhaseRecord("done", time.time(), 1.0, current)
    save_state(resolved.lab_dir, LabState("settled", current, {"preflight": done, "boot": done}))
    assert _boot_settled(resolved)
    states[names[-1]] = "stopped"
    assert not _boot_settled(resolved), "a stopped machine boots again"
    states[names[-1]] = "running"
    other = PhaseRecord("done", time.time(), 1.0, "another spec")
    save_state(resolved.lab_dir, LabState("settled", current, {"preflight": done, "boot": other}))
    assert not _boot_settled(resolved), "boot done for another spec runs again"
