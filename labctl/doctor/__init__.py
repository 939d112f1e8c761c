"""`labctl doctor`: can this host run this lab? Facts are gathered once, then judged purely.

`gather_facts` is the edge: it runs host tools (argument lists, short timeouts, never a shell)
and reads /proc and /sys, and every probe is tolerant, because a missing tool is a fact to
report, not a crash. `judge` is pure: the same plan and facts always give the same findings, so
every rule is unit-tested on hand-built facts. `preflight` is what `labctl up` runs first: it
raises PreflightFailedError naming every failing check not skipped with `--skip-preflight ID`.

The rules that change with the world (which VirtualBox series each Vagrant release drives, which
architectures a box is built for, how much disk a machine takes) are tables at the top.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from labctl.doctor.host import free_memory_mib
from labctl.errors import PreflightFailedError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from labctl.plan import Plan

Status = Literal["ok", "warn", "fail"]
CgroupLayout = Literal["v1", "hybrid", "v2"]
Version = tuple[int, ...]

# --- what the world looks like (data, so a change of the world is a one-line change) -----------

# Vagrantfile.j2 says `Vagrant.require_version ">= 2.2.19"`.
MIN_VAGRANT: Version = (2, 2, 19)

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

# VirtualBox 6.1.28+ on Linux, macOS and Solaris only lets host-only networks use these ranges
# unless /etc/vbox/networks.conf lists others (the file then replaces the default).
VBOX_NETWORKS_CONF = Path("/etc/vbox/networks.conf")
VBOX_HOSTONLY_DEFAULT = ipaddress.IPv4Network("192.168.56.0/21")
VBOX_HOSTONLY_RESTRICTED_SINCE: Version = (6, 1, 28)

# What vagrant-lxc and the rendered lxc block need: the lxc.net.N keys (LXC 2.1), cgroup2 keys
# on a unified host (LXC 4.0).
MIN_LXC: Version = (2, 1)
MIN_LXC_CGROUP2: Version = (4, 0)
MIN_VAGRANT_LXC: Version = (1, 4)

# Vagrant picks a box's architecture only from 2.4.0 on ("core: Add architecture support").
VAGRANT_BOX_ARCH_SINCE: Version = (2, 4, 0)

# Box -> architectures it is published for, per provider, where labctl knows for sure. Boxes
# not listed are assumed amd64 (nearly every public box is) and get a warning on other hosts.
# bento/ubuntu-24.04's current versions ship amd64 only (its arm64 builds stopped at 202404.26.0
# and were for parallels/vmware); the roboxes generic/* boxes are x86_64 only.
KNOWN_BOX_ARCHES: dict[tuple[str, str], frozenset[str]] = {
    ("bento/ubuntu-24.04", "virtualbox"): frozenset({"amd64"}),
    ("generic/ubuntu2204", "libvirt"): frozenset({"amd64"}),
}

# platform.machine() and Vagrant spellings -> one name per architecture.
ARCH_ALIASES: dict[str, str] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv8": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class DiskEstimate:
    """Disk a lab takes, in MiB: the box once where Vagrant keeps boxes, then per machine."""

    box_mib: int
    machine_mib: int
    gitlab_extra_mib: int = 8192  # omnibus package, its services and repositories


# Estimates, not measurements of every box: a VM disk holds Ubuntu, K3s and its images and logs
# (linked clones/backing files share the box image); an lxc machine is a copied rootfs (~360 MB
# measured) plus K3s. The lxc box is ~85 MiB on disk once added.
DISK_ESTIMATES: dict[str, DiskEstimate] = {
    "virtualbox": DiskEstimate(box_mib=2048, machine_mib=4096),
    "libvirt": DiskEstimate(box_mib=2048, machine_mib=4096),
    "lxc": DiskEstimate(box_mib=512, machine_mib=1536),
}
# A finding warns when what is free is less than this many times what the lab needs.
DISK_HEADROOM = 1.5
# Memory: a VM reserves its memory, so the lab must fit in what is free; a warning when it
# leaves less than this share of the free memory to the host.
MEMORY_HEADROOM = 0.9

PROBE_TIMEOUT = 10.0  # seconds; Vagrant's Ruby start-up alone takes ~1 s
LIBVIRT_TIMEOUT = 8.0

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
    "memory",
    "disk",
    "network",
    "arch",
    "box",
)


# --- facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VagrantPlugin:
    """An installed Vagrant plugin (`vagrant plugin list`)."""

    name: str
    version: str


@dataclass(frozen=True)
class InstalledBox:
    """A box Vagrant has locally (`vagrant box list`); architecture only from Vagrant 2.4 on."""

    name: str
    provider: str
    version: str
    architecture: str | None = None


@dataclass(frozen=True)
class DiskSpace:
    """Free space where Vagrant will write: `purpose` is "boxes" or "machines".

    `path` is where the data goes; `measured_at` the nearest existing directory (the path itself
    may not exist yet); `device` tells two places on one file system apart from two on different
    ones, so their needs are added up only when they share a device.
    """

    purpose: str
    path: str
    measured_at: str
    free_mib: int
    device: int


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the host's main table (`ip -j route`)."""

    network: str
    dev: str


