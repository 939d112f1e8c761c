"""Preflight on the hosts learners use (macOS, Windows) and Vagrant 2.4's box listing, proven on
recorded outputs and with POSIX-only functions removed as on Windows (issue 21)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.doctor import InstalledBox, parse_box_list
from tests.unit.test_doctor import GOOD, finding, plan_of

# `vagrant box list --machine-readable` (2.4.1) for a box added from a file: architecture n/a.
BOX_LIST_NA = (
    "1733212800,,box-name,labctl/debian-bookworm\n1733212800,,box-provider,virtualbox\n"
    "1733212800,,box-version,0\n1733212800,,box-architecture,n/a\n"
)


def test_box_architecture_na_is_unknown_not_an_architecture() -> None:
    assert parse_box_list(BOX_LIST_NA) == (
        InstalledBox("labctl/debian-bookworm", "virtualbox", "0", None),
    )
    plain = "labctl/debian-bookworm (virtualbox, 0, (n/a))\n"
    assert parse_box_list(plain) == (
        InstalledBox("labctl/debian-bookworm", "virtualbox", "0", None),
    )


def test_a_box_added_from_a_file_does_not_fail_the_arch_judge() -> None:
    boxes = parse_box_list(BOX_LIST_NA)
    custom = plan_of("virtualbox", box="labctl/debian-bookworm")
    assert finding(custom, replace(GOOD, boxes=boxes), "arch").status == "ok"
    mac = replace(GOOD, system="Darwin", arch="arm64", boxes=boxes)
    assert finding(custom, mac, "arch").status != "fail"


# --- item 11: a lab directory with spaces in its path -------------------------------------------

SPACED = [
    "/Users/ada/Library/Mobile Documents/com~apple~CloudDocs/lab/.labctl/demo/known_hosts",
    "/mnt/c/Users/John  Smith/OneDrive - Acme/lab/.labctl/demo/known_hosts",  # two spaces
    'C:\\Users\\John Smith\\lab "x"\\.labctl\\demo\\known_hosts',
]


def _ssh_known_hosts_files(args: list[str]) -> str:
    """What the real OpenSSH client makes of these arguments (`ssh -G` parses, connects nowhere)."""
    import shutil
    import subprocess

    if shutil.which("ssh") is None:
        pytest.skip("no OpenSSH client on this host")
    shown = subprocess.run(["ssh", "-G", *args, "nobody@labctl.invalid"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    line = next(x for x in shown.splitlines() if x.startswith("userknownhostsfile "))
    return line.removeprefix("userknownhostsfile ")


@pytest.mark.parametrize("path", SPACED)
def test_known_hosts_with_spaces_reaches_openssh_as_one_file_through_ansible(path: str) -> None:
    from pathlib import PurePosixPath

    import yaml
    from ansible.plugins.connection.ssh import Connection

    from labctl.render import ssh_inventory

    doc = yaml.safe_load(ssh_inventory({}, PurePosixPath(path)))
    common = doc["all"]["vars"]["ansible_ssh_common_args"]
    args = Connection._split_ssh_args(common)  # how Ansible's ssh plugin splits them
    # one file: OpenSSH would print the pieces of a split path joined by single spaces
    assert _ssh_known_hosts_files(args) == path


@pytest.mark.parametrize("path", SPACED)
def test_labctl_ssh_passes_known_hosts_with_spaces_as_one_file(path: str) -> None:
    from labctl.render import ssh_option

    assert _ssh_known_hosts_files(["-o", ssh_option("UserKnownHostsFile", path)]) == path


# --- item 14: Vagrant's UTF-8 output on a host whose code page is not UTF-8 ---------------------

KOREAN_KEY = "C:/Users/홍길동/.vagrant.d/insecure_private_keys/vagrant.key.ed25519"


def _fake_vagrant(bin_dir: Path, stdout: bytes) -> None:
    """A stand-in `vagrant` that prints recorded bytes, as Vagrant on Korean Windows would."""
    bin_dir.mkdir()
    (bin_dir / "out").write_bytes(stdout)
    script = bin_dir / "vagrant"
    script.write_text(f"#!/bin/sh\ncat '{bin_dir / 'out'}'\n")
    script.chmod(0o755)


def test_vagrant_output_is_utf8_whatever_the_locale_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import locale

    import vagrant

    from labctl.tools.vagrant import VagrantLab

    recorded = (
        f"1733212800,demo-server-1,metadata,provider,virtualbox\n"
        f"1733212800,demo-server-1,state,running\n"
        f"1733212800,,ui,info,key {KOREAN_KEY}\n"
    ).encode()
    _fake_vagrant(tmp_path / "bin", recorded)
    monkeypatch.setattr(vagrant, "get_vagrant_executable", lambda: str(tmp_path / "bin/vagrant"))
    monkeypatch.setattr(locale, "getpreferredencoding", lambda *a: "cp949")  # Korean Windows
    lab = VagrantLab(tmp_path, tmp_path / "logs")
    machines = lab.status()
    assert [(m.name, m.state) for m in machines] == [("demo-server-1", "running")]


def test_a_doctor_probe_survives_bytes_that_are_not_in_the_code_page(tmp_path: Path) -> None:
    from labctl.doctor.gather import _run

    # cp949 bytes (a Korean user name as a Korean Windows tool may print it) are not UTF-8
    _fake_vagrant(tmp_path / "bin", "box C:/Users/홍길동\n".encode("cp949"))
    out = _run([str(tmp_path / "bin" / "vagrant")])
    assert out.ok
    assert out.stdout.startswith("box C:/Users/")
    assert "\ufffd" in out.stdout


# --- item 8: VBoxManage on Windows is found where Vagrant looks -------------------------------


def test_preflight_finds_vboxmanage_through_the_installers_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform
    import shutil

    from labctl.doctor import gather

    folder = tmp_path / "Oracle" / "VirtualBox"  # "C:\\Program Files\\Oracle\\VirtualBox\\"
    folder.mkdir(parents=True)
    exe = folder / "VBoxManage.exe"  # a stand-in printing what VBoxManage 7.0.14 prints
    exe.write_text("#!/bin/sh\necho 7.0.14r161095\n")
    exe.chmod(0o755)
    real_which = shutil.which
    monkeypatch.setattr(
        gather.shutil, "which", lambda name: None if name == "VBoxManage" else real_which(name)
    )
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    monkeypatch.setenv("VBOX_MSI_INSTALL_PATH", f"{folder};")
    monkeypatch.delenv("VBOX_INSTALL_PATH", raising=False)
    facts = gather.gather_facts(plan_of("virtualbox"))
    assert facts.vboxmanage_path == str(exe)
    assert facts.virtualbox_version == "7.0.14"
    assert finding(plan_of("virtualbox"), facts, "provider").status == "ok"


def test_vboxmanage_is_looked_for_in_install_paths_only_on_windows(tmp_path: Path) -> None:
    from labctl.doctor.gather import vboxmanage_where_vagrant_looks

    (tmp_path / "VBoxManage.exe").write_text("")
    env = {"VBOX_MSI_INSTALL_PATH": f"C:\\nowhere;{tmp_path}"}
    assert vboxmanage_where_vagrant_looks(env, "Windows") == str(tmp_path / "VBoxManage.exe")
    assert vboxmanage_where_vagrant_looks(env, "Linux") is None
    assert vboxmanage_where_vagrant_looks({}, "Windows") is None


# --- item 10: a probe's timeout ends the whole tree, even when a grandchild holds the pipes -----


def test_a_hung_probe_is_ended_with_its_children_within_the_timeout(tmp_path: Path) -> None:
    import os
    import time

    from labctl.doctor.gather import _run

    pid_file = tmp_path / "grandchild.pid"
    hung = tmp_path / "vagrant"  # like vagrant.exe: starts ruby, which keeps stdout open
    hung.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > '{pid_file}'\nwait\n")
    hung.chmod(0o755)
    clock = time.monotonic()
    out = _run([str(hung), "box", "list"], timeout=1.0)
    took = time.monotonic() - clock
    assert not out.ok
    assert "gave no answer within 1 s" in out.error
    assert took < 5.0, f"the probe took {took:.1f} s"
    grandchild = int(pid_file.read_text())
    time.sleep(0.2)
    try:
        os.kill(grandchild, 0)
    except ProcessLookupError:
        return
    state = Path(f"/proc/{grandchild}/stat").read_text().split()[2]
    assert state == "Z", "the probe's child outlived its timeout"


# --- item 12: memory on macOS (vm_stat, hw.memsize) and Windows (GlobalMemoryStatusEx) ---------

# `vm_stat` on an Apple Silicon Mac with 16 GiB (hw.memsize 17179869184), recorded shape.
VM_STAT = """\
Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                                3904.
Pages active:                            331870.
Pages inactive:                          326187.
Pages speculative:                         1735.
Pages throttled:                              0.
Pages wired down:                        146102.
Pages purgeable:                          11447.
"Translation faults":                 413906223.
Pages copy-on-write:                   12075389.
File-backed pages:                       175386.
Anonymous pages:                         484406.
Pages stored in compressor:              424331.
Pages occupied by compressor:            129013.
"""


def test_macos_free_memory_comes_from_vm_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.doctor import host

    answers = {"vm_stat": VM_STAT, "sysctl -n hw.memsize": "17179869184\n"}
    monkeypatch.setattr(host, "_ask", lambda argv: answers.get(" ".join(argv)))
    # (3904 + 326187 + 1735) pages * 16 KiB = 5184 MiB
    assert host.free_memory_mib(system="Darwin") == 5184
    assert host.parse_vm_stat(VM_STAT, 1024 * 1024 * 1024) == 1024  # never above hw.memsize
    assert host.parse_vm_stat("vm_stat: command failed", None) is None
    answers.clear()
    assert host.free_memory_mib(system="Darwin") is None


def test_the_memory_judge_speaks_on_a_mac_instead_of_shrugging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labctl.doctor import host

    monkeypatch.setattr(host, "_ask", lambda argv: VM_STAT if argv == ["vm_stat"] else None)
    mac = replace(GOOD, system="Darwin", free_memory_mib=host.free_memory_mib(system="Darwin"))
    found = finding(plan_of("virtualbox"), mac, "memory")
    assert "does not say how much is free" not in found.message
    assert "5184 MiB" in found.message


class FakeKernel32:
    """Stands in for kernel32 where there is none: fills MEMORYSTATUSEX as Windows does, and
    like the real call returns 0 (and fills nothing) when dwLength is not the structure's size."""

    def __init__(self, avail: int, fail: bool = False) -> None:
        self.avail, self.fail = avail, fail

    def GlobalMemoryStatusEx(self, ref: object) -> int:  # noqa: N802 - the Windows API's name
        import ctypes

        status = ref._obj  # type: ignore[attr-defined]  # what ctypes.byref points at
        if self.fail or status.dwLength != ctypes.sizeof(status):
            return 0
        status.ullTotalPhys, status.ullAvailPhys = 16 * 1024**3, self.avail
        return 1


