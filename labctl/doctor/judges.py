"""Doctor's judges (pure): the same plan and facts always give the same findings.

The rules every Vagrant lab shares live here; the provider adds its own (Provider.
preflight_rules) between the Vagrant checks and the host's memory, disk, network and boxes.
The rules that change with the world (which architectures a box is built for, how much disk a
machine takes) are tables at the top.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from labctl.doctor.findings import MIN_VAGRANT, Finding, Status
from labctl.doctor.parse import Version, dotted, normalize_arch, parse_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from labctl.doctor.facts import DiskSpace, HostFacts
    from labctl.plan import Plan

# Vagrant picks a box's architecture only from 2.4.0 on ("core: Add architecture support").
VAGRANT_BOX_ARCH_SINCE: Version = (2, 4, 0)


# Box -> architectures it is published for, per provider, where labctl knows for sure. Boxes
# not listed are assumed amd64 (nearly every public box is) and get a warning on other hosts.
# bento/ubuntu-24.04 is published for VirtualBox on amd64 and, since VirtualBox 7.1 runs arm64
# guests on Apple Silicon, on arm64 too (bento's 2025 builds, e.g. 202502.21.0); bento's libvirt
# builds are amd64 only; the roboxes generic/* boxes are x86_64 only.
KNOWN_BOX_ARCHES: dict[tuple[str, str], frozenset[str]] = {
    ("bento/ubuntu-24.04", "virtualbox"): frozenset({"amd64", "arm64"}),
    ("bento/ubuntu-24.04", "libvirt"): frozenset({"amd64"}),
    ("generic/ubuntu2204", "libvirt"): frozenset({"amd64"}),
}


# GitLab's machine takes this much more disk than a K3s machine: the omnibus package, its
# services and repositories.
GITLAB_EXTRA_MIB = 8192


# A finding warns when what is free is less than this many times what the lab needs.
DISK_HEADROOM = 1.5


# Memory: a VM reserves its memory, so the lab must fit in what is free; a warning when it
# leaves less than this share of the free memory to the host.
MEMORY_HEADROOM = 0.9


# Every id judge() can give, in the order it gives them: what `--skip-preflight` accepts.
FINDING_IDS: tuple[str, ...] = (
    "vagrant",
    "vagrant-version",
    "provider",
    "virtualbox-pairing",
    "libvirt",
    "lxc",
    "vagrant-lxc",
    "root",
    "cgroup",
    "cpu-virt",
    "libvirt-network",
    "memory",
    "disk",
    "network",
    "arch",
    "box",
    "controller",
)


def judge(plan: Plan, facts: HostFacts) -> list[Finding]:
    """Every finding for this plan on this host, in FINDING_IDS order.

    Only findings that concern the plan's provider are given (no `cgroup` for a VirtualBox lab),
    and one whose input is missing because another finding failed is left out (no
    `vagrant-version` without Vagrant), so each problem is reported once.
    """
    rules: list[Callable[[Plan, HostFacts], Finding | None]] = [
        _vagrant,
        _vagrant_version,
        *plan.provider.preflight_rules(),  # "provider", its own checks, then "cpu-virt"
        _memory,
        _disk,
        _network,
        _arch,
        _box,
        _controller,
    ]
    return [finding for rule in rules if (finding := rule(plan, facts)) is not None]


def _controller(plan: Plan, facts: HostFacts) -> Finding:
    """Where Ansible will run (lab.yaml's `controller:`), and why."""
    import sys  # noqa: PLC0415

    from labctl.plan import NO_ANSIBLE_PLATFORMS, resolve_controller  # noqa: PLC0415

    where, why = resolve_controller(plan.lab.controller, sys.platform)
    if where == "host" and sys.platform in NO_ANSIBLE_PLATFORMS:
        return Finding(
            "controller",
            "fail",
            f"Ansible cannot be the controller on {sys.platform}, and lab.yaml says "
            "controller: host",
            "set `controller: lab` (or leave it out: auto), or run labctl under WSL",
        )
    if where == "lab":
        return Finding("controller", "ok",
                       f"Ansible runs inside the lab, on {plan.primary.name} ({why})")  # fmt: skip
    return Finding("controller", "ok", f"Ansible runs on this host ({why})")


def _vagrant(plan: Plan, facts: HostFacts) -> Finding:
    if facts.vagrant_path is None:
        return Finding(
            "vagrant",
            "fail",
            "Vagrant is not installed (no `vagrant` on PATH)",
            "install Vagrant "
            f"{dotted(MIN_VAGRANT)} or newer: https://developer.hashicorp.com/vagrant/install "
            "(Debian/Ubuntu: `sudo apt install vagrant`)",
        )
    return Finding("vagrant", "ok", f"Vagrant found at {facts.vagrant_path}")


def _vagrant_version(plan: Plan, facts: HostFacts) -> Finding | None:
    if facts.vagrant_path is None:
        return None
    version = parse_version(facts.vagrant_version)
    if version is None:
        return Finding(
            "vagrant-version",
            "warn",
            "could not read Vagrant's version: "
            + (facts.probe_error("vagrant-version") or "no version in `vagrant --version`"),
            "run `vagrant --version` and check that Vagrant starts",
        )
    if version < MIN_VAGRANT:
        return Finding(
            "vagrant-version",
            "fail",
            f"Vagrant {dotted(version)} is older than the {dotted(MIN_VAGRANT)} the "
            "rendered Vagrantfile requires",
            "upgrade Vagrant: https://developer.hashicorp.com/vagrant/install",
        )
    return Finding("vagrant-version", "ok", f"Vagrant {dotted(version)}")


def _memory(plan: Plan, facts: HostFacts) -> Finding | None:
    if facts.remote_host is not None:
        return None  # the machines take the other host's memory: its provider judges that
    need = plan.total_memory_mib
    free = facts.free_memory_mib
    machines = f"{len(plan.machines)} machines"
    if free is None:
        return Finding(
            "memory",
            "warn",
            f"the lab takes {need} MiB ({machines}); this host does not say how much is free",
            "check free memory yourself (Activity Monitor, Task Manager)",
        )
    if plan.provider.machines_share_host_memory:
        # Container limits are ceilings, not reservations: idle machines use tens of MiB.
        status: Status = "warn" if need > free else "ok"
        return Finding(
            "memory",
            status,
            f"the lab's limits add up to {need} MiB ({machines}); {free} MiB free"
            + (
                "; machines share host memory, so the limits are ceilings" if status == "ok" else ""
            ),
            "" if status == "ok" else "lower memory in lab.yaml so the limits fit",
        )
    smaller = "use fewer agents or smaller `memory:` in lab.yaml, or free memory on the host"
    if need > free:
        return Finding(
            "memory",
            "fail",
            f"the lab needs {need} MiB ({machines}) but only {free} MiB is free",
            smaller,
        )
    if need > free * MEMORY_HEADROOM:
        return Finding(
            "memory",
            "warn",
            f"the lab needs {need} MiB of the {free} MiB free, leaving the host little",
            smaller,
        )
    return Finding("memory", "ok", f"the lab needs {need} MiB; {free} MiB free")


def disk_needs_mib(plan: Plan) -> dict[str, int]:
    """Estimated MiB per purpose ("boxes", "machines") for this plan (the provider's estimate)."""
    machine_mib, box_mib = plan.provider.disk_estimate_mib
    machines = len(plan.machines) * machine_mib
    if plan.gitlab is not None:
        machines += GITLAB_EXTRA_MIB
    return {"boxes": box_mib, "machines": machines}


def _disk(plan: Plan, facts: HostFacts) -> Finding:
    needs = disk_needs_mib(plan)
    if not facts.disks:
        return Finding(
            "disk",
            "warn",
            f"could not measure free disk; the lab takes about {sum(needs.values())} MiB",
            "check free space where Vagrant keeps boxes and machines",
        )
    by_device: dict[int, list[DiskSpace]] = {}
    for disk in facts.disks:
        by_device.setdefault(disk.device, []).append(disk)
    worst: Status = "ok"
    parts = []
    for disks in by_device.values():
        need = sum(needs.get(d.purpose, 0) for d in disks)
        free = min(d.free_mib for d in disks)
        where = " and ".join(f"{d.purpose} ({d.path})" for d in disks)
        if need > free:
            worst = "fail"
            parts.append(f"{where}: need ~{need} MiB, {free} MiB free")
        elif need * DISK_HEADROOM > free:
            worst = "warn" if worst == "ok" else worst
            parts.append(f"{where}: need ~{need} MiB, only {free} MiB free")
        else:
            parts.append(f"{where}: ~{need} MiB of {free} MiB free")
    fix = (
        ""
        if worst == "ok"
        else "free disk space (`vagrant box prune` removes old boxes) or move Vagrant's data "
        "(VAGRANT_HOME) to a larger disk"
    )
    return Finding("disk", worst, "; ".join(parts), fix)


def _own_interface(plan: Plan, dev: str) -> bool:
    return plan.network.bridge is not None and dev == plan.network.bridge


def _hypervisor_interface(plan: Plan, dev: str) -> bool:
    """An interface the lab's provider may have made for this very network on an earlier up."""
    prefixes = plan.provider.host_interface_prefixes
    return dev.startswith(prefixes) if prefixes else False


def _network(plan: Plan, facts: HostFacts) -> Finding:
    lab = ipaddress.IPv4Network(plan.network.cidr)
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    plan.provider.check_host_network(lab, facts, fails, fixes)
    if facts.routes is None:
        warns.append(
            "could not read the host's routes"
            + (f" ({facts.probe_error('routes')})" if facts.probe_error("routes") else "")
        )
    else:
        for route in facts.routes:
            net = ipaddress.IPv4Network(route.network)
            if net.prefixlen == 0 or not net.overlaps(lab) or _own_interface(plan, route.dev):
                continue
            if _hypervisor_interface(plan, route.dev) and net == lab:
                warns.append(
                    f"{route.dev} already routes {net}: fine if it is this lab's from an "
                    "earlier up, a clash if another lab uses these addresses"
                )
            elif net.prefixlen < lab.prefixlen:
                warns.append(
                    f"{lab} lies inside {net} routed via {route.dev}: hosts of {lab} there "
                    "become unreachable while the lab runs"
                )
            else:
                fails.append(f"{net} is already routed via {route.dev}")
    for addr in facts.addresses or ():
        if (
            ipaddress.IPv4Address(addr.address) in lab
            and not _own_interface(plan, addr.ifname)
            and not _hypervisor_interface(plan, addr.ifname)
            and not any(f"via {addr.ifname}" in text for text in fails)
        ):
            fails.append(f"{addr.ifname} holds {addr.address}/{addr.prefixlen}, inside {lab}")
    if fails:
        fixes.append(
            f"pick another private network for `network.cidr` in lab.yaml (one no interface "
            f"uses; `ip -4 route` lists them), or remove what uses {lab}"
        )
        return Finding("network", "fail", "; ".join(fails + warns), "; ".join(fixes))
    if warns:
        return Finding(
            "network",
            "warn",
            "; ".join(warns),
            "pick another `network.cidr` in lab.yaml if that is not intended",
        )
    return Finding("network", "ok", f"{lab} is free on this host")


def _arch(plan: Plan, facts: HostFacts) -> Finding:
    host = normalize_arch(facts.arch) or "unknown"
    box, provider = plan.box, plan.lab.provider
    installed = [b for b in facts.boxes or () if b.name == box and b.provider == provider]
    known = {normalize_arch(b.architecture) for b in installed if b.architecture}
    source = "the installed box"
    if not known and plan.provider.boxes_built_locally:
        return Finding(
            "arch", "ok", f"{host} host; {provider} boxes are built on this host, so they match it"
        )
    if not known and (box, provider) in KNOWN_BOX_ARCHES:
        known = set(KNOWN_BOX_ARCHES[(box, provider)])
        source = "labctl's table of boxes"
    fix_box = f"set `box:` in lab.yaml to a {provider} box built for {host}" + (
        f", with Vagrant {dotted(VAGRANT_BOX_ARCH_SINCE)}+ to pick it" if host != "amd64" else ""
    )
    if known and host not in known:
        return Finding(
            "arch",
            "fail",
            f"box {box} ({provider}) is built for {', '.join(sorted(a for a in known if a))} "
            f"({source}); this host is {host}",
            fix_box,
        )
    vagrant = parse_version(facts.vagrant_version)
    if host != "amd64" and vagrant is not None and vagrant < VAGRANT_BOX_ARCH_SINCE:
        return Finding(
            "arch",
            "warn",
            f"{host} host with Vagrant {dotted(vagrant)}: Vagrant before "
            f"{dotted(VAGRANT_BOX_ARCH_SINCE)} ignores box architectures and may fetch an "
            "amd64 build",
            f"upgrade Vagrant to {dotted(VAGRANT_BOX_ARCH_SINCE)}+",
        )
    if not known and host != "amd64":
        return Finding(
            "arch",
            "warn",
            f"labctl cannot tell which architectures box {box} is built for; this host is {host}",
            f"check the box's page on the Vagrant registry for a {host} build; else {fix_box}",
        )
    return Finding("arch", "ok", f"{host} host; box {box} ({provider}) fits")


def _box(plan: Plan, facts: HostFacts) -> Finding | None:
    if facts.vagrant_path is None:
        return None
    box, provider = plan.box, plan.lab.provider
    if facts.boxes is None:
        return Finding(
            "box",
            "warn",
            f"could not list Vagrant's boxes to look for {box}: "
            + facts.probe_error("vagrant-boxes"),
            "run `vagrant box list`",
        )
    versions = [b.version for b in facts.boxes if b.name == box and b.provider == provider]
    wanted = plan.lab.box_version
    if versions and (wanted is None or not _plain_version(wanted) or wanted in versions):
        return Finding(
            "box", "ok", f"box {box} ({provider}) is installed: {', '.join(sorted(versions))}"
        )
    label = f"box {box} ({provider}{', ' + wanted if wanted else ''})"
    if plan.provider.boxes_built_locally:
        return Finding(
            "box",
            "fail",
            f"{label} is not installed; {provider} boxes are built locally, not downloaded",
            plan.provider.local_box_fix(box),
        )
    return Finding(
        "box",
        "warn",
        f"{label} is not installed; it will be downloaded on the first `up`",
        f"download it now: `vagrant box add {box} --provider {provider}"
        + (f" --box-version '{wanted}'" if wanted else "")
        + "`",
    )


def _plain_version(text: str) -> bool:
    return re.fullmatch(r"\d+(\.\d+)*", text.strip()) is not None