@dataclass(frozen=True)
class HostAddress:
    """One IPv4 address on a host interface (`ip -j addr`)."""

    ifname: str
    address: str
    prefixlen: int


@dataclass(frozen=True)
class HostFacts:
    """Everything doctor needs to know about the host, gathered once by `gather_facts`.

    None means "could not tell" (a tool missing, a probe failing or not run for this provider);
    `probe_errors` says why for the probes that failed, so a finding can quote the tool.
    """

    system: str
    arch: str
    euid: int | None
    vagrant_path: str | None
    vagrant_version: str | None
    vagrant_plugins: tuple[VagrantPlugin, ...] | None
    boxes: tuple[InstalledBox, ...] | None
    vboxmanage_path: str | None
    virtualbox_version: str | None
    virtualbox_machine_folder: str | None
    virsh_path: str | None
    libvirtd_path: str | None
    libvirt_reachable: bool | None
    lxc_create_path: str | None
    lxc_info_path: str | None
    lxc_version: str | None
    iptables_path: str | None
    sudo_nopasswd: bool | None
    cgroup_layout: CgroupLayout | None
    cgroup_controllers: frozenset[str]
    cpu_virt_flags: frozenset[str] | None
    kvm_device: bool
    free_memory_mib: int | None
    disks: tuple[DiskSpace, ...]
    vbox_networks_conf: str | None
    routes: tuple[Route, ...] | None
    addresses: tuple[HostAddress, ...] | None
    probe_errors: tuple[tuple[str, str], ...] = ()

    def probe_error(self, probe: str) -> str:
        """What went wrong with `probe` ("" when nothing did)."""
        return next((text for name, text in self.probe_errors if name == probe), "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (`labctl doctor -o json`)."""
        data = asdict(self)
        data["cgroup_controllers"] = sorted(self.cgroup_controllers)
        data["cpu_virt_flags"] = (
            None if self.cpu_virt_flags is None else sorted(self.cpu_virt_flags)
        )
        data["probe_errors"] = dict(self.probe_errors)
        return data


@dataclass(frozen=True)
class Finding:
    """One verdict about the host: a stable id, ok/warn/fail, what was seen, and what to do."""

    id: str
    status: Status
    message: str
    fix: str = ""


# --- parsing (pure) ------------------------------------------------------------------------------


def parse_version(text: str | None) -> Version | None:
    """The first dotted number in `text`: "Vagrant 2.3.4" -> (2, 3, 4); None when there is none."""
    if not text:
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def _dotted(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _machine_readable(text: str) -> list[tuple[str, str, str]]:
    """Vagrant's `--machine-readable` lines as (target, type, data), commas unescaped."""
    rows = []
    for line in text.splitlines():
        parts = line.split(",", 3)
        if len(parts) == 4:
            _, target, kind, data = parts
            rows.append((target, kind, data.replace("%!(VAGRANT_COMMA)", ",")))
    return rows


def parse_plugin_list(text: str) -> tuple[VagrantPlugin, ...]:
    """`vagrant plugin list`, machine-readable or plain ("vagrant-lxc (1.4.3, system)")."""
    rows = _machine_readable(text)
    if rows:
        names = [data for _, kind, data in rows if kind == "plugin-name"]
        versions = {target: data for target, kind, data in rows if kind == "plugin-version"}
        return tuple(
            VagrantPlugin(name, versions.get(name, "").split(",")[0].strip()) for name in names
        )
    plugins = []
    for line in text.splitlines():
        match = re.match(r"^(\S+) \(([^,)]+)", line.strip())
        if match:
            plugins.append(VagrantPlugin(match.group(1), match.group(2).strip()))
    return tuple(plugins)


def parse_box_list(text: str) -> tuple[InstalledBox, ...]:
    """`vagrant box list`, machine-readable or plain ("name (provider, version[, (arch)])")."""
    rows = _machine_readable(text)
    if rows:
        boxes: list[dict[str, str]] = []
        for _, kind, data in rows:
            if kind == "box-name":
                boxes.append({"name": data})
            elif kind.startswith("box-") and boxes:
                boxes[-1][kind.removeprefix("box-")] = data
        return tuple(
            InstalledBox(
                b["name"], b.get("provider", ""), b.get("version", ""), b.get("architecture")
            )
            for b in boxes
        )
    found = []
    for line in text.splitlines():
        match = re.match(r"^(\S+)\s+\(([^,)]+),\s*([^,)]+)(?:,\s*\(([^)]+)\))?", line.strip())
        if match:
            name, provider, version, arch = match.groups()
            found.append(InstalledBox(name, provider.strip(), version.strip(), arch))
    return tuple(found)


def parse_vboxmanage_version(text: str) -> str | None:
    """`VBoxManage --version` -> "7.0.14": the last version-looking line (warnings may precede)."""
    for line in reversed(text.splitlines()):
        match = re.match(r"^\s*(\d+\.\d+\.\d+)", line)
        if match:
            return match.group(1)
    return None


def parse_machine_folder(text: str) -> str | None:
    """The "Default machine folder:" of `VBoxManage list systemproperties`."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Default machine folder" and value.strip():
            return value.strip()
    return None


def parse_networks_conf(text: str) -> list[ipaddress.IPv4Network]:
    """The IPv4 ranges /etc/vbox/networks.conf allows: lines like `* 10.0.0.0/8 192.168.0.0/16`."""
    allowed = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "*":
            continue
        for word in words[1:]:
            try:
                network = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if isinstance(network, ipaddress.IPv4Network):
                allowed.append(network)
    return allowed


def parse_routes(ip_route_json: str) -> tuple[Route, ...]:
    """`ip -j route` -> IPv4 routes with an interface; the default route is kept as 0.0.0.0/0."""
    routes = []
    for entry in json.loads(ip_route_json or "[]"):
        dst, dev = entry.get("dst"), entry.get("dev")
        if not dst or not dev:
            continue
        text = "0.0.0.0/0" if dst == "default" else str(dst)
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network):
            routes.append(Route(str(network), str(dev)))
    return tuple(routes)


def parse_addresses(ip_addr_json: str) -> tuple[HostAddress, ...]:
    """`ip -j addr` -> every IPv4 address with its interface."""
    found = []
    for link in json.loads(ip_addr_json or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and "local" in info:
                found.append(
                    HostAddress(str(link.get("ifname", "")), info["local"], int(info["prefixlen"]))
                )
    return tuple(found)


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """Hardware virtualization flags (vmx: Intel VT-x, svm: AMD-V) found in /proc/cpuinfo."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags |= {"vmx", "svm"} & set(value.split())
    return frozenset(flags)


def cgroup_facts(root: Path = Path("/sys/fs/cgroup")) -> tuple[CgroupLayout | None, frozenset[str]]:
    """The cgroup layout and the controllers the rendered lxc limits can use.

    v2: cgroup2 at the root (cgroup.controllers there). hybrid: v1 controllers plus cgroup2 at
    unified/ (the lxc block then uses v1 keys). v1: controllers only. The controllers are those
    of the hierarchy the limits go to: cgroup.controllers on v2, the v1 mounts otherwise.
    """
    try:
        if (root / "cgroup.controllers").is_file():
            text = (root / "cgroup.controllers").read_text()
            return "v2", frozenset(text.split())
        if not root.is_dir():
            return None, frozenset()
        controllers = frozenset(
            part
            for entry in root.iterdir()
            if entry.is_dir() and entry.name not in {"unified", "systemd"}
            for part in entry.name.split(",")
        )
    except OSError:
        return None, frozenset()
    if (root / "unified" / "cgroup.controllers").exists():
        return "hybrid", controllers
    return ("v1", controllers) if controllers else (None, controllers)


def normalize_arch(name: str | None) -> str | None:
    """ "x86_64"/"amd64" -> "amd64", "aarch64"/"arm64" -> "arm64"; unknown names pass through."""
    if not name:
        return None
    return ARCH_ALIASES.get(name, ARCH_ALIASES.get(name.lower(), name.lower()))


# --- the edge: gathering -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Output:
    ok: bool
    stdout: str
    error: str


def _run(argv: list[str], timeout: float = PROBE_TIMEOUT) -> _Output:
    """Run a probe; never raises: a missing tool, a timeout or a non-zero exit is an answer."""
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except FileNotFoundError:
        return _Output(ok=False, stdout="", error=f"{argv[0]} is not installed")
    except subprocess.TimeoutExpired:
        return _Output(False, "", f"`{' '.join(argv)}` gave no answer within {timeout:g} s")
    except OSError as exc:
        return _Output(False, "", f"`{' '.join(argv)}` could not run: {exc}")
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        tail = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        return _Output(False, proc.stdout, f"`{' '.join(argv)}` failed: {tail}")
    return _Output(True, proc.stdout, "")


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


def _machines_dir(provider: str, machine_folder: str | None) -> Path:
    if provider == "virtualbox":
        return Path(machine_folder) if machine_folder else Path.home() / "VirtualBox VMs"
    if provider == "libvirt":
        return Path("/var/lib/libvirt/images")  # the `default` storage pool vagrant-libvirt uses
    return Path("/var/lib/lxc")  # where vagrant-lxc puts containers


def gather_facts(plan: Plan) -> HostFacts:
    """Probe the host once for everything `judge` needs; slow probes run side by side.

    libvirtd is only asked (`virsh -c qemu:///system version`) for a libvirt lab, because an
    answer can take seconds; everything else is probed whatever the provider, so `labctl doctor`
    shows the whole host.
    """
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only doctor needs threads

    provider = plan.lab.provider
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
            "sudo",
            "ip",
        )
    }
    errors: dict[str, str] = {}
    probes: dict[str, tuple[list[str], float]] = {}
    if which["vagrant"]:
        probes["vagrant-version"] = (["vagrant", "--version"], PROBE_TIMEOUT)
        probes["vagrant-plugins"] = (
            ["vagrant", "plugin", "list", "--machine-readable"],
            PROBE_TIMEOUT,
        )
        probes["vagrant-boxes"] = (["vagrant", "box", "list", "--machine-readable"], PROBE_TIMEOUT)
    if which["VBoxManage"]:
        probes["virtualbox-version"] = (["VBoxManage", "--version"], PROBE_TIMEOUT)
        probes["virtualbox-properties"] = (
            ["VBoxManage", "list", "systemproperties"],
            PROBE_TIMEOUT,
        )
    if which["virsh"] and provider == "libvirt":
        probes["libvirt"] = (["virsh", "-c", "qemu:///system", "version"], LIBVIRT_TIMEOUT)
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
    disks = [
        _disk_space("boxes", _vagrant_home() / "boxes"),
        _disk_space("machines", _machines_dir(provider, machine_folder)),
    ]
    cpuinfo = _read(Path("/proc/cpuinfo"))
    layout, controllers = cgroup_facts()
    try:
        euid: int | None = os.geteuid()
    except AttributeError:  # Windows has no euid
        euid = None
    libvirt = out.get("libvirt")
    return HostFacts(
        system=platform.system(),
        arch=platform.machine(),
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
        lxc_create_path=which["lxc-create"],
        lxc_info_path=which["lxc-info"],
        lxc_version=answer("lxc-version", lambda s: _version_text(parse_version(s))),
        iptables_path=which["iptables"] or _existing("/usr/sbin/iptables"),
        sudo_nopasswd=None if "sudo" not in out else out["sudo"].ok,
        cgroup_layout=layout,
        cgroup_controllers=controllers,
        cpu_virt_flags=None if cpuinfo is None else parse_cpu_flags(cpuinfo),
        kvm_device=Path("/dev/kvm").exists(),
        free_memory_mib=free_memory_mib(),
        disks=tuple(d for d in disks if d is not None),
        vbox_networks_conf=_read(VBOX_NETWORKS_CONF),
        routes=answer("routes", parse_routes),
        addresses=answer("addresses", parse_addresses),
        probe_errors=tuple(sorted(errors.items())),
    )


