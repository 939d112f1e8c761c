"""VirtualBox: the default provider (Windows, macOS, Linux), through Vagrant's built-in driver."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from labctl.doctor.findings import FIRMWARE_FIX, Finding
from labctl.doctor.gather import VBOX_NETWORKS_CONF
from labctl.doctor.parse import Version, dotted, normalize_arch, parse_networks_conf, parse_version
from labctl.providers.base import Provider

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator, Mapping, Sequence

    from labctl.doctor import HostFacts
    from labctl.plan import Plan
    from labctl.providers.base import Rule, Step
    from labctl.spec.model import Lab
    from labctl.tools.vagrant import VagrantLab


class VirtualBox(Provider):
    name = "virtualbox"
    label = "VirtualBox"
    default_box = "bento/ubuntu-24.04"
    vagrant_block = "vagrant/virtualbox.rb.j2"
    host_interface_prefixes: ClassVar[tuple[str, ...]] = ("vboxnet",)

    def spec_warnings(self, lab: Lab) -> Sequence[tuple[tuple[str | int, ...], str]]:
        network = ipaddress.IPv4Network(lab.network.cidr)
        if network.subnet_of(VBOX_HOSTONLY_DEFAULT):
            return ()
        return (
            (
                ("network", "cidr"),
                f"{network} is outside VirtualBox's default host-only range 192.168.56.0/21; "
                f"allow it in /etc/vbox/networks.conf (a line `* {network}`) or pick a subnet "
                "inside the range",
            ),
        )

    def setup_on(self, facts: HostFacts) -> str | None:
        x86 = normalize_arch(facts.arch) in {"amd64", "386"}
        if x86 and facts.cpu_virt_flags is not None and not facts.cpu_virt_flags:
            return None  # no VT-x/AMD-V: VirtualBox cannot start a 64-bit VM here
        steps = []
        if facts.vagrant_path is None:
            steps.append("install Vagrant (https://developer.hashicorp.com/vagrant/install)")
        if facts.vboxmanage_path is None:
            steps.append("install VirtualBox (https://www.virtualbox.org/wiki/Downloads)")
        return ", then ".join(steps)

    def preflight_rules(self) -> Sequence[Rule]:
        return (_provider, _virtualbox_pairing, _cpu_virt)

    def before_boot(self, plan: Plan, vagrant: VagrantLab, on_step: Step) -> None:
        """Refuse VM names another lab's VMs hold (vb.name is the machine name)."""
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        del on_step
        listed = _vboxmanage("list", "vms")
        if listed.returncode != 0:
            return  # doctor's provider finding already says what is wrong with VirtualBox
        wanted = {m.name: m.name for m in plan.machines}
        on_host = vm_names.parse_vbox_list_vms(listed.stdout)
        recorded = vm_names.recorded_ids(vagrant.lab_dir, self.name)
        problems = vm_names.foreign_machines(wanted, on_host, recorded)
        if problems:
            own = vm_names.left_behind(
                wanted, on_host, recorded, _vbox_description, machine_marker(vagrant.lab_dir)
            )
            vm_names.refuse_foreign(
                problems, "VirtualBox VM names taken", plan.lab.name, tuple(own),
                "VBoxManage unregistervm NAME --delete",
            )  # fmt: skip

    def remove_left_behind(self, plan: Plan, lab_dir: Path) -> Iterator[str]:
        """Power off and delete VMs with this lab's names and its directory's marker that its
        `.vagrant/` no longer records (the VM, its disks and its snapshots)."""
        from labctl.errors import BootError  # noqa: PLC0415
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        listed = _vboxmanage("list", "vms")
        if listed.returncode != 0:
            return  # doctor's provider finding already says what is wrong with VirtualBox
        found = vm_names.left_behind(
            {m.name: m.name for m in plan.machines},
            vm_names.parse_vbox_list_vms(listed.stdout),
            vm_names.recorded_ids(lab_dir, self.name),
            _vbox_description,
            machine_marker(lab_dir),
        )
        for name, uuid in found.items():
            _vboxmanage("controlvm", uuid, "poweroff")  # fails harmlessly when already off
            gone = _vboxmanage("unregistervm", uuid, "--delete")
            if gone.returncode != 0:
                raise BootError(
                    f"could not delete VM {name} ({uuid}) an earlier run of this lab left: "
                    f"{(gone.stderr or gone.stdout).strip()[-300:]}",
                    f"delete it by hand: VBoxManage unregistervm {uuid} --delete",
                )
            yield f"deleted VM {name} ({uuid}), left by an earlier run of this lab"

    def machine_states(self, lab_dir: Path, names: Sequence[str]) -> Mapping[str, str] | None:
        """`VBoxManage showvminfo` of each recorded id, as Vagrant's driver reads the state; a
        VBoxManage that fails otherwise than "not found" leaves it to Vagrant."""
        from labctl.providers import machine_states as ms  # noqa: PLC0415

        ids = {name: ms.recorded_id(lab_dir, name, self.name) for name in names}
        on_host: dict[str, str] = {}
        for ident in filter(None, ids.values()):
            info = _vboxmanage("showvminfo", ident, "--machinereadable")
            state = ms.parse_vbox_state(info.stdout) if info.returncode == 0 else None
            if state is None and ms.VBOX_NOT_FOUND not in info.stderr:
                return None
            if state is not None:
                on_host[ident] = state
        return ms.states_by_id(names, ids, on_host)

    def check_host_network(
        self, lab: ipaddress.IPv4Network, facts: HostFacts, fails: list[str], fixes: list[str]
    ) -> None:
        if facts.system != "Windows":
            _check_vbox_range(lab, facts, fails, fixes)

    def machines_dir(self, facts: HostFacts) -> Path:
        folder = facts.virtualbox_machine_folder
        return Path(folder) if folder else Path.home() / "VirtualBox VMs"

    def fleet_ranges(self, networks_conf: str | None) -> tuple[ipaddress.IPv4Network, ...]:
        """VirtualBox's host-only ranges; /etc/vbox/networks.conf (its text: `networks_conf`)
        replaces the default when it exists, as VirtualBox itself reads it."""
        if networks_conf is None:
            return (VBOX_HOSTONLY_DEFAULT,)
        return tuple(parse_networks_conf(networks_conf))

    def fleet_no_fit_hint(self) -> str:
        return (
            "allow more in /etc/vbox/networks.conf (a line like `* 192.168.56.0/21 "
            "10.56.0.0/16`; the file replaces VirtualBox's default) or use fewer labs"
        )


