"""The host side of an lxc lab's network: one bridge per lab, with NAT to the outside.

Design: each lab gets ONE host bridge (`lc-<lab>`), holding the host's address (.1 of the lab
CIDR). Every machine has a single NIC on it, named eth1 with its planned static address and .1
as its default gateway; the host MASQUERADEs the lab CIDR, so machines reach package mirrors
through the same bridge. There is no separate NAT bridge for eth0:

- vagrant-lxc's own networking (`private_network`) is broken with LXC 5, and its default eth0
  (lxcbr0 with DHCP) needs the lxc-net service; a second bridge would need a second address
  plan that must not collide across labs.
- vagrant-lxc only needs an address to SSH to: `lxc.ssh_ip_addr` gives it the eth1 address.
- eth1 keeps the name it has on VirtualBox and libvirt, so roles see the lab address on eth1
  everywhere (there is just no eth0 on lxc).

Everything labctl adds is tagged so removal finds exactly ours: the bridge carries the interface
alias `labctl:<lab>`, the iptables rules the comment `labctl:<lab>`. FORWARD accept rules are
inserted too, because hosts running Docker set the FORWARD policy to DROP. ip_forward is turned
on and left on (other bridges on the host may rely on it). All of it needs root.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import HostNetworkError
from labctl.providers.lxc._run import probe, require_root, run

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
IFNAME_MAX = 15  # Linux interface names: IFNAMSIZ 16 with the trailing NUL


def bridge_name(lab: str) -> str:
    """The host bridge of an lxc lab: `lc-<lab>`, with a digest when that exceeds 15 chars."""
    name = f"lc-{lab}"
    if len(name) <= IFNAME_MAX:
        return name
    return f"lc-{lab[:7]}-{hashlib.sha256(lab.encode()).hexdigest()[:4]}"


def tag(lab: str) -> str:
    """The marker on everything labctl adds to the host for `lab`."""
    return f"labctl:{lab}"


@dataclass(frozen=True)
class LabNetwork:
    """A lab's host bridge and its NAT, as planned from the lab name and CIDR."""

    lab: str
    cidr: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr, strict=False)

    @property
    def bridge(self) -> str:
        return bridge_name(self.lab)

    @property
    def gateway(self) -> str:
        """The host's address on the lab network (.1), every machine's default gateway."""
        return str(self.network.network_address + 1)

    @property
    def host_interface_address(self) -> str:
        return f"{self.gateway}/{self.network.prefixlen}"

    @property
    def tag(self) -> str:
        return tag(self.lab)

    def nat_rules(self) -> list[tuple[str, str, list[str]]]:
        """(table, chain, rule) for each iptables rule the lab needs, each tagged."""
        comment = ["-m", "comment", "--comment", self.tag]
        cidr = str(self.network)
        return [
            ("nat", "POSTROUTING", ["-s", cidr, "!", "-d", cidr, *comment, "-j", "MASQUERADE"]),
            ("filter", "FORWARD", ["-i", self.bridge, *comment, "-j", "ACCEPT"]),
            (
                "filter",
                "FORWARD",
                [
                    "-o",
                    self.bridge,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    *comment,
                    "-j",
                    "ACCEPT",
                ],
            ),
        ]


def rule_check_argv(table: str, chain: str, rule: list[str]) -> list[str]:
    return ["iptables", "-w", "-t", table, "-C", chain, *rule]


def rule_add_argv(table: str, chain: str, rule: list[str]) -> list[str]:
    # Insert at the top: a DROP policy or a Docker jump further down must not shadow ours.
    verb = ["-A", chain] if chain == "POSTROUTING" else ["-I", chain, "1"]
    return ["iptables", "-w", "-t", table, *verb, *rule]


def tagged_rule_deletions(table: str, listing: str, lab_tag: str) -> list[list[str]]:
    """`iptables -D` commands for the rules in an `iptables -S` listing that carry `lab_tag`."""
    deletions = []
    for line in listing.splitlines():
        words = shlex.split(line)
        if len(words) < 2 or words[0] != "-A":
            continue
        if any(a == "--comment" and b == lab_tag for a, b in itertools.pairwise(words)):
            deletions.append(["iptables", "-w", "-t", table, "-D", *words[1:]])
    return deletions


