"""Preflight of an existing machine (`provider: ssh`): one probe over SSH, judged purely.

PROBE is one POSIX sh script, sent on stdin to `sh -s` so the login shell (bash, zsh, fish)
does not matter. It prints delimited sections (`@@labctl begin NAME` ... `@@labctl end NAME RC`)
and never stops early: a missing tool is a section with status 127, so `parse_probe` (pure)
always gets something and `judge_machine` (pure) says what to fix, machine by machine.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.doctor.findings import Finding
from labctl.doctor.parse import normalize_arch
from labctl.errors import SshError
from labctl.spec.model import Agents, GitLab, Servers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.checks.runner import Executor
    from labctl.tools.ssh import SshTarget

# Every id judge_machine gives, in its order (the provider adds its own "host-key" and "reach").
MACHINE_FINDING_IDS: tuple[str, ...] = ("os", "arch", "sudo", "memory", "ports", "node-ip")

# The command PROBE is fed to; stdin, not `sh -c '...'`, so no quoting and any login shell.
PROBE_COMMAND = "sh -s"
PROBE_TIMEOUT = 30.0

# sbin is appended because a non-root login on Debian has no /usr/sbin on PATH (ip lives
# there). Every command reads /dev/null: the script itself arrives on stdin. `section` leaves
# the status in $rc; ss runs through sudo when `sudo -n true` worked, because without it ss
# names only the login user's own processes.
PROBE = r"""PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; LC_ALL=C; export PATH LC_ALL
section() {
  name=$1; shift
  echo "@@labctl begin $name"
  "$@" </dev/null 2>&1
  rc=$?
  echo; echo "@@labctl end $name $rc"
}
missing() { echo "@@labctl begin $1"; echo "$2: command not found"; echo "@@labctl end $1 127"; }
has() { command -v "$1" >/dev/null 2>&1; }
section user id -un
section system uname -s
section machine uname -m
if [ -r /etc/os-release ]; then section os-release cat /etc/os-release
else section os-release cat /usr/lib/os-release; fi
section meminfo grep '^MemTotal:' /proc/meminfo
rc=127
if has sudo; then section sudo sudo -n true; else missing sudo sudo; fi
if ! has ss; then missing listening ss
elif [ "$rc" = 0 ]; then section listening-sudo sudo -n "$(command -v ss)" -H -ltnup
else section listening ss -H -ltnup; fi
if has ip; then
  section addresses ip -o -4 addr show
  section vxlan ip -d -o link show type vxlan
else missing addresses ip; missing vxlan ip; fi
section gitlab-nginx test -x /opt/gitlab/embedded/sbin/nginx
exit 0
"""

_MARK = re.compile(r"^@@labctl (begin|end) (\S+)(?: (\d+))?$")
_USERS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')
_INET = re.compile(r"^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)/(\d+)\s")
_LINK = re.compile(r"^\d+:\s+([^:@\s]+)")
_DSTPORT = re.compile(r"\bdstport (\d+)\b")


@dataclass(frozen=True)
class Listener:
    """One listening socket as `ss -H -ltnup` prints it; `owners` are (process, pid)."""

    proto: str  # "tcp" or "udp"
    address: str
    port: int
    owners: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Address:
    """One IPv4 address of the machine, from `ip -o -4 addr show`."""

    interface: str
    ip: str
    prefix: int


@dataclass(frozen=True)
class MachineFacts:
    """What the probe saw on one machine. A fact it could not get is None (or empty) and its
    `*_error` says why, in the tool's own words."""

    user: str = ""
    system: str = ""  # uname -s
    machine: str = ""  # uname -m
    os_id: str = ""
    os_version_id: str = ""
    os_name: str = ""
    os_error: str = ""
    sudo_ok: bool = False
    sudo_error: str = ""
    mem_total_kib: int | None = None
    mem_error: str = ""
    listeners: tuple[Listener, ...] | None = None
    listeners_error: str = ""
    owners_shown: bool = False  # ss ran through sudo, so every process is named
    addresses: tuple[Address, ...] | None = None
    addresses_error: str = ""
    vxlan_ports: tuple[tuple[str, int], ...] = ()  # (device, dstport)
    gitlab_nginx: bool = False  # GitLab's omnibus nginx, from an earlier `labctl up`


