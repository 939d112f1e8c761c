"""Parsers of host tools' output for doctor (pure: text in, values out)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Literal

from labctl.doctor.facts import HostAddress, InstalledBox, LibvirtNetwork, Route, VagrantPlugin

CgroupLayout = Literal["v1", "hybrid", "v2"]


Version = tuple[int, ...]


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


def parse_version(text: str | None) -> Version | None:
    """The first dotted number in `text`: "Vagrant 2.3.4" -> (2, 3, 4); None when there is none."""
    if not text:
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def dotted(version: Version) -> str:
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
                b["name"],
                b.get("provider", ""),
                b.get("version", ""),
                _box_arch(b.get("architecture")),
            )
            for b in boxes
        )
    found = []
    for line in text.splitlines():
        match = re.match(r"^(\S+)\s+\(([^,)]+),\s*([^,)]+)(?:,\s*\(([^)]+)\))?", line.strip())
        if match:
            name, provider, version, arch = match.groups()
            found.append(InstalledBox(name, provider.strip(), version.strip(), _box_arch(arch)))
    return tuple(found)


def _box_arch(text: str | None) -> str | None:
    """A box's architecture, or None when unknown: Vagrant 2.4+ prints `n/a` for boxes added
    from a file or before 2.4 (labctl's own `box build`, offline bundles), which fit any host
    as far as Vagrant knows."""
    if text is None or text.strip().lower() in {"", "n/a", "unknown"}:
        return None
    return text.strip()


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


def parse_libvirt_networks(dumps: str) -> tuple[LibvirtNetwork, ...]:
    """Networks from `virsh net-dumpxml` documents printed one after another."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - only for libvirt labs

    networks = []
    for chunk in dumps.split("</network>")[:-1]:
        try:
            root = ET.fromstring(chunk[chunk.index("<network") :] + "</network>")  # noqa: S314
        except ET.ParseError as exc:  # a SyntaxError: doctor's probes expect ValueError
            raise ValueError(f"not libvirt network XML: {exc}") from None
        bridge = root.find("bridge")
        cidr = None
        for ip in root.findall("ip"):
            address, family = ip.get("address"), ip.get("family", "ipv4")
            if address is None or family != "ipv4":
                continue
            mask = ip.get("netmask") or ip.get("prefix") or "24"
            cidr = str(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
            break
        networks.append(
            LibvirtNetwork(
                name=root.findtext("name") or "?",
                bridge=None if bridge is None else bridge.get("name"),
                cidr=cidr,
            )
        )
    return tuple(networks)


def parse_hypervisor_present(text: str) -> bool | None:
    """`(Get-CimInstance Win32_ComputerSystem).HypervisorPresent` -> True/False (pure)."""
    answer = text.strip().lower()
    return {"true": True, "false": False}.get(answer)


def parse_nodeinfo_cpus(text: str) -> int:
    """`virsh nodeinfo` -> its "CPU(s):" count."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "CPU(s)":
            return int(value)
    raise ValueError("no CPU(s) line")


def parse_nodememstats_free_mib(text: str) -> int:
    """`virsh nodememstats` (`free   :  123 KiB` lines) -> MiB a new VM can take: free plus
    buffers and cached, which the kernel gives back (libvirt reads them from /proc/meminfo)."""
    kib = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if len(words) == 2 and words[1] == "KiB":
            kib[key.strip()] = int(words[0])
    if "free" not in kib:
        raise ValueError("no free memory line")
    return sum(kib.get(k, 0) for k in ("free", "buffers", "cached")) // 1024


def parse_kvm_offered(capabilities_xml: str) -> bool:
    """`virsh capabilities` -> whether libvirt offers KVM guests (a <domain type='kvm'>)."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - only for remote libvirt labs

    try:
        root = ET.fromstring(capabilities_xml)  # noqa: S314 - libvirtd's own answer
    except ET.ParseError as exc:
        raise ValueError(f"not libvirt capabilities XML: {exc}") from None
    return any(d.get("type") == "kvm" for d in root.iterfind("guest/arch/domain"))
