"""Preflight for lxc labs: LXC itself, vagrant-lxc, root (labctl makes the bridge and NAT) and
cgroups that can limit each machine. No hardware virtualization is needed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labctl.doctor.findings import Finding, find_plugin, linux_only, plugin_finding
from labctl.doctor.parse import Version, dotted, parse_version

if TYPE_CHECKING:
    from labctl.doctor import HostFacts
    from labctl.plan import Plan

# What vagrant-lxc and the rendered lxc block need: the lxc.net.N keys (LXC 2.1), cgroup2 keys
# on a unified host (LXC 4.0).
MIN_LXC: Version = (2, 1)


MIN_LXC_CGROUP2: Version = (4, 0)


MIN_VAGRANT_LXC: Version = (1, 4)


def _lxc(plan: Plan, facts: HostFacts) -> Finding:
    missing = [
        tool
        for tool, path in (
            ("lxc-create", facts.lxc_create_path),
            ("lxc-info", facts.lxc_info_path),
            ("iptables", facts.iptables_path),
        )
        if path is None
    ]
    if missing:
        packages = ["lxc"] if any(t.startswith("lxc") for t in missing) else []
        packages += ["iptables"] if "iptables" in missing else []
        return Finding(
            "lxc",
            "fail",
            f"{', '.join(missing)} not installed (LXC runs the machines; iptables NATs the "
            "lab network)",
            f"`sudo apt install {' '.join(packages)}`",
        )
    version = parse_version(facts.lxc_version)
    if version is None:
        return Finding(
            "lxc",
            "warn",
            "could not read LXC's version: "
            + (facts.probe_error("lxc-version") or "no version in `lxc-create --version`"),
            "run `lxc-create --version`",
        )
    if version < MIN_LXC:
        return Finding(
            "lxc",
            "fail",
            f"LXC {dotted(version)} is older than {dotted(MIN_LXC)}, which the lxc.net.* "
            "keys of the rendered Vagrantfile need",
            "upgrade LXC (Debian 12 ships 5.0)",
        )
    return Finding("lxc", "ok", f"LXC {dotted(version)}, lxc-create, lxc-info and iptables found")


def _vagrant_lxc(plan: Plan, facts: HostFacts) -> Finding | None:
    return plugin_finding(
        "vagrant-lxc", facts, "vagrant-lxc", "sudo apt install vagrant-lxc", MIN_VAGRANT_LXC
    )


def _root(plan: Plan, facts: HostFacts) -> Finding:
    """lxc needs root: labctl creates the lab bridge and NAT rules, vagrant-lxc runs lxc-*."""
    if facts.euid == 0:
        return Finding("root", "ok", "running as root (bridge, NAT rules and containers)")
    sudo = {
        True: "passwordless sudo works",
        False: "sudo asks for a password",
        None: "sudo is not installed",
    }[facts.sudo_nopasswd]
    return Finding(
        "root",
        "fail",
        f"not running as root: labctl creates the lab bridge {plan.network.bridge} and its NAT "
        f"rules itself, which needs root, and vagrant-lxc runs lxc-* through sudo ({sudo})",
        "run labctl as root: `sudo labctl up` (vagrant-lxc's own sudo rules, from "
        "`vagrant lxc sudoers`, are not enough for the bridge)",
    )


def _cgroup(plan: Plan, facts: HostFacts) -> Finding:
    layout = facts.cgroup_layout
    if layout is None:
        return Finding(
            "cgroup",
            "fail",
            "no cgroup hierarchy found under /sys/fs/cgroup; LXC cannot limit machines",
            "mount cgroups (systemd does at boot; else `mount -t cgroup2 none /sys/fs/cgroup`)",
        )
    keys = "cgroup2.memory.max/cpu.max" if layout == "v2" else "cgroup.memory/cpu (v1)"
    missing = sorted({"memory", "cpu"} - facts.cgroup_controllers)
    if missing:
        return Finding(
            "cgroup",
            "fail",
            f"cgroup {layout}: the {', '.join(missing)} controller is not available, and "
            f"each machine's limits ({keys}) need it",
            "enable the controller (kernel command line `cgroup_enable=memory`, or on v2 add "
            "it to cgroup.subtree_control)",
        )
    lxc = parse_version(facts.lxc_version)
    if layout == "v2" and lxc is not None and lxc < MIN_LXC_CGROUP2:
        return Finding(
            "cgroup",
            "fail",
            f"cgroup v2 needs LXC {dotted(MIN_LXC_CGROUP2)}+ for the cgroup2.* keys; "
            f"this host has LXC {dotted(lxc)}",
            "upgrade LXC, or boot with `systemd.unified_cgroup_hierarchy=0`",
        )
    return Finding("cgroup", "ok", f"cgroup {layout}; machine limits use {keys}")


def lxc_box_fix(box: str) -> str:
    match = re.fullmatch(r"labctl/([a-z]+)-([a-z]+)", box)
    if match:
        distro, release = match.groups()
        return f"`sudo labctl box build --provider lxc --distro {distro} --release {release}`"
    return f"add it: `vagrant box add --name {box} --provider lxc FILE.box`"


def provider_finding(plan: Plan, facts: HostFacts) -> Finding | None:
    return linux_only(plan.lab.provider, facts) or Finding(
        "provider", "ok", f"lxc labs run on this {facts.system} host"
    )


def cpu_virt(plan: Plan, facts: HostFacts) -> Finding:
    return Finding("cpu-virt", "ok", "not needed: lxc machines are containers, not VMs")


def setup_on(facts: HostFacts, box: str) -> str | None:
    """lxc works on a Linux host whose cgroups can limit memory and CPU; what is missing is
    Debian/Ubuntu packages and the locally built box."""
    if facts.system not in {"Linux", ""}:
        return None
    if facts.cgroup_layout is None or not {"memory", "cpu"} <= facts.cgroup_controllers:
        return None
    packages = []
    if facts.vagrant_path is None:
        packages.append("vagrant")
    if facts.vagrant_path is None or find_plugin(facts, "vagrant-lxc") is None:
        packages.append("vagrant-lxc")
    if facts.lxc_create_path is None or facts.lxc_info_path is None:
        packages.append("lxc")
    if facts.iptables_path is None:
        packages.append("iptables")
    if facts.brctl_path is None:
        packages.append("bridge-utils")  # vagrant-lxc calls brctl
    box_installed = any(b.name == box and b.provider == "lxc" for b in facts.boxes or ())
    if not box_installed and facts.debootstrap_path is None:
        packages.append("debootstrap")  # `labctl box build` makes the rootfs with it
    steps = []
    if packages:
        steps.append(f"sudo apt install {' '.join(packages)}")
    if not box_installed:
        steps.append(lxc_box_fix(box).strip("`"))
    return ", then ".join(f"`{s}`" for s in steps)


RULES = (provider_finding, _lxc, _vagrant_lxc, _root, _cgroup, cpu_virt)