@dataclass(frozen=True)
class _Section:
    text: str
    status: int


def _sections(text: str) -> dict[str, _Section]:
    found: dict[str, _Section] = {}
    name, lines = "", list[str]()
    for line in text.splitlines():
        mark = _MARK.match(line)
        if mark and mark[1] == "begin":
            name, lines = mark[2], []
        elif mark and mark[2] == name and mark[3] is not None:
            found[name] = _Section("\n".join(lines).strip(), int(mark[3]))
            name = ""
        elif name:
            lines.append(line)
    return found


def _last_line(section: _Section | None, fallback: str) -> str:
    if section is None:
        return "the probe printed nothing for it"
    lines = [line for line in section.text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else fallback


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values quoted as in a shell."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.isidentifier():
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        fields[key] = " ".join(words)
    return fields


def parse_listeners(text: str) -> tuple[Listener, ...]:
    """`ss -H -ltnup` lines: Netid State Recv-Q Send-Q Local:Port Peer:Port [users:((...))]."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in {"tcp", "udp"}:
            continue
        host, _, port = fields[4].rpartition(":")
        if not port.isdigit():
            continue
        owners = tuple((m[1], int(m[2])) for m in _USERS.finditer(line))
        address = host.strip("[]").split("%")[0]
        found.append(Listener(fields[0], address, int(port), owners))
    return tuple(found)


def parse_addresses(text: str) -> tuple[Address, ...]:
    """`ip -o -4 addr show` lines: `2: eth0    inet 10.0.0.21/24 brd ... scope global eth0\\`."""
    return tuple(
        Address(m[1], m[2], int(m[3]))
        for line in text.splitlines()
        if (m := _INET.match(line.strip() + " "))
    )


def parse_vxlan(text: str) -> tuple[tuple[str, int], ...]:
    """`ip -d -o link show type vxlan`: each VXLAN device and the UDP port it holds."""
    return tuple(
        (name[1], int(port[1]))
        for line in text.splitlines()
        if (name := _LINK.match(line)) and (port := _DSTPORT.search(line))
    )


def parse_probe(text: str) -> MachineFacts:
    """The facts in PROBE's output; a section missing or failed leaves its fact unknown."""
    got = _sections(text)

    def ok(name: str) -> str | None:
        section = got.get(name)
        return section.text if section is not None and section.status == 0 else None

    def why(name: str, known: object) -> str:
        return "" if known else _last_line(got.get(name), "it printed nothing")

    release = parse_os_release(ok("os-release") or "")
    meminfo = (ok("meminfo") or "").split()
    mem = int(meminfo[1]) if len(meminfo) >= 2 and meminfo[1].isdigit() else None
    via_sudo = ok("listening-sudo")
    listing = via_sudo if via_sudo is not None else ok("listening")
    addresses = ok("addresses")
    return MachineFacts(
        user=(ok("user") or "").strip(),
        system=(ok("system") or "").strip(),
        machine=(ok("machine") or "").strip(),
        os_id=release.get("ID", "").lower(),
        os_version_id=release.get("VERSION_ID", ""),
        os_name=release.get("PRETTY_NAME") or release.get("NAME", ""),
        os_error=why("os-release", release),
        sudo_ok=ok("sudo") is not None,
        sudo_error=why("sudo", ok("sudo") is not None),
        mem_total_kib=mem,
        mem_error=why("meminfo", mem is not None),
        listeners=None if listing is None else parse_listeners(listing),
        listeners_error=why("listening-sudo" if "listening-sudo" in got else "listening", listing),
        owners_shown=via_sudo is not None,
        addresses=None if addresses is None else parse_addresses(addresses),
        addresses_error=why("addresses", addresses is not None),
        vxlan_ports=parse_vxlan(ok("vxlan") or ""),
        gitlab_nginx=ok("gitlab-nginx") is not None,
    )


def probe(run: Executor, target: SshTarget, timeout: float = PROBE_TIMEOUT) -> MachineFacts:
    """Run PROBE on one machine and parse it. Raises SshError (the connection's own, or one
    saying the probe printed nothing labctl understands, e.g. no `sh` there)."""
    result = run.run(target, PROBE_COMMAND, timeout, stdin=PROBE)
    if not _sections(result.stdout):
        said = (result.stderr or result.stdout).strip().splitlines()
        raise SshError(
            f"{target.name}: the preflight probe printed nothing labctl understands (exit "
            f"{result.exit_status}): {said[-1] if said else 'no output'}",
            hint=f"labctl needs a POSIX `sh` there; try `ssh {target.user}@{target.host} sh -s "
            "</dev/null` to see what the login does",
        )
    return parse_probe(result.stdout)


# ---- judges (pure) ---------------------------------------------------------------------------

# (os-release ID, VERSION_ID) pairs labctl's playbooks are tested on.
SUPPORTED_OS = frozenset({("ubuntu", "22.04"), ("ubuntu", "24.04"), ("debian", "12")})
_SUPPORTED = "Ubuntu 22.04, Ubuntu 24.04 or Debian 12"
_REINSTALL = f"install {_SUPPORTED} (64-bit) on it, or use another machine"

# The spec's own minimums and words, so lab.yaml and preflight never disagree.
_POOLS: Mapping[str, type[Servers | Agents | GitLab]] = {"server": Servers, "agent": Agents,
                                                         "gitlab": GitLab}  # fmt: skip
MIN_MEMORY_MIB: Mapping[str, int] = {role: pool.min_memory_mib for role, pool in _POOLS.items()}
_ROLE_LABEL = {role: pool.role_label for role, pool in _POOLS.items()}

# MemTotal is the RAM the kernel manages, never the RAM fitted: firmware holes and the kernel
# image (tens of MiB), its page structs (~1.4 % of RAM on 64-bit kernels, per linux-mm.org's
# "WhereDidMyMemoryGo"), and on a Raspberry Pi the GPU's share (gpu_mem, 76 MiB by default on
# 1 GiB boards, per the Raspberry Pi config.txt documentation). A 1 GiB Pi reports about
# 949328 kB (927 MiB; eidottermihi/rpicheck#107), a 1024 MB VirtualBox VM 1004584 kB (981 MiB).
# So a machine counts as having N MiB when its MemTotal is within 128 MiB + 2 % of N.
MEMORY_SLACK_MIB = 128
MEMORY_SLACK_SHARE = 0.02


def memory_floor_mib(minimum_mib: int) -> int:
    """The least MemTotal (MiB) a machine sold as `minimum_mib` of RAM reports."""
    return minimum_mib - MEMORY_SLACK_MIB - int(minimum_mib * MEMORY_SLACK_SHARE)


# What each role must be able to bind. K3s binds these on every address, so a listener on any
# address clashes. GitLab's omnibus serves external_url http://node_ip on 80; its other
# listeners are unix sockets or localhost ports its own package owns, and 22 is the machine's
# sshd, which GitLab's SSH access shares on purpose.
PORTS: Mapping[str, tuple[tuple[int, str], ...]] = {
    "server": ((6443, "tcp"), (10250, "tcp"), (8472, "udp")),
    "agent": ((10250, "tcp"), (8472, "udp")),
    "gitlab": ((80, "tcp"),),
}
ETCD_PORTS = ((2379, "tcp"), (2380, "tcp"))  # embedded etcd (HA servers): clients, peers
# Flannel's VXLAN device: the kernel holds 8472/udp for it, so ss shows no process.
FLANNEL_VXLAN = "flannel.1"


def judge_machine(
    name: str, role: str, node_ip: str, facts: MachineFacts, *, etcd: bool = False
) -> list[Finding]:
    """Every finding for one machine in MACHINE_FINDING_IDS order; each names the machine.
    `etcd`: the lab's servers run embedded etcd, so a server needs its ports free too."""
    return [
        _os(name, facts),
        _arch(name, facts),
        _sudo(name, facts),
        _memory(name, role, facts),
        _ports(name, role, facts, etcd=etcd),
        _node_ip(name, node_ip, facts),
    ]


def _os(name: str, facts: MachineFacts) -> Finding:
    if not facts.os_id:
        if facts.system and facts.system != "Linux":
            return Finding("os", "fail", f"{name} runs {facts.system}, not Linux", _REINSTALL)
        return Finding(
            "os", "fail", f"{name}: could not read /etc/os-release ({facts.os_error})", _REINSTALL
        )
    seen = facts.os_name or f"{facts.os_id} {facts.os_version_id}".strip()
    if (facts.os_id, facts.os_version_id) in SUPPORTED_OS:
        return Finding("os", "ok", f"{name} runs {seen}")
    fix = _REINSTALL
    if facts.os_id == "ubuntu":
        fix = "upgrade to Ubuntu 24.04 LTS (`sudo do-release-upgrade`) or " + _REINSTALL
    elif facts.os_id == "debian":
        fix = "move it to Debian 12 (bookworm), or " + _REINSTALL
    return Finding("os", "fail", f"{name} runs {seen}; labctl supports {_SUPPORTED}", fix)


def _arch(name: str, facts: MachineFacts) -> Finding:
    arch = normalize_arch(facts.machine)
    if arch in {"amd64", "arm64"}:
        return Finding("arch", "ok", f"{name} is {facts.machine} (K3s's {arch} build)")
    if arch == "arm":
        return Finding(
            "arch",
            "fail",
            f"{name} runs a 32-bit ARM system ({facts.machine}): K3s has an armhf build, but "
            "labctl supports amd64 and arm64 only",
            "install a 64-bit (arm64) system, e.g. Ubuntu 24.04 or Raspberry Pi OS 64-bit "
            "(Debian 12); a Raspberry Pi 3, 4, 5 or Zero 2 W can run one",
        )
    seen = facts.machine or "of an unknown architecture (`uname -m` printed nothing)"
    supported = "labctl supports amd64 (x86_64) and arm64 (aarch64)"
    return Finding(
        "arch", "fail", f"{name} is {seen}; {supported}", "use an amd64 or arm64 machine"
    )


def _sudo(name: str, facts: MachineFacts) -> Finding:
    user = facts.user or "the login user"
    if facts.sudo_ok:
        return Finding("sudo", "ok", f"{name}: {user} may use sudo without a password")
    rule = (
        f"add `{facts.user or '<user>'} ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/labctl with "
        "`sudo visudo -f /etc/sudoers.d/labctl`"
    )
    if facts.sudo_error.endswith("command not found"):
        # root may sudo without a password once sudo is there (Debian's sudoers: root ALL).
        install = "as root: `apt-get install sudo`" + ("" if user == "root" else f", then {rule}")
        return Finding("sudo", "fail", f"{name}: sudo is not installed", install)
    said = f"`sudo -n true` said: {facts.sudo_error}"
    return Finding("sudo", "fail", f"{name}: {user} needs a password for sudo ({said})", rule)


def _memory(name: str, role: str, facts: MachineFacts) -> Finding:
    need = MIN_MEMORY_MIB[role]
    if facts.mem_total_kib is None:
        return Finding(
            "memory",
            "fail",
            f"{name}: could not read MemTotal from /proc/meminfo ({facts.mem_error})",
            "labctl needs Linux's /proc/meminfo; " + _REINSTALL,
        )
    have = facts.mem_total_kib // 1024
    if have >= memory_floor_mib(need):
        kept = " (the kernel keeps some for itself)" if have < need else ""
        enough = f"{_ROLE_LABEL[role]} needs {need} MiB"
        return Finding("memory", "ok", f"{name}: {have} MiB of memory{kept}; {enough}")
    fix = f"give it at least {need} MiB of RAM"
    if role == "server" and have >= memory_floor_mib(MIN_MEMORY_MIB["agent"]):
        fix += ", or make it an agent (role: agent, which needs 512 MiB)"
    return Finding(
        "memory",
        "fail",
        f"{name}: {have} MiB of memory (MemTotal) is below the {need} MiB "
        f"{_ROLE_LABEL[role]} needs",
        fix,
    )


def _held_by_lab(role: str, port: int, proto: str, sock: Listener, facts: MachineFacts) -> bool:
    """Whether labctl's own earlier install holds the socket (K3s, its flannel, GitLab)."""
    if role == "gitlab":
        names = {owner for owner, _ in sock.owners}
        return facts.gitlab_nginx and names == {"nginx"}
    if sock.owners:
        return all(owner.startswith("k3s") for owner, _ in sock.owners)
    return (proto, port) == ("udp", 8472) and (FLANNEL_VXLAN, port) in facts.vxlan_ports


def _holder(port: int, proto: str, sock: Listener, facts: MachineFacts) -> str:
    if sock.owners:
        return ", ".join(sorted({f"{owner} (pid {pid})" for owner, pid in sock.owners}))
    devices = [dev for dev, dport in facts.vxlan_ports if dport == port and proto == "udp"]
    if devices:
        return f"the VXLAN device {devices[0]}"
    if not facts.owners_shown:
        return "a process ss cannot name without sudo"
    return "a kernel socket (no process)"


def _ports(name: str, role: str, facts: MachineFacts, *, etcd: bool) -> Finding:
    wanted = PORTS[role] + (ETCD_PORTS if etcd and role == "server" else ())
    listed = ", ".join(f"{port}/{proto}" for port, proto in wanted)
    if facts.listeners is None:
        return Finding(
            "ports",
            "fail",
            f"{name}: could not list listening sockets to check {listed} ({facts.listeners_error})",
            "install iproute2, which has `ss` (`sudo apt-get install iproute2`)",
        )
    taken: dict[str, str] = {}  # "6443/tcp" -> who holds it
    ours: dict[str, None] = {}
    for port, proto in wanted:
        for sock in facts.listeners:
            if (sock.port, sock.proto) != (port, proto):
                continue
            if _held_by_lab(role, port, proto, sock, facts):
                ours[f"{port}/{proto}"] = None
            else:
                taken.setdefault(f"{port}/{proto}", _holder(port, proto, sock, facts))
    if taken:
        held = "; ".join(f"{port} is held by {who}" for port, who in taken.items())
        return Finding(
            "ports",
            "fail",
            f"{name}: {held}; {_ROLE_LABEL[role]} needs {listed} free",
            "stop the process holding "
            + "; ".join(f"{port} ({who})" for port, who in taken.items())
            + ", e.g. `sudo systemctl disable --now <its unit>` (`sudo ss -ltnup` shows it), "
            "or use another machine",
        )
    if ours:
        return Finding(
            "ports",
            "ok",
            f"{name}: {listed} free or held by labctl's earlier install ({', '.join(ours)})",
        )
    return Finding("ports", "ok", f"{name}: {listed} free")


_NOT_NODE_IFACES = ("lo", "flannel", "cni", "docker", "veth", "kube")


def _ip(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _candidates(facts: MachineFacts) -> list[str]:
    """The machine's addresses another machine could reach it at."""
    return [
        a.ip
        for a in facts.addresses or ()
        if not a.interface.startswith(_NOT_NODE_IFACES)
        and (ip := _ip(a.ip)) is not None
        and not ip.is_loopback
        and not ip.is_link_local
    ]


def _node_ip(name: str, node_ip: str, facts: MachineFacts) -> Finding:
    if facts.addresses is None:
        return Finding(
            "node-ip",
            "fail",
            f"{name}: could not list its IPv4 addresses to find node_ip {node_ip} "
            f"({facts.addresses_error})",
            "install iproute2, which has `ip` (`sudo apt-get install iproute2`)",
        )
    wanted = _ip(node_ip)
    match = next((a for a in facts.addresses if a.ip == node_ip), None)
    if match is not None and wanted is not None and not wanted.is_loopback:
        return Finding("node-ip", "ok", f"{name} has node_ip {node_ip} (on {match.interface})")
    candidates = _candidates(facts)
    if match is not None:
        problem = f"{name}: node_ip {node_ip} is a loopback address other machines cannot reach"
    else:
        problem = f"{name} has no address {node_ip} (it has {', '.join(candidates) or 'none'})"
        if wanted is not None and wanted.is_global and candidates:
            problem += "; a cloud machine's public address is NAT in front of it"
    if not candidates:
        return Finding(
            "node-ip", "fail", problem, "give the machine an IPv4 address on the lab's network"
        )
    return Finding(
        "node-ip",
        "fail",
        problem,
        f"set `node_ip:` of {name} to one of {', '.join(candidates)} in lab.yaml",
    )