# The first Vagrant release whose built-in VirtualBox provider drives each VirtualBox series.
# Source: Vagrant's CHANGELOG ("Add support for VirtualBox 6.0" in 2.2.1, 6.1 in 2.2.7, 7.0 in
# 2.3.2, 7.1 in 2.4.2 [GH-13513], 7.2 in 2.4.9 [GH-13709]). Older Vagrant refuses a newer series
# with "Vagrant has detected that you have a version of VirtualBox installed that is not
# supported by this version of Vagrant". Every Vagrant labctl accepts (>= 2.2.19) drives 4.0-6.0.
VIRTUALBOX_SERIES_SINCE_VAGRANT: dict[tuple[int, int], Version] = {
    (6, 0): (2, 2, 1),
    (6, 1): (2, 2, 7),
    (7, 0): (2, 3, 2),
    (7, 1): (2, 4, 2),
    (7, 2): (2, 4, 9),
}


# Oracle's support for 6.1 ended in January 2024; older series get a warning.
OLDEST_MAINTAINED_VIRTUALBOX: tuple[int, int] = (7, 0)


VBOX_HOSTONLY_DEFAULT = ipaddress.IPv4Network("192.168.56.0/21")

# The Vagrantfile turns audio off with `--audio-enabled off`: `--audio none` is deprecated since
# VirtualBox 7.0.6, which brought --audio-enabled; older VirtualBox knows only --audio.
VBOX_AUDIO_ENABLED_SINCE: Version = (7, 0, 6)
# On macOS, VirtualBox 7 replaced host-only interfaces with host-only networks; Vagrant drives
# those (private networks) from 2.3.3 on, and they are not bound by networks.conf's ranges.
VBOX7_MACOS_VAGRANT_SINCE: Version = (2, 3, 3)