def _version_text(version: Version | None) -> str | None:
    return None if version is None else _dotted(version)


def _existing(path: str) -> str | None:
    """Tools root runs from /usr/sbin, which a user's PATH may lack."""
    return path if Path(path).exists() else None


# --- judging (pure) ------------------------------------------------------------------------------


def judge(plan: Plan, facts: HostFacts) -> list[Finding]:
    """Every finding for this plan on this host, in FINDING_IDS order.

    Only findings that concern the plan's provider are given (no `cgroup` for a VirtualBox lab),
    and one whose input is missing because another finding failed is left out (no
    `vagrant-version` without Vagrant), so each problem is reported once.
    """
    provider = plan.lab.provider
    rules: list[Callable[[Plan, HostFacts], Finding | None]] = [
        _vagrant,
        _vagrant_version,
        _provider,
    ]
    if provider == "virtualbox":
        rules.append(_virtualbox_pairing)
    elif provider == "libvirt":
        rules.append(_libvirt)
    else:
        rules += [_lxc, _vagrant_lxc, _root, _cgroup]
    rules += [_cpu_virt, _memory, _disk, _network, _arch, _box]
    return [finding for rule in rules if (finding := rule(plan, facts)) is not None]


def _vagrant(plan: Plan, facts: HostFacts) -> Finding:
    if facts.vagrant_path is None:
        return Finding(
            "vagrant",
            "fail",
            "Vagrant is not installed (no `vagrant` on PATH)",
            "install Vagrant "
            f"{_dotted(MIN_VAGRANT)} or newer: https://developer.hashicorp.com/vagrant/install "
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
            f"Vagrant {_dotted(version)} is older than the {_dotted(MIN_VAGRANT)} the "
            "rendered Vagrantfile requires",
            "upgrade Vagrant: https://developer.hashicorp.com/vagrant/install",
        )
    return Finding("vagrant-version", "ok", f"Vagrant {_dotted(version)}")


