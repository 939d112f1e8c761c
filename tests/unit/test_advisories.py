"""Warnings on valid specs: etcd quorum, VirtualBox's host-only range, host RAM."""

from __future__ import annotations

from labctl import registry
from labctl.spec.advisories import advisories
from labctl.spec.loader import parse_lab


def warnings(text: str, free: int | None = 64 * 1024) -> list[str]:
    loaded = parse_lab(text, "lab.yaml")
    own = registry.get(loaded.lab.provider).spec_warnings(loaded.lab)
    return [str(w) for w in advisories(loaded, free, own)]


def test_a_plain_lab_has_no_warnings() -> None:
    assert warnings("name: demo\n") == []


def test_two_servers_warn_about_etcd_quorum_at_the_count() -> None:
    (line,) = warnings("name: demo\nservers:\n  count: 2\n")
    assert line.startswith("lab.yaml:3:10: servers.count: 2 servers")
    assert "use 1 or 3" in line


def test_cidr_outside_virtualbox_range_names_networks_conf() -> None:
    (line,) = warnings("name: demo\nnetwork: {cidr: 10.10.0.0/24}\n")
    assert "/etc/vbox/networks.conf" in line
    assert warnings("name: demo\nprovider: libvirt\nnetwork: {cidr: 10.10.0.0/24}\n") == []
    assert warnings("name: demo\nnetwork: {cidr: 192.168.60.0/24}\n") == []  # inside /21


def test_lab_larger_than_free_ram_warns_with_both_figures() -> None:
    (line,) = warnings("name: demo\n", free=4000)
    assert "6144 MiB" in line
    assert "4000 MiB free" in line
    assert warnings("name: demo\n", free=None) == []