VBOX_HOSTONLY_RESTRICTED_SINCE: Version = (6, 1, 28)


def _virtualbox_pairing(plan: Plan, facts: HostFacts) -> Finding | None:
    vagrant = parse_version(facts.vagrant_version)
    vbox = parse_version(facts.virtualbox_version)
    if vagrant is None or vbox is None or len(vbox) < 2:
        return None
    series = (vbox[0], vbox[1])
    series_text = f"{series[0]}.{series[1]}"
    newest = max(VIRTUALBOX_SERIES_SINCE_VAGRANT)
    if series > newest:
        return Finding(
            "virtualbox-pairing",
            "warn",
            f"VirtualBox {series_text} is newer than any series labctl knows Vagrant's support "
            f"for (up to {newest[0]}.{newest[1]}); Vagrant {dotted(vagrant)} may refuse it",
            "if `vagrant up` says the VirtualBox version is not supported, upgrade Vagrant or "
            f"install VirtualBox {newest[0]}.{newest[1]}",
        )
    needed = VIRTUALBOX_SERIES_SINCE_VAGRANT.get(series)
    where = ""
    if needed is not None and _macos_host_only_networks(facts, vbox):
        needed, where = max(needed, VBOX7_MACOS_VAGRANT_SINCE), " on macOS (private networks)"
    if needed is not None and vagrant < needed:
        return Finding(
            "virtualbox-pairing",
            "fail",
            f"Vagrant {dotted(vagrant)} does not support VirtualBox {series_text}{where} "
            f"(support arrived in Vagrant {dotted(needed)})",
            f"upgrade Vagrant to {dotted(needed)} or newer, or install the newest VirtualBox "
            f"series Vagrant {dotted(vagrant)} supports ({_best_series(vagrant)})",
        )
    if vbox < VBOX_AUDIO_ENABLED_SINCE:
        return Finding(
            "virtualbox-pairing",
            "fail",
            f"VirtualBox {facts.virtualbox_version} does not know `modifyvm --audio-enabled`, "
            f"which labctl's Vagrantfile uses (VirtualBox {dotted(VBOX_AUDIO_ENABLED_SINCE)}+)",
            f"upgrade VirtualBox to {dotted(VBOX_AUDIO_ENABLED_SINCE)} or newer "
            "(and Vagrant if the pairing needs it)",
        )
    if series < OLDEST_MAINTAINED_VIRTUALBOX:
        return Finding(
            "virtualbox-pairing",
            "warn",
            f"VirtualBox {series_text} works with Vagrant {dotted(vagrant)} but is out of "
            "Oracle's support",
            "upgrade VirtualBox (and Vagrant if the pairing needs it)",
        )
    return Finding(
        "virtualbox-pairing",
        "ok",
        f"Vagrant {dotted(vagrant)} supports VirtualBox {facts.virtualbox_version}",
    )


def _macos_host_only_networks(facts: HostFacts, vbox: Version | None) -> bool:
    """VirtualBox 7+ on macOS: private networks are host-only networks, not interfaces."""
    return facts.system == "Darwin" and vbox is not None and vbox >= (7, 0)


def _best_series(vagrant: Version) -> str:
    supported = [s for s, since in VIRTUALBOX_SERIES_SINCE_VAGRANT.items() if vagrant >= since]
    best = max(supported) if supported else (5, 2)
    return f"{best[0]}.{best[1]}"