def test_windows_free_memory_comes_from_global_memory_status_ex() -> None:
    from labctl.doctor.host import windows_available_mib

    assert windows_available_mib(FakeKernel32(6 * 1024**3)) == 6144
    assert windows_available_mib(FakeKernel32(0, fail=True)) is None
    assert windows_available_mib() is None  # no ctypes.windll here: unknown, not a crash


# --- item 13: Apple Silicon under Rosetta is an arm64 host --------------------------------------


def test_rosetta_translated_python_is_judged_as_arm64(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.doctor import host

    translated = {"sysctl -n sysctl.proc_translated": "1\n"}
    monkeypatch.setattr(host, "_ask", lambda argv: translated.get(" ".join(argv)))
    assert host.host_arch("Darwin", "x86_64") == "arm64"
    translated["sysctl -n sysctl.proc_translated"] = "0\n"  # a real Intel Mac
    assert host.host_arch("Darwin", "x86_64") == "x86_64"
    translated.clear()  # macOS before Rosetta 2 has no such sysctl
    assert host.host_arch("Darwin", "x86_64") == "x86_64"
    assert host.host_arch("Linux", "x86_64") == "x86_64"
    intel_box = (InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "amd64"),)
    rosetta = replace(GOOD, system="Darwin", arch="arm64", boxes=intel_box)
    assert finding(plan_of("virtualbox"), rosetta, "arch").status == "fail"