def _plugin(facts: HostFacts, name: str) -> VagrantPlugin | None:
    return next((p for p in facts.vagrant_plugins or () if p.name == name), None)


def _provider(plan: Plan, facts: HostFacts) -> Finding | None:
    """The provider's own software: VirtualBox; libvirt's plugin; Linux for lxc."""
    provider = plan.lab.provider
    if provider == "virtualbox":
        if facts.vboxmanage_path is None:
            return Finding(
                "provider",
                "fail",
                "VirtualBox is not installed (no `VBoxManage` on PATH)",
                "install VirtualBox from https://www.virtualbox.org/wiki/Downloads, or set "
                "`provider: libvirt` (Linux with KVM) or `provider: lxc` (Linux) in lab.yaml",
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
    if facts.system not in {"Linux", ""}:
        return Finding(
            "provider",
            "fail",
            f"provider {provider} runs on Linux only; this host runs {facts.system}",
            "set `provider: virtualbox` in lab.yaml",
        )
    if provider == "libvirt":
        return _plugin_finding(
            "provider", facts, "vagrant-libvirt", "sudo apt install vagrant-libvirt", None
        )
    return Finding("provider", "ok", f"lxc labs run on this {facts.system} host")


def _plugin_finding(
    finding_id: str,
    facts: HostFacts,
    name: str,
    apt: str,
    minimum: Version | None,
) -> Finding | None:
    if facts.vagrant_path is None:
        return None
    if facts.vagrant_plugins is None:
        return Finding(
            finding_id,
            "warn",
            f"could not list Vagrant plugins to look for {name}: "
            + facts.probe_error("vagrant-plugins"),
            "run `vagrant plugin list`",
        )
    plugin = _plugin(facts, name)
    install = f"`vagrant plugin install {name}` (Debian/Ubuntu: `{apt}`)"
    if plugin is None:
        return Finding(finding_id, "fail", f"the Vagrant plugin {name} is not installed", install)
    version = parse_version(plugin.version)
    if minimum is not None and version is not None and version < minimum:
        return Finding(
            finding_id,
            "fail",
            f"{name} {plugin.version} is older than the {_dotted(minimum)} labctl needs",
            f"`vagrant plugin update {name}`",
        )
    return Finding(finding_id, "ok", f"{name} {plugin.version or '(version unknown)'}")


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
            f"for (up to {newest[0]}.{newest[1]}); Vagrant {_dotted(vagrant)} may refuse it",
            "if `vagrant up` says the VirtualBox version is not supported, upgrade Vagrant or "
            f"install VirtualBox {newest[0]}.{newest[1]}",
        )
    needed = VIRTUALBOX_SERIES_SINCE_VAGRANT.get(series)
    if needed is not None and vagrant < needed:
        return Finding(
            "virtualbox-pairing",
            "fail",
            f"Vagrant {_dotted(vagrant)} does not support VirtualBox {series_text} "
            f"(support arrived in Vagrant {_dotted(needed)})",
            f"upgrade Vagrant to {_dotted(needed)} or newer, or install the newest VirtualBox "
            f"series Vagrant {_dotted(vagrant)} supports ({_best_series(vagrant)})",
        )
    if series < OLDEST_MAINTAINED_VIRTUALBOX:
        return Finding(
            "virtualbox-pairing",
            "warn",
            f"VirtualBox {series_text} works with Vagrant {_dotted(vagrant)} but is out of "
            "Oracle's support",
            "upgrade VirtualBox (and Vagrant if the pairing needs it)",
        )
    return Finding(
        "virtualbox-pairing",
        "ok",
        f"Vagrant {_dotted(vagrant)} supports VirtualBox {facts.virtualbox_version}",
    )