def _check_vbox_range(
    lab: ipaddress.IPv4Network, facts: HostFacts, fails: list[str], fixes: list[str]
) -> None:
    vbox = parse_version(facts.virtualbox_version)
    if vbox is not None and vbox < VBOX_HOSTONLY_RESTRICTED_SINCE:
        return
    if _macos_host_only_networks(facts, vbox):
        return  # host-only networks: Vagrant does not hold them to networks.conf's ranges
    if facts.vbox_networks_conf is None:
        allowed, source = [VBOX_HOSTONLY_DEFAULT], "VirtualBox's default, as there is no"
        fix = (
            f"create {VBOX_NETWORKS_CONF} (as root) with the line "
            f"`* {VBOX_HOSTONLY_DEFAULT} {lab}` (the file replaces the default range, so keep it)"
        )
    else:
        allowed, source = parse_networks_conf(facts.vbox_networks_conf), "as listed in"
        fix = f"add the line `* {lab}` to {VBOX_NETWORKS_CONF} (as root)"
    if any(lab.subnet_of(net) for net in allowed):
        return
    ranges = ", ".join(str(n) for n in allowed) or "no range"
    fails.append(
        f"VirtualBox allows host-only networks only in {ranges} ({source} "
        f"{VBOX_NETWORKS_CONF}), not {lab}"
    )
    fixes.append(f"{fix}, or use a `network.cidr` inside {ranges}")


def _provider(plan: Plan, facts: HostFacts) -> Finding | None:
    """VirtualBox's own software."""
    if facts.vboxmanage_path is None:
        return Finding(
            "provider",
            "fail",
            "VirtualBox is not installed (no `VBoxManage` on PATH, nor in VBOX_MSI_INSTALL_PATH)",
            "install VirtualBox from https://www.virtualbox.org/wiki/Downloads",
        )
    if facts.virtualbox_version is None:
        return Finding(
            "provider",
            "fail",
            "VBoxManage does not report a version: "
            + (facts.probe_error("virtualbox-version") or "unreadable output"),
            "run `VBoxManage --version`; reinstall VirtualBox or load its kernel modules "
            "(`sudo /sbin/vboxconfig`) if it complains",
        )
    return Finding("provider", "ok", f"VirtualBox {facts.virtualbox_version}")


def _cpu_virt(plan: Plan, facts: HostFacts) -> Finding:
    """VMs need VT-x/AMD-V."""
    arch = normalize_arch(facts.arch)
    if arch not in {"amd64", "386"}:
        return Finding(
            "cpu-virt",
            "ok",
            f"{arch} host: VirtualBox runs on the platform's hypervisor; no vmx/svm flags apply",
        )
    flags = facts.cpu_virt_flags
    if facts.hypervisor_present:
        return Finding(
            "cpu-virt",
            "warn",
            "Windows runs under a hypervisor (Hyper-V, WSL2, Windows Sandbox or Memory "
            "Integrity), which holds VT-x: VirtualBox then runs VMs slowly through it, or fails",
            "in an administrator prompt run `bcdedit /set hypervisorlaunchtype off` and "
            "reboot (WSL2 and Hyper-V stop until `bcdedit /set hypervisorlaunchtype auto`); "
            "turn Memory Integrity off in Windows Security > Device security > Core isolation",
        )
    if flags is None:
        return Finding(
            "cpu-virt",
            "warn",
            "could not read the CPU's virtualization flags (no /proc/cpuinfo)",
            f"make sure VT-x/AMD-V is on: {FIRMWARE_FIX}",
        )
    if not flags:
        return Finding(
            "cpu-virt",
            "fail",
            "the CPU advertises neither vmx (VT-x) nor svm (AMD-V); VirtualBox needs one",
            f"{FIRMWARE_FIX}; inside a VM, enable nested virtualization",
        )
    return Finding("cpu-virt", "ok", f"hardware virtualization: {', '.join(sorted(flags))}")


def _vboxmanage(*args: str) -> subprocess.CompletedProcess[str]:
    """`VBoxManage ARGS`, never raising: a missing binary or a hang is a non-zero return."""
    import subprocess  # noqa: PLC0415

    try:
        return subprocess.run(
            ["VBoxManage", *args], check=False, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["VBoxManage", *args], 127, "", str(exc))


def _vbox_description(uuid: str) -> str:
    from labctl.providers.vm_names import parse_vbox_description  # noqa: PLC0415

    return parse_vbox_description(_vboxmanage("showvminfo", uuid, "--machinereadable").stdout)
