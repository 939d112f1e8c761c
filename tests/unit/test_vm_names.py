"""VM names another lab holds are refused before boot (issue 17 item 7).

Two directories with the default `demo` lab both name their VMs demo-server-1 ...: VirtualBox
refuses the second (VMNameExists) deep inside `vagrant up`. VirtualBox cannot run here; a FAKE
`VBoxManage list vms` (written into a temporary PATH by this test, in VirtualBox's
`"name" {uuid}` format) stands in for the host's VMs.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from labctl.errors import ExitCode, PreflightFailedError
from labctl.providers import vm_names
from labctl.registry import get, plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.vagrant import VagrantLab

if TYPE_CHECKING:
    from pathlib import Path

OTHER = "0c9d6a51-1111-4c4e-9c55-0a0000000001"
OURS = "0c9d6a51-2222-4c4e-9c55-0a0000000002"


def test_parse_vbox_list_vms() -> None:
    text = f'"demo-server-1" {{{OTHER}}}\n"<inaccessible>" {{{OURS}}}\nnoise\n'
    assert vm_names.parse_vbox_list_vms(text) == {"demo-server-1": OTHER, "<inaccessible>": OURS}


def _fake_vboxmanage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "VBoxManage"
    fake.write_text(f"#!/bin/sh\n# FAKE VBoxManage: `list vms` only\ncat <<'EOF'\n{listing}EOF\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")


def _boot_check(lab_dir: Path) -> None:
    plan = plan_lab(parse_lab("name: demo\n").lab)
    get("virtualbox").before_boot(plan, VagrantLab(lab_dir, lab_dir / "runs"), lambda _t: None)


def test_another_labs_vm_of_the_same_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_vboxmanage(tmp_path, monkeypatch, f'"demo-server-1" {{{OTHER}}}\n')
    with pytest.raises(PreflightFailedError) as caught:
        _boot_check(tmp_path / "lab")
    assert caught.value.exit_code is ExitCode.PREFLIGHT
    assert caught.value.lines() == [
        f"machine-names: VirtualBox VM names taken: demo-server-1 ({OTHER}) already exists "
        "and is not this lab's demo-server-1"
    ]
    assert "give this lab another `name:`" in caught.value.hint


def test_this_labs_own_vms_from_an_earlier_up_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_vboxmanage(tmp_path, monkeypatch, f'"demo-server-1" {{{OURS}}}\n')
    lab_dir = tmp_path / "lab"
    id_file = lab_dir / ".vagrant" / "machines" / "demo-server-1" / "virtualbox" / "id"
    id_file.parent.mkdir(parents=True)
    id_file.write_text(OURS)
    _boot_check(lab_dir)  # no error


def test_no_vboxmanage_leaves_it_to_doctor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    _boot_check(tmp_path / "lab")


# ---------------------------------------------------------------- libvirt (real virsh)

NODE = """<node>
  <domain type="test">
    <name>labctl_demo-server-1</name>
    <uuid>{uuid}</uuid>
    <memory>1048576</memory>
    <os><type>hvm</type></os>
  </domain>
</node>
"""


def _libvirt_boot_check(lab_dir: Path, node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libvirt's before-boot check, with virsh asking libvirt's test driver loaded from `node`
    (a real virsh listing, no daemon) instead of qemu:///system."""
    from labctl.providers import libvirt

    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (apt install libvirt-clients)")
    monkeypatch.setattr(libvirt, "LOCAL_URI", f"test://{node}")
    plan = plan_lab(parse_lab("name: demo\nprovider: libvirt\n").lab)
    get("libvirt").before_boot(plan, VagrantLab(lab_dir, lab_dir / "runs"), lambda _t: None)


def test_another_labs_libvirt_domain_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "node.xml"
    node.write_text(NODE.format(uuid=OTHER))
    with pytest.raises(PreflightFailedError) as caught:
        _libvirt_boot_check(tmp_path / "lab", node, monkeypatch)
    assert caught.value.lines() == [
        f"machine-names: libvirt domain names taken: labctl_demo-server-1 ({OTHER}) already "
        "exists and is not this lab's demo-server-1"
    ]


def test_this_labs_own_libvirt_domain_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "node.xml"
    node.write_text(NODE.format(uuid=OURS))
    lab_dir = tmp_path / "lab"
    id_file = lab_dir / ".vagrant" / "machines" / "demo-server-1" / "libvirt" / "id"
    id_file.parent.mkdir(parents=True)
    id_file.write_text(OURS)
    _libvirt_boot_check(lab_dir, node, monkeypatch)


def test_a_domain_an_earlier_run_of_this_lab_left_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 item 3: the lab's .labctl/ is gone but its domain, marked with the lab
    directory's marker in its description, is not: the refusal says `labctl test` removes it."""
    from labctl.render import machine_marker

    lab_dir = tmp_path / "lab"
    node = tmp_path / "node.xml"
    marked = NODE.format(uuid=OURS).replace(
        "<memory>", f"<description>{machine_marker(lab_dir)}</description>\n    <memory>"
    )
    node.write_text(marked)
    with pytest.raises(PreflightFailedError) as caught:
        _libvirt_boot_check(lab_dir, node, monkeypatch)
    assert caught.value.hint.startswith("labctl_demo-server-1 was made by an earlier run of this")
    assert "`labctl test` removes such machines" in caught.value.hint
    node.write_text(NODE.format(uuid=OURS))  # unmarked: another directory's, as before
    with pytest.raises(PreflightFailedError) as caught:
        _libvirt_boot_check(lab_dir, node, monkeypatch)
    assert "give this lab another `name:`" in caught.value.hint
