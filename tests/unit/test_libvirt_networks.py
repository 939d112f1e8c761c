"""Preflight finds a libvirt network that would take the lab's addresses (issue 17 item 4).

vagrant-libvirt refuses a lab network whose addresses another libvirt network owns ("Network
default exists but does not have dhcp disabled"). The network list is what labctl's probe
prints, run for real through Debian's `virsh` against libvirt's built-in test driver
(test:///default: libvirt's stock `default` network, virbr0 on 192.168.122.0/24), no daemon.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import pytest

from labctl.doctor.facts import LibvirtNetwork
from labctl.doctor.parse import parse_libvirt_networks
from labctl.providers.libvirt import networks_probe
from tests.unit.test_doctor import GOOD, finding, plan_of

DEFAULT = LibvirtNetwork("default", "virbr0", "192.168.122.0/24")


@pytest.fixture(scope="module")
def stock_networks() -> tuple[LibvirtNetwork, ...]:
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (apt install libvirt-clients)")
    done = subprocess.run(
        networks_probe("test:///default"), capture_output=True, text=True, check=True, timeout=60
    )
    return parse_libvirt_networks(done.stdout)


def test_the_probe_reads_libvirts_stock_network(stock_networks: tuple[LibvirtNetwork, ...]) -> None:
    assert stock_networks == (DEFAULT,)


def test_a_lab_on_libvirts_default_network_fails_preflight(
    stock_networks: tuple[LibvirtNetwork, ...],
) -> None:
    facts = replace(GOOD, libvirt_networks=stock_networks)
    got = finding(
        plan_of("libvirt", network={"cidr": "192.168.122.0/24"}), facts, "libvirt-network"
    )
    assert (got.status, got.message) == (
        "fail",
        "libvirt network `default` (virbr0) uses 192.168.122.0/24: vagrant-libvirt cannot "
        "make 192.168.122.0/24 the lab's network",
    )
    assert got.fix == (
        "pick another `network.cidr` in lab.yaml, outside 192.168.121.0/24, 192.168.122.0/24"
    )


def test_vagrant_libvirts_management_network_is_taken_before_it_exists(
    stock_networks: tuple[LibvirtNetwork, ...],
) -> None:
    facts = replace(GOOD, libvirt_networks=stock_networks)
    got = finding(
        plan_of("libvirt", network={"cidr": "192.168.121.0/24"}), facts, "libvirt-network"
    )
    assert got.status == "fail"
    assert got.message.startswith(
        "libvirt network `vagrant-libvirt` (vagrant-libvirt creates it on first up) uses "
        "192.168.121.0/24"
    )


def test_the_labs_own_network_from_an_earlier_up_is_fine() -> None:
    own = LibvirtNetwork("labctl-demo", "virbr1", "192.168.56.0/24")
    facts = replace(GOOD, libvirt_networks=(DEFAULT, own))
    got = finding(plan_of("libvirt"), facts, "libvirt-network")
    assert (got.status, got.message) == ("ok", "no other libvirt network uses 192.168.56.0/24")


def test_an_unreadable_network_list_warns() -> None:
    got = finding(plan_of("libvirt"), replace(GOOD, libvirt_networks=None), "libvirt-network")
    assert got.status == "warn"


def test_garbage_from_virsh_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not libvirt network XML"):
        parse_libvirt_networks("<network><name>x</nam></network>")