def addresses_in_use(
    ip_addr_json: str, network: ipaddress.IPv4Network, own_bridge: str
) -> list[str]:
    """Interfaces other than our bridge whose IPv4 addresses fall in `network` (a conflict)."""
    clashes = []
    for link in json.loads(ip_addr_json or "[]"):
        if link.get("ifname") == own_bridge:
            continue
        for info in link.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            if ipaddress.IPv4Address(info["local"]) in network:
                clashes.append(f"{link['ifname']} ({info['local']}/{info['prefixlen']})")
    return clashes


def _link_alias(name: str) -> str | None:
    """The alias of interface `name`, "" when it has none, None when it does not exist."""
    proc = _ip_json(["link", "show", "dev", name], allow_missing=True)
    if proc is None:
        return None
    return str(proc[0].get("ifalias", "")) if proc else ""


def _ip_json(args: list[str], *, allow_missing: bool = False) -> list[dict[str, object]] | None:
    proc = probe(["ip", "-j", *args])
    if proc.returncode != 0:
        if allow_missing and "does not exist" in proc.stderr:
            return None
        raise HostNetworkError(f"`ip -j {' '.join(args)}` failed: {proc.stderr.strip()}")
    data: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    return data


def ensure_lab_network(lab: str, cidr: str) -> LabNetwork:
    """Create the lab's bridge, its .1 address, ip_forward and the tagged NAT rules; idempotent."""
    require_root(f"setting up the network of lab {lab!r}")
    net = LabNetwork(lab, cidr)
    listing = run(["ip", "-j", "-4", "addr", "show"], error=HostNetworkError).stdout
    clashes = addresses_in_use(listing, net.network, net.bridge)
    if clashes:
        raise HostNetworkError(
            f"{net.network} is already used on this host by {', '.join(clashes)}",
            "pick another private /24 for network.cidr in lab.yaml",
        )
    alias = _link_alias(net.bridge)
    if alias is None:
        run(["ip", "link", "add", net.bridge, "type", "bridge"], error=HostNetworkError)
        run(["ip", "link", "set", "dev", net.bridge, "alias", net.tag], error=HostNetworkError)
    elif alias != net.tag:
        raise HostNetworkError(
            f"interface {net.bridge} exists but is not labctl's bridge for lab {lab!r}"
            f" (alias {alias!r})",
            f"remove it (`ip link del {net.bridge}`) or rename the lab",
        )
    addrs = _ip_json(["-4", "addr", "show", "dev", net.bridge]) or []
    present = {
        f"{a['local']}/{a['prefixlen']}"
        for link in addrs
        for a in link.get("addr_info", [])  # type: ignore[attr-defined]
    }
    if net.host_interface_address not in present:
        run(
            ["ip", "addr", "add", net.host_interface_address, "dev", net.bridge],
            error=HostNetworkError,
        )
    run(["ip", "link", "set", "dev", net.bridge, "up"], error=HostNetworkError)
    try:
        IP_FORWARD.write_text("1\n")
    except OSError as exc:
        raise HostNetworkError(
            f"could not turn on IPv4 forwarding ({IP_FORWARD}): {exc}",
            "run `sysctl -w net.ipv4.ip_forward=1` as root",
        ) from exc
    for table, chain, rule in net.nat_rules():
        check = rule_check_argv(table, chain, rule)
        if probe(check).returncode != 0:
            run(rule_add_argv(table, chain, rule), error=HostNetworkError)
    return net


def remove_lab_network(lab: str) -> None:
    """Remove the lab's bridge and every iptables rule tagged for it; nothing else. Idempotent."""
    require_root(f"removing the network of lab {lab!r}")
    lab_tag = tag(lab)
    for table in ("nat", "filter"):
        listing = run(["iptables", "-w", "-t", table, "-S"], error=HostNetworkError).stdout
        for argv in tagged_rule_deletions(table, listing, lab_tag):
            run(argv, error=HostNetworkError)
    name = bridge_name(lab)
    alias = _link_alias(name)
    if alias is None:
        return
    if alias != lab_tag:
        raise HostNetworkError(
            f"interface {name} is not labctl's bridge for lab {lab!r} (alias {alias!r});"
            " left it alone",
            f"remove it by hand if it is stale: `ip link del {name}`",
        )
    run(["ip", "link", "del", name], error=HostNetworkError)


def lab_network_present(lab: str) -> tuple[bool, int]:
    """(bridge exists, number of tagged iptables rules): what a teardown test checks."""
    exists = _link_alias(bridge_name(lab)) is not None
    count = 0
    for table in ("nat", "filter"):
        listing = run(["iptables", "-w", "-t", table, "-S"], error=HostNetworkError).stdout
        count += len(tagged_rule_deletions(table, listing, tag(lab)))
    return exists, count
