"""The edge of doctor: runs host tools (argument lists, short timeouts, never a shell) and reads
/proc and /sys. Every probe is tolerant: a missing tool is a fact to report, not a crash."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.doctor.facts import DiskSpace, HostFacts, RemoteHost
from labctl.doctor.host import free_memory_mib, host_arch
from labctl.doctor.parse import (
    Version,
    cgroup_facts,
    dotted,
    parse_addresses,
    parse_box_list,
    parse_cpu_flags,
    parse_hypervisor_present,
    parse_kvm_offered,
    parse_libvirt_networks,
    parse_machine_folder,
    parse_nodeinfo_cpus,
    parse_nodememstats_free_mib,
    parse_plugin_list,
    parse_routes,
    parse_vboxmanage_version,
    parse_version,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from labctl.plan import Plan
    from labctl.providers.base import Provider

# VirtualBox 6.1.28+ on Linux, macOS and Solaris only lets host-only networks use these ranges
# unless /etc/vbox/networks.conf lists others (the file then replaces the default).
VBOX_NETWORKS_CONF = Path("/etc/vbox/networks.conf")


# Not localized, no admin rights needed (bcdedit needs both): True while Hyper-V, WSL2 or
# Memory Integrity has Windows running under a hypervisor.
HYPERVISOR_QUERY = "(Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent"
PROBE_TIMEOUT = 10.0  # seconds; Vagrant's Ruby start-up alone takes ~1 s


@dataclass(frozen=True)
class _Output:
    ok: bool
    stdout: str
    error: str


def _run(argv: list[str], timeout: float = PROBE_TIMEOUT) -> _Output:
    """Run a probe; never raises: a missing tool, a timeout or a non-zero exit is an answer.

    The probe runs in a process group of its own and a timeout ends the whole group:
    `vagrant.exe` starts a ruby child that keeps the pipes open, and CPython's own timeout
    (which kills only the direct child and then, on Windows, reads the pipes to their end)
    would wait for it forever.
    """
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "LC_ALL": "C"}
    windows = platform.system() == "Windows"
    group = ({"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)} if windows
             else {"start_new_session": True})  # fmt: skip
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            encoding="utf-8", errors="replace",  # Vagrant writes UTF-8 whatever the code page
            **group,
        )  # fmt: skip
    except FileNotFoundError:
        return _Output(ok=False, stdout="", error=f"{argv[0]} is not installed")
    except OSError as exc:
        return _Output(False, "", f"`{' '.join(argv)}` could not run: {exc}")
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc, windows=windows)
        return _Output(False, "", f"`{' '.join(argv)}` gave no answer within {timeout:g} s")
    if proc.returncode != 0:
        lines = [line for line in (stderr or stdout).splitlines() if line.strip()]
        tail = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        return _Output(False, stdout, f"`{' '.join(argv)}` failed: {tail}")
    return _Output(True, stdout, "")


def _kill_tree(proc: subprocess.Popen[str], *, windows: bool) -> None:
    """End a timed-out probe with everything it started, then stop reading its pipes."""
    if windows:  # taskkill /T ends the child's whole tree (vagrant.exe -> ruby.exe)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                           capture_output=True, timeout=5, check=False)  # fmt: skip
    else:
        killpg = getattr(os, "killpg", None)
        with contextlib.suppress(OSError):
            if killpg is not None:
                killpg(proc.pid, signal.SIGKILL)  # its own session: the group id is its pid
    with contextlib.suppress(OSError):
        proc.kill()
    try:
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:  # something outside the tree still holds the pipes
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _disk_space(purpose: str, path: Path) -> DiskSpace | None:
    """Free space for `path`, measured at its nearest existing ancestor."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
        device = probe.stat().st_dev
    except OSError:
        return None
    return DiskSpace(purpose, str(path), str(probe), usage.free // (1024 * 1024), device)


def _vagrant_home() -> Path:
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def vboxmanage_where_vagrant_looks(environ: Mapping[str, str], system: str) -> str | None:
    """VBoxManage.exe off PATH on Windows: VirtualBox's installer sets VBOX_MSI_INSTALL_PATH
    (older ones VBOX_INSTALL_PATH), `;`-separated folders, and does not touch PATH; Vagrant
    looks there, so preflight must too or it calls a working host's VirtualBox missing."""
    if system != "Windows":
        return None
    for variable in ("VBOX_INSTALL_PATH", "VBOX_MSI_INSTALL_PATH"):
        for folder in environ.get(variable, "").split(";"):
            candidate = Path(folder.strip()) / "VBoxManage.exe"
            if folder.strip() and candidate.is_file():
                return str(candidate)
    return None


def gather_facts(plan: Plan, also: Sequence[Provider] = ()) -> HostFacts:
    """Probe the host once for everything `judge` needs; slow probes run side by side.

    A provider's own slow probes (libvirt: `virsh -c qemu:///system version`, which can take
    seconds) run only for the plan's provider and those in `also` (a survey of every provider
    for `provider: auto`); everything else is probed whatever the provider, so `labctl doctor`
    shows the whole host.
    """
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only doctor needs threads

    provider = plan.provider
    which = {
        name: shutil.which(name)
        for name in (
            "vagrant",
            "VBoxManage",
            "virsh",
            "libvirtd",
            "lxc-create",
            "lxc-info",
            "iptables",
            "debootstrap",
            "brctl",
            "sudo",
            "ip",
        )
    }
    which["VBoxManage"] = which["VBoxManage"] or vboxmanage_where_vagrant_looks(
        os.environ, platform.system()
    )
    errors: dict[str, str] = {}
    probes: dict[str, tuple[list[str], float]] = {}
    if which["vagrant"]:
        probes["vagrant-version"] = (["vagrant", "--version"], PROBE_TIMEOUT)
        probes["vagrant-plugins"] = (
            ["vagrant", "plugin", "list", "--machine-readable"],
            PROBE_TIMEOUT,
        )
        probes["vagrant-boxes"] = (["vagrant", "box", "list", "--machine-readable"], PROBE_TIMEOUT)
    if vbox := which["VBoxManage"]:
        probes["virtualbox-version"] = ([vbox, "--version"], PROBE_TIMEOUT)
        probes["virtualbox-properties"] = (
            [vbox, "list", "systemproperties"],
            PROBE_TIMEOUT,
        )
    for asked, lab in ((provider, plan.lab), *((other, None) for other in also)):
        for name, (argv, timeout) in asked.host_probes(lab).items():
            if shutil.which(argv[0]):
                probes[name] = (argv, timeout)
    if platform.system() == "Windows" and shutil.which("powershell"):
        probes["hypervisor"] = (["powershell", "-NoProfile", "-NonInteractive", "-Command",
                                 HYPERVISOR_QUERY], PROBE_TIMEOUT)  # fmt: skip
    if which["lxc-create"]:
        probes["lxc-version"] = (["lxc-create", "--version"], PROBE_TIMEOUT)
    if which["sudo"]:
        probes["sudo"] = (["sudo", "-n", "true"], PROBE_TIMEOUT)
    if which["ip"]:
        probes["routes"] = (["ip", "-j", "-4", "route", "show"], PROBE_TIMEOUT)
        probes["addresses"] = (["ip", "-j", "-4", "addr", "show"], PROBE_TIMEOUT)

    with ThreadPoolExecutor(max_workers=max(len(probes), 1)) as pool:
        futures = {
            name: pool.submit(_run, argv, timeout) for name, (argv, timeout) in probes.items()
        }
        out = {name: future.result() for name, future in futures.items()}
    for name, result in out.items():
        if not result.ok and name != "sudo":  # sudo refusing is the answer, not a fault
            errors[name] = result.error

    def answer(name: str, parse: Callable[[str], Any]) -> Any:
        result = out.get(name)
        if result is None or not result.ok:
            return None
        try:
            return parse(result.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            errors[name] = f"could not read the output: {exc}"
            return None

    machine_folder = answer("virtualbox-properties", parse_machine_folder)
    cpuinfo = _read(Path("/proc/cpuinfo"))
    layout, controllers = cgroup_facts()
    try:
        euid: int | None = os.geteuid()
    except AttributeError:  # Windows has no euid
        euid = None
    libvirt = out.get("libvirt")
    facts = HostFacts(
        system=platform.system(),
        arch=host_arch(),
        euid=euid,
        vagrant_path=which["vagrant"],
        vagrant_version=answer("vagrant-version", lambda s: _version_text(parse_version(s))),
        vagrant_plugins=answer("vagrant-plugins", parse_plugin_list),
        boxes=answer("vagrant-boxes", parse_box_list),
        vboxmanage_path=which["VBoxManage"],
        virtualbox_version=answer("virtualbox-version", parse_vboxmanage_version),
        virtualbox_machine_folder=machine_folder,
        virsh_path=which["virsh"],
        libvirtd_path=which["libvirtd"] or _existing("/usr/sbin/libvirtd"),
        libvirt_reachable=None if libvirt is None else libvirt.ok,
        libvirt_networks=answer("libvirt-networks", parse_libvirt_networks),
        lxc_create_path=which["lxc-create"],
        lxc_info_path=which["lxc-info"],
        lxc_version=answer("lxc-version", lambda s: _version_text(parse_version(s))),
        iptables_path=which["iptables"] or _existing("/usr/sbin/iptables"),
        debootstrap_path=which["debootstrap"] or _existing("/usr/sbin/debootstrap"),
        brctl_path=which["brctl"] or _existing("/usr/sbin/brctl"),
        hypervisor_present=answer("hypervisor", parse_hypervisor_present),
        sudo_nopasswd=None if "sudo" not in out else out["sudo"].ok,
        cgroup_layout=layout,
        cgroup_controllers=controllers,
        cpu_virt_flags=None if cpuinfo is None else parse_cpu_flags(cpuinfo),
        kvm_device=Path("/dev/kvm").exists(),
        free_memory_mib=free_memory_mib(),
        disks=(),
        vbox_networks_conf=_read(VBOX_NETWORKS_CONF),
        routes=answer("routes", parse_routes),
        addresses=answer("addresses", parse_addresses),
        probe_errors=tuple(sorted(errors.items())),
    )
    disks = [
        _disk_space("boxes", _vagrant_home() / "boxes"),
        _disk_space("machines", provider.machines_dir(facts)),
    ]
    elsewhere = "remote-memory" in probes and provider.machines_remote(plan.lab)
    remote = _remote_host(probes["remote-memory"][0][2], answer) if elsewhere else None
    return replace(
        facts,
        disks=tuple(d for d in disks if d is not None),
        remote_host=remote,  # its probes' errors join the others:
        probe_errors=tuple(sorted(errors.items())),
    )


def _remote_host(where: str, answer: Callable[[str, Callable[[str], Any]], Any]) -> RemoteHost:
    """The host a remote lab's machines run on, from its `remote-*` probes (`where`: the
    URI they asked, `virsh -c URI …`)."""
    return RemoteHost(
        where=where,
        cpus=answer("remote-cpus", parse_nodeinfo_cpus),
        free_mib=answer("remote-memory", parse_nodememstats_free_mib),
        kvm=answer("remote-kvm", parse_kvm_offered),
    )


def _version_text(version: Version | None) -> str | None:
    return None if version is None else dotted(version)


def _existing(path: str) -> str | None:
    """Tools root runs from /usr/sbin, which a user's PATH may lack."""
    return path if Path(path).exists() else None