def _best_series(vagrant: Version) -> str:
    supported = [s for s, since in VIRTUALBOX_SERIES_SINCE_VAGRANT.items() if vagrant >= since]
    best = max(supported) if supported else (5, 2)
    return f"{best[0]}.{best[1]}"


def _libvirt(plan: Plan, facts: HostFacts) -> Finding:
    if facts.virsh_path is None:
        return Finding(
            "libvirt",
            "fail",
            "libvirt's client `virsh` is not installed"
            + ("" if facts.libvirtd_path else ", nor the libvirtd daemon"),
            "`sudo apt install libvirt-daemon-system libvirt-clients qemu-system-x86`",
        )
    if facts.libvirt_reachable is None:
        return Finding("libvirt", "warn", "libvirtd was not asked (not a libvirt lab)", "")
    if not facts.libvirt_reachable:
        return Finding(
            "libvirt",
            "fail",
            "libvirtd does not answer at qemu:///system: " + facts.probe_error("libvirt"),
            "start libvirtd (`sudo systemctl enable --now libvirtd`) and add yourself to the "
            "libvirt group (`sudo adduser $USER libvirt`, then log in again)",
        )
    return Finding("libvirt", "ok", "libvirtd answers at qemu:///system")


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
            f"LXC {_dotted(version)} is older than {_dotted(MIN_LXC)}, which the lxc.net.* "
            "keys of the rendered Vagrantfile need",
            "upgrade LXC (Debian 12 ships 5.0)",
        )
    return Finding("lxc", "ok", f"LXC {_dotted(version)}, lxc-create, lxc-info and iptables found")


