"""The pure part of the lab network: names, addresses, tagged NAT rules and their removal."""

from __future__ import annotations

import ipaddress
import json

import pytest

from labctl.errors import NotRootError
from labctl.providers.lxc import _run, network


def test_bridge_name_fits_the_15_character_interface_limit() -> None:
    assert network.bridge_name("demo") == "lc-demo"
    long_a = network.bridge_name("a-very-long-lab-name")
    long_b = network.bridge_name("a-very-long-lab-nam2")
    assert len(long_a) <= 15
    assert long_a != long_b
    assert long_a.startswith("lc-a-very")


def test_gateway_is_dot_one_of_the_lab_cidr() -> None:
    net = network.LabNetwork("demo", "192.168.56.0/24")
    assert net.gateway == "192.168.56.1"
    assert net.host_interface_address == "192.168.56.1/24"


def test_every_rule_is_tagged_and_masquerade_covers_only_traffic_leaving_the_lab() -> None:
    net = network.LabNetwork("demo", "192.168.56.0/24")
    rules = net.nat_rules()
    assert all("labctl:demo" in rule for _, _, rule in rules)
    nat = [rule for table, chain, rule in rules if (table, chain) == ("nat", "POSTROUTING")]
    assert nat == [
        [
            "-s",
            "192.168.56.0/24",
            "!",
            "-d",
            "192.168.56.0/24",
            "-m",
            "comment",
            "--comment",
            "labctl:demo",
            "-j",
            "MASQUERADE",
        ]
    ]


def test_forward_rules_are_inserted_first_so_a_drop_policy_cannot_shadow_them() -> None:
    assert network.rule_add_argv("filter", "FORWARD", ["-j", "ACCEPT"])[4:7] == [
        "-I",
        "FORWARD",
        "1",
    ]
    assert network.rule_add_argv("nat", "POSTROUTING", ["-j", "MASQUERADE"])[4:6] == [
        "-A",
        "POSTROUTING",
    ]


LISTING = (
    "-P POSTROUTING ACCEPT\n"
    "-A POSTROUTING -s 10.201.56.0/24 ! -d 10.201.56.0/24 -j MASQUERADE\n"
    "-A POSTROUTING -s 192.168.56.0/24 ! -d 192.168.56.0/24 -m comment --comment"
    ' "labctl:demo" -j MASQUERADE\n'
    "-A POSTROUTING -s 192.168.57.0/24 ! -d 192.168.57.0/24 -m comment --comment"
    ' "labctl:demo2" -j MASQUERADE\n'
)


def test_removal_deletes_exactly_the_rules_tagged_for_the_lab() -> None:
    deletions = network.tagged_rule_deletions("nat", LISTING, "labctl:demo")
    assert deletions == [
        [
            "iptables",
            "-w",
            "-t",
            "nat",
            "-D",
            "POSTROUTING",
            "-s",
            "192.168.56.0/24",
            "!",
            "-d",
            "192.168.56.0/24",
            "-m",
            "comment",
            "--comment",
            "labctl:demo",
            "-j",
            "MASQUERADE",
        ]
    ]
    assert network.tagged_rule_deletions("nat", LISTING, "labctl:other") == []


def test_an_address_of_the_lab_cidr_on_another_interface_is_a_conflict() -> None:
    links = [
        {
            "ifname": "eth0",
            "addr_info": [{"family": "inet", "local": "192.168.56.5", "prefixlen": 24}],
        },
        {
            "ifname": "lc-demo",
            "addr_info": [{"family": "inet", "local": "192.168.56.1", "prefixlen": 24}],
        },
        {"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.0.0.2", "prefixlen": 8}]},
    ]
    clashes = network.addresses_in_use(
        json.dumps(links), ipaddress.IPv4Network("192.168.56.0/24"), "lc-demo"
    )
    assert clashes == ["eth0 (192.168.56.5/24)"]


def test_changing_the_host_network_without_root_fails_with_a_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_run.os, "geteuid", lambda: 1000)
    with pytest.raises(NotRootError) as caught:
        network.ensure_lab_network("demo", "192.168.56.0/24")
    assert "needs root" in caught.value.message
    assert "sudo" in caught.value.hint
    assert caught.value.exit_code == 3


def test_a_failing_host_command_raises_with_its_stderr_tail() -> None:
    from labctl.errors import HostNetworkError

    with pytest.raises(HostNetworkError) as caught:
        _run.run(
            ["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3"],
            error=HostNetworkError,
        )
    assert "exit code 3" in caught.value.message
    assert caught.value.message.endswith("first\nthe real reason")