# --- item 15: Hyper-V / WSL2 holding VT-x on Windows ---------------------------------------------


def test_hyper_v_holding_vtx_is_named_with_its_fix_not_the_firmware(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform

    from labctl.doctor import gather
    from labctl.doctor.parse import parse_hypervisor_present

    assert parse_hypervisor_present("True\r\n") is True
    assert parse_hypervisor_present("False\r\n") is False
    assert parse_hypervisor_present("Get-CimInstance : Access denied\r\n") is None

    bin_dir = tmp_path / "bin"  # a stand-in powershell answering as on a host with WSL2
    bin_dir.mkdir()
    (bin_dir / "powershell").write_text("#!/bin/sh\nprintf 'True\\r\\n'\n")
    (bin_dir / "powershell").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    facts = gather.gather_facts(plan_of("virtualbox"))
    assert facts.hypervisor_present is True
    windows = replace(GOOD, system="Windows", cpu_virt_flags=None, hypervisor_present=True)
    found = finding(plan_of("virtualbox"), windows, "cpu-virt")
    assert found.status == "warn"
    assert "Hyper-V" in found.message
    assert "hypervisorlaunchtype off" in found.fix
    assert "firmware" not in found.fix
    plain = replace(windows, hypervisor_present=False)
    assert "firmware" in finding(plan_of("virtualbox"), plain, "cpu-virt").fix