def _vagrant_lxc(plan: Plan, facts: HostFacts) -> Finding | None:
    return _plugin_finding(
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
            f"cgroup v2 needs LXC {_dotted(MIN_LXC_CGROUP2)}+ for the cgroup2.* keys; "
            f"this host has LXC {_dotted(lxc)}",
            "upgrade LXC, or boot with `systemd.unified_cgroup_hierarchy=0`",
        )
    return Finding("cgroup", "ok", f"cgroup {layout}; machine limits use {keys}")


FIRMWARE_FIX = "turn on Intel VT-x / AMD-V (SVM) in the firmware setup"


def _cpu_virt(plan: Plan, facts: HostFacts) -> Finding:
    """VMs need VT-x/AMD-V (VirtualBox) or /dev/kvm (libvirt); lxc machines need neither."""
    provider = plan.lab.provider
    if provider == "lxc":
        return Finding("cpu-virt", "ok", "not needed: lxc machines are containers, not VMs")
    if provider == "libvirt":
        return _kvm(facts)
    arch = normalize_arch(facts.arch)
    if arch not in {"amd64", "386"}:
        return Finding(
            "cpu-virt",
            "ok",
            f"{arch} host: VirtualBox runs on the platform's hypervisor; no vmx/svm flags apply",
        )
    flags = facts.cpu_virt_flags
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
            f"{FIRMWARE_FIX}; inside a VM, enable nested virtualization, or use `provider: lxc`",
        )
    return Finding("cpu-virt", "ok", f"hardware virtualization: {', '.join(sorted(flags))}")


