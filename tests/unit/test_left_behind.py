"""Issue 21 item 3: machines an earlier run of the same lab left behind, after the lab's
`.labctl/` was wiped (a CI checkout's clean), are found by the marker the Vagrantfile puts in each
VM's description and removed before `labctl test` builds; machines of another directory's lab
with the same names are never touched.

VirtualBox and libvirt cannot run here: `FakeVBoxManage` and `FakeVirsh` stand in for the two
command-line tools, named as fakes. They answer as the real ones do, including their failures:
`controlvm poweroff` of a VM that is off exits 1 ("is not currently running"), `virsh destroy`
of a shut-off domain exits 1 ("domain is not running"), `virsh desc` of a domain without one
prints "No description for domain: NAME", and `showvminfo --machinereadable` prints
`description="..."` among its other lines.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from labctl.errors import BootError
from labctl.providers import libvirt as libvirt_module
from labctl.providers import virtualbox as vbox_module
from labctl.providers import vm_names
from labctl.providers.lxc import containers
from labctl.registry import plan_lab
from labctl.render import LabPaths, machine_marker, render
from labctl.spec.loader import parse_lab
from tests.unit.specs import spec_text

if TYPE_CHECKING:
    from pathlib import Path


def done(
    argv: list[str], rc: int = 0, out: str = "", err: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(argv, rc, out, err)


@dataclass
class FakeVBoxManage:
    """VMs by name: (uuid, description, running)."""

    vms: dict[str, tuple[str, str, bool]]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        argv = ["VBoxManage", *args]
        by_uuid = {u: (n, d, r) for n, (u, d, r) in self.vms.items()}
        if args[:2] == ("list", "vms"):
            return done(argv, out="".join(f'"{n}" {{{u}}}\n' for n, (u, _, _) in self.vms.items()))
        name, description, running = by_uuid[args[1]]
        if args[0] == "showvminfo":
            info = f'name="{name}"\nostype="Ubuntu_64"\ndescription="{description}"\nmemory=2048\n'
            return done(argv, out=info)
        if args[0] == "controlvm":
            if not running:
                return done(argv, 1, err=f"VBoxManage: error: Machine '{name}' is not currently "
                            "running")  # fmt: skip
            self.vms[name] = (args[1], description, False)
            return done(argv)
        if args[0] == "unregistervm":
            if running:
                return done(argv, 1, err="VBoxManage: error: Cannot unregister the machine "
                            f"'{name}' while it is locked")  # fmt: skip
            del self.vms[name]
            return done(argv)
        raise AssertionError(args)


@dataclass
class FakeVirsh:
    """Domains by name: (uuid, description, running)."""

    domains: dict[str, tuple[str, str, bool]]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    uris: set[str] = field(default_factory=set)

    def __call__(self, *args: str, uri: str = "qemu:///system") -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        self.uris.add(uri)
        argv = ["virsh", "-c", uri, *args]
        by_uuid = {u: (n, d, r) for n, (u, d, r) in self.domains.items()}
        if args[0] == "list":
            return done(argv, out="".join(f"{u} {n}\n" for n, (u, _, _) in self.domains.items()))
        name, description, running = by_uuid[args[1]]
        if args[0] == "desc":
            return done(argv, out=f"{description}\n" if description else
                        f"No description for domain: {name}\n")  # fmt: skip
        if args[0] == "destroy":
            if not running:
                return done(argv, 1, err=f"error: Failed to destroy domain '{name}'\nerror: "
                            "Requested operation is not valid: domain is not running")  # fmt: skip
            self.domains[name] = (args[1], description, False)
            return done(argv)
        if args[0] == "undefine":
            assert "--remove-all-storage" in args
            del self.domains[name]
            return done(argv)
        raise AssertionError(args)


def default_plan(provider: str):  # type: ignore[no-untyped-def]
    return plan_lab(parse_lab(spec_text("default", provider)).lab)


def record_id(lab_dir: Path, machine: str, provider: str, ident: str) -> None:
    folder = lab_dir / ".vagrant" / "machines" / machine / provider
    folder.mkdir(parents=True)
    (folder / "id").write_text(ident)


def test_the_rendered_vagrantfile_marks_machines_with_the_marker_the_provider_looks_for(
    tmp_path: Path,
) -> None:
    for provider in ("virtualbox", "libvirt"):
        plan = default_plan(provider)
        text = render(plan, LabPaths(tmp_path))["Vagrantfile"]
        assert text.count(f'"{machine_marker(tmp_path)}"') == len(plan.machines)
    assert machine_marker(tmp_path) != machine_marker(tmp_path / "other")


def test_virtualbox_removes_only_this_directorys_unrecorded_vms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = default_plan("virtualbox")
    server, agent1, agent2 = (m.name for m in plan.machines)
    ours, theirs = machine_marker(tmp_path), machine_marker(tmp_path / "elsewhere")
    fake = FakeVBoxManage({
        server: ("11111111-aaaa", ours, True),     # left behind, still running
        agent1: ("22222222-bbbb", ours, False),    # left behind, powered off
        agent2: ("33333333-cccc", theirs, True),   # another directory's lab of the same name
        "unrelated": ("44444444-dddd", ours, True),  # not a machine of the plan
    })  # fmt: skip
    monkeypatch.setattr(vbox_module, "_vboxmanage", fake)
    lines = list(plan.provider.remove_left_behind(plan, tmp_path))
    assert sorted(fake.vms) == sorted([agent2, "unrelated"])
    assert len(lines) == 2
    assert all("left by an earlier run of this lab" in line for line in lines)


def test_virtualbox_keeps_vms_this_lab_still_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = default_plan("virtualbox")
    server = plan.machines[0].name
    record_id(tmp_path, server, "virtualbox", "11111111-aaaa")
    fake = FakeVBoxManage({server: ("11111111-aaaa", machine_marker(tmp_path), True)})
    monkeypatch.setattr(vbox_module, "_vboxmanage", fake)
    assert list(plan.provider.remove_left_behind(plan, tmp_path)) == []
    assert server in fake.vms
    assert not [c for c in fake.calls if c[0] in ("controlvm", "unregistervm")]


def test_a_vm_that_will_not_go_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = default_plan("virtualbox")
    server = plan.machines[0].name
    fake = FakeVBoxManage({server: ("11111111-aaaa", machine_marker(tmp_path), True)})

    def stuck(*args: str) -> subprocess.CompletedProcess[str]:
        if args[0] == "controlvm":  # poweroff does not take: the VM stays locked
            fake.calls.append(args)
            return done(["VBoxManage", *args], 1, err="VBoxManage: error: timeout")
        return fake(*args)

    monkeypatch.setattr(vbox_module, "_vboxmanage", stuck)
    with pytest.raises(BootError) as caught:
        list(plan.provider.remove_left_behind(plan, tmp_path))
    assert "VBoxManage unregistervm 11111111-aaaa --delete" in caught.value.hint


def test_libvirt_undefines_only_this_directorys_unrecorded_domains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = default_plan("libvirt")
    server, agent1, agent2 = (f"labctl_{m.name}" for m in plan.machines)
    ours = machine_marker(tmp_path)
    fake = FakeVirsh({
        server: ("aaaa-1111", ours, True),
        agent1: ("bbbb-2222", ours, False),
        agent2: ("cccc-3333", "", True),  # no description: not labctl's, or from before markers
    })  # fmt: skip
    monkeypatch.setattr(libvirt_module, "_virsh", fake)
    lines = list(plan.provider.remove_left_behind(plan, tmp_path))
    assert sorted(fake.domains) == [agent2]
    assert len(lines) == 2


def test_a_remote_labs_leftovers_are_removed_from_its_hypervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = parse_lab(spec_text("default", "libvirt") + "libvirt: {uri: 'qemu+ssh://hv1/system'}\n")
    plan = plan_lab(lab.lab)
    server = f"labctl_{plan.machines[0].name}"
    fake = FakeVirsh({server: ("aaaa-1111", machine_marker(tmp_path), True)})
    monkeypatch.setattr(libvirt_module, "_virsh", fake)
    assert len(list(plan.provider.remove_left_behind(plan, tmp_path))) == 1
    assert fake.domains == {}
    assert fake.uris == {"qemu+ssh://hv1/system"}


def test_left_behind_is_pure_and_reads_descriptions_only_of_candidates() -> None:
    read: list[str] = []

    def marker_of(ident: str) -> str:
        read.append(ident)
        return "m\n"

    found = vm_names.left_behind(
        {"a": "a", "b": "b", "c": "c"}, {"a": "1", "b": "2"}, {"b": "2"}, marker_of, "m"
    )
    assert found == {"a": "1"}
    assert read == ["1"]


def test_lxc_reads_the_marker_vagrant_lxc_writes_into_the_container_config(tmp_path: Path) -> None:
    plan = plan_lab(parse_lab(spec_text("default", "lxc")).lab)
    vagrantfile = render(plan, LabPaths(tmp_path))["Vagrantfile"]
    assert vagrantfile.count(f'"LABCTL_LAB={machine_marker(tmp_path)}"') == len(plan.machines)
    # vagrant-lxc 1.4's write_customizations: "lxc.#{key}=#{value}" between VAGRANT markers.
    config = (
        "lxc.rootfs.path = dir:/var/lib/lxc/demo-server-1/rootfs\n# VAGRANT-BEGIN\n"
        f"lxc.environment=LABCTL_LAB={machine_marker(tmp_path)}\nlxc.net.0.type=veth\n"
        "# VAGRANT-END\n"
    )
    assert containers.parse_marker(config) == machine_marker(tmp_path)
    assert containers.parse_marker("lxc.net.0.type = veth\n") is None


def test_lxc_removes_only_its_own_unknown_containers() -> None:
    marks = {"a": "ours", "b": "theirs", "c": None}
    assert containers.foreign(marks, "ours", boot_began=True) == ["b"]
    # Never began a boot here: an unmarked container is another lab's (interrupted) one.
    assert containers.foreign(marks, "ours", boot_began=False) == ["b", "c"]
