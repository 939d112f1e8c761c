"""VirtualBox's preflight rules (labctl.doctor judges the host with them): which Vagrant drives
which VirtualBox series, the host-only ranges VirtualBox allows, VT-x/AMD-V. Loaded only for
preflight and doctor, so that other commands do not load labctl.doctor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.doctor.findings import FIRMWARE_FIX, Finding
from labctl.doctor.gather import VBOX_NETWORKS_CONF
from labctl.doctor.parse import dotted, normalize_arch, parse_version

if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Sequence

    from labctl.doctor import HostFacts
    from labctl.doctor.parse import Version
    from labctl.plan import Plan


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


# The Vagrantfile turns audio off with `--audio-enabled off`: `--audio none` is deprecated since
# VirtualBox 7.0.6, which brought --audio-enabled; older VirtualBox knows only --audio.
VBOX_AUDIO_ENABLED_SINCE: Version = (7, 0, 6)
# On macOS, VirtualBox 7 replaced host-only interfaces with host-only networks; Vagrant drives
# those (private networks) from 2.3.3 on, and they are not bound by networks.conf's ranges.
VBOX7_MACOS_VAGRANT_SINCE: Version = (2, 3, 3)


VBOX_HOSTONLY_RESTRICTED_SINCE: Version = (6, 1, 28)


def virtualbox_pairing(plan: Plan, facts: HostFacts) -> Finding | None:
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


def check_vbox_range(
    lab: ipaddress.IPv4Network,
    facts: HostFacts,
    allowed: Sequence[ipaddress.IPv4Network],
    fails: list[str],
    fixes: list[str],
) -> None:
    """`allowed`: the host-only ranges VirtualBox allows here (VirtualBox.fleet_ranges)."""
    vbox = parse_version(facts.virtualbox_version)
    if vbox is not None and vbox < VBOX_HOSTONLY_RESTRICTED_SINCE:
        return
    if _macos_host_only_networks(facts, vbox):
        return  # host-only networks: Vagrant does not hold them to networks.conf's ranges
    if facts.vbox_networks_conf is None:
        source = "VirtualBox's default, as there is no"
        default = " ".join(str(net) for net in allowed)
        fix = (
            f"create {VBOX_NETWORKS_CONF} (as root) with the line "
            f"`* {default} {lab}` (the file replaces the default range, so keep it)"
        )
    else:
        source = "as listed in"
        fix = f"add the line `* {lab}` to {VBOX_NETWORKS_CONF} (as root)"
    if any(lab.subnet_of(net) for net in allowed):
        return
    ranges = ", ".join(str(n) for n in allowed) or "no range"
    fails.append(
        f"VirtualBox allows host-only networks only in {ranges} ({source} "
        f"{VBOX_NETWORKS_CONF}), not {lab}"
    )
    fixes.append(f"{fix}, or use a `network.cidr` inside {ranges}")


def provider_rule(plan: Plan, facts: HostFacts) -> Finding | None:
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


def cpu_virt(plan: Plan, facts: HostFacts) -> Finding:
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