def _kvm(facts: HostFacts) -> Finding:
    """The libvirt lab renders `lv.driver = "kvm"`: it needs /dev/kvm, and real VT-x/AMD-V."""
    if not facts.kvm_device:
        return Finding(
            "cpu-virt",
            "fail",
            "/dev/kvm is missing: the libvirt lab runs on KVM (lv.driver = kvm)",
            f"{FIRMWARE_FIX}, then load kvm_intel or kvm_amd (`sudo modprobe kvm_intel`)",
        )
    x86 = normalize_arch(facts.arch) in {"amd64", "386"}
    if x86 and facts.cpu_virt_flags is not None and not facts.cpu_virt_flags:
        return Finding(
            "cpu-virt",
            "warn",
            "/dev/kvm exists but the CPU advertises neither vmx nor svm (a VM without nested "
            "virtualization): KVM guests may crawl or hang",
            "enable nested virtualization on the outer hypervisor, or use `provider: lxc`",
        )
    return Finding("cpu-virt", "ok", "/dev/kvm present")


def _memory(plan: Plan, facts: HostFacts) -> Finding:
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
    if plan.lab.provider == "lxc":
        # lxc limits are ceilings, not reservations: idle machines use tens of MiB.
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
    """Estimated MiB per purpose ("boxes", "machines") for this plan (DISK_ESTIMATES)."""
    estimate = DISK_ESTIMATES[plan.lab.provider]
    machines = len(plan.machines) * estimate.machine_mib
    if plan.gitlab is not None:
        machines += estimate.gitlab_extra_mib
    return {"boxes": estimate.box_mib, "machines": machines}


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
    prefixes = {"virtualbox": ("vboxnet",), "libvirt": ("virbr",)}.get(plan.lab.provider, ())
    return dev.startswith(prefixes) if prefixes else False


def _network(plan: Plan, facts: HostFacts) -> Finding:
    lab = ipaddress.IPv4Network(plan.network.cidr)
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    if plan.lab.provider == "virtualbox" and facts.system != "Windows":
        _check_vbox_range(lab, facts, fails, fixes)
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


def _check_vbox_range(
    lab: ipaddress.IPv4Network, facts: HostFacts, fails: list[str], fixes: list[str]
) -> None:
    vbox = parse_version(facts.virtualbox_version)
    if vbox is not None and vbox < VBOX_HOSTONLY_RESTRICTED_SINCE:
        return
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


def _arch(plan: Plan, facts: HostFacts) -> Finding:
    host = normalize_arch(facts.arch) or "unknown"
    box, provider = plan.box, plan.lab.provider
    installed = [b for b in facts.boxes or () if b.name == box and b.provider == provider]
    known = {normalize_arch(b.architecture) for b in installed if b.architecture}
    source = "the installed box"
    if not known and provider == "lxc":
        return Finding(
            "arch", "ok", f"{host} host; lxc boxes are built on this host, so they match it"
        )
    if not known and (box, provider) in KNOWN_BOX_ARCHES:
        known = set(KNOWN_BOX_ARCHES[(box, provider)])
        source = "labctl's table of boxes"
    fix_box = f"set `box:` in lab.yaml to a {provider} box built for {host}" + (
        f", with Vagrant {_dotted(VAGRANT_BOX_ARCH_SINCE)}+ to pick it" if host != "amd64" else ""
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
            f"{host} host with Vagrant {_dotted(vagrant)}: Vagrant before "
            f"{_dotted(VAGRANT_BOX_ARCH_SINCE)} ignores box architectures and may fetch an "
            "amd64 build",
            f"upgrade Vagrant to {_dotted(VAGRANT_BOX_ARCH_SINCE)}+",
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
    if provider == "lxc":
        return Finding(
            "box",
            "fail",
            f"{label} is not installed; lxc boxes are built locally, not downloaded",
            _lxc_box_fix(box),
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


def _lxc_box_fix(box: str) -> str:
    match = re.fullmatch(r"labctl/([a-z]+)-([a-z]+)", box)
    if match:
        distro, release = match.groups()
        return f"`sudo labctl box build --provider lxc --distro {distro} --release {release}`"
    return f"add it: `vagrant box add --name {box} --provider lxc FILE.box`"


# --- preflight -----------------------------------------------------------------------------------


def preflight(plan: Plan, facts: HostFacts, skip: Collection[str] = ()) -> list[Finding]:
    """Judge the host for `up`: return every finding, or raise if any not skipped failed.

    Raises UsageError for a skip id that names no check (a typo must not silently skip
    nothing), and PreflightFailedError listing every failing finding not in `skip`.
    """
    unknown = sorted(set(skip) - set(FINDING_IDS))
    if unknown:
        raise UsageError(
            f"--skip-preflight: no check named {', '.join(repr(u) for u in unknown)}",
            f"the checks are: {', '.join(FINDING_IDS)}",
        )
    findings = judge(plan, facts)
    failed = {f.id: _line(f) for f in findings if f.status == "fail" and f.id not in skip}
    if failed:
        example = next(iter(failed))
        raise PreflightFailedError(
            failed,
            "fix what each line says, or skip a check you accept with "
            f"`--skip-preflight ID` (e.g. `--skip-preflight {example}`)",
        )
    return findings


def _line(finding: Finding) -> str:
    return f"{finding.message} (fix: {finding.fix})" if finding.fix else finding.message


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """The findings with status fail, in order."""
    return [f for f in findings if f.status == "fail"]
