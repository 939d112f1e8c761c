"""Fleet planning: names, one subnet per lab inside the allowed ranges, plans, boot concurrency."""

from __future__ import annotations

import dataclasses
import json
from ipaddress import IPv4Address, IPv4Network

import pytest

from labctl.doctor import HostAddress, Route
from labctl.errors import ExitCode
from labctl.providers.base import FLEET_DEFAULT_RANGE
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.workshop.fleet import (
    FleetError,
    allowed_ranges,
    boot_concurrency,
    fleet_names,
    lab_prefixlen,
    networks_in_use,
    plan_fleet,
)
from tests.unit.test_doctor import GOOD

N = IPv4Network


def lab_of(text: str = "name: ws\n"):  # type: ignore[no-untyped-def]
    return parse_lab(text).lab


def cidrs(fleet) -> list[str]:  # type: ignore[no-untyped-def]
    return [lab.cidr for lab in fleet.labs]


def test_names_are_prefix_and_a_zero_padded_number() -> None:
    assert fleet_names("team", 3) == ("team-01", "team-02", "team-03")
    assert fleet_names("team", 100)[:2] == ("team-001", "team-002")
    assert plan_fleet(lab_of(), 2).labs[1].name == "ws-02"  # no prefix: the lab's own name


def test_a_name_over_20_characters_says_how_long_the_prefix_may_be() -> None:
    with pytest.raises(FleetError) as caught:
        fleet_names("introduction-to-k8s", 12)
    assert caught.value.message == (
        "fleet lab names like 'introduction-to-k8s-12' are 22 characters; a lab name has at most 20"
    )
    assert caught.value.hint == "use a prefix of at most 17 characters (--prefix)"
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert fleet_names("introduction-to-k", 12)[-1] == "introduction-to-k-12"  # 20: fits


@pytest.mark.parametrize("prefix", ["Team", "1team", "team_a", ""])
def test_a_prefix_that_makes_no_dns_label_is_refused(prefix: str) -> None:
    with pytest.raises(FleetError, match="is a DNS label"):
        fleet_names(prefix, 2)


def test_a_fleet_needs_a_lab() -> None:
    with pytest.raises(FleetError, match="has no lab"):
        plan_fleet(lab_of(), 0, "team")


def test_each_lab_gets_the_next_smallest_subnet_of_virtualbox_range() -> None:
    fleet = plan_fleet(lab_of(), 3, "team")
    assert cidrs(fleet) == ["192.168.56.0/28", "192.168.56.16/28", "192.168.56.32/28"]
    second = fleet.labs[1].plan
    assert [m.ip for m in second.machines] == ["192.168.56.26", "192.168.56.27", "192.168.56.28"]
    assert second.network.host_ip == "192.168.56.17"
    assert second.machines[0].name == "team-02-server-1"
    assert second.context == "labctl-team-02"
    # Each lab is exactly what plan_lab gives for the spec with its own name and network.
    assert second == plan_lab(lab_of("name: team-02\nnetwork: {cidr: 192.168.56.16/28}\n"))


@pytest.mark.parametrize(
    ("spec", "machines", "prefixlen"),
    [
        ("name: ws\nagents: {count: 0}\n", 1, 28),
        ("name: ws\nagents: {count: 4}\n", 5, 28),  # .10-.14, broadcast .15: a /28 still holds
        ("name: ws\nagents: {count: 5}\n", 6, 27),
        ("name: ws\nagents: {count: 4}\naddons: {gitlab: {enabled: true}}\n", 6, 27),
        ("name: ws\nagents: {count: 20}\n", 21, 27),  # .10-.30, broadcast .31
        ("name: ws\nservers: {count: 3}\nagents: {count: 20}\n", 23, 26),
    ],
)
def test_the_subnet_is_the_smallest_that_holds_the_lab(
    spec: str, machines: int, prefixlen: int
) -> None:
    lab = lab_of(spec)
    assert lab.machine_count == machines
    assert lab_prefixlen(lab) == prefixlen
    last = plan_fleet(lab, 2, "t").labs[-1].plan
    net = N(last.network.cidr)
    assert net.prefixlen == prefixlen
    assert all(IPv4Address(m.ip) in net for m in last.machines)
    assert IPv4Address(last.machines[-1].ip) < net.broadcast_address


def test_no_two_labs_overlap_and_all_lie_in_the_allowed_range() -> None:
    fleet = plan_fleet(lab_of(), 128, "t")  # 192.168.56.0/21 holds exactly 128 /28s
    nets = [N(c) for c in cidrs(fleet)]
    assert len(set(nets)) == 128
    assert all(n.subnet_of(N("192.168.56.0/21")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_too_many_labs_for_virtualbox_range_is_a_clear_error() -> None:
    big = lab_of("name: ws\nagents: {count: 20}\n")  # 21 machines: a /27, 64 of them in a /21
    with pytest.raises(FleetError) as caught:
        plan_fleet(big, 65, "t")
    error = caught.value
    assert error.message == (
        "65 labs of /27 (21 machines from .10, 32 addresses each) need 65 free subnets; the "
        "allowed ranges (192.168.56.0/21) hold 64"
    )
    assert "allow more in /etc/vbox/networks.conf" in error.hint
    assert "or use fewer labs" in error.hint
    assert error.exit_code == ExitCode.INVALID_INPUT
    assert plan_fleet(big, 64, "t").count == 64


def test_networks_conf_widens_virtualbox_range() -> None:
    conf = "# lab ranges\n* 192.168.56.0/21\n* 10.56.0.0/16\n"
    allowed = allowed_ranges("virtualbox", conf)
    assert allowed == (N("192.168.56.0/21"), N("10.56.0.0/16"))
    big = lab_of("name: ws\nagents: {count: 20}\n")
    fleet = plan_fleet(big, 65, "t", allowed=allowed)
    assert cidrs(fleet)[0] == "10.56.0.0/27"  # address order: 10.56 before 192.168.56
    assert fleet.to_dict()["allowed_ranges"] == ["192.168.56.0/21", "10.56.0.0/16"]


def test_allowed_ranges_per_provider() -> None:
    assert allowed_ranges("virtualbox") == (N("192.168.56.0/21"),)
    assert allowed_ranges("virtualbox", "") == ()  # a file with no range allows none
    assert allowed_ranges("libvirt") == (FLEET_DEFAULT_RANGE,)
    assert allowed_ranges("lxc", "* 10.0.0.0/8") == (FLEET_DEFAULT_RANGE,)
    fleet = plan_fleet(lab_of("name: ws\nprovider: libvirt\n"), 2, "t")
    assert cidrs(fleet) == ["10.200.0.0/28", "10.200.0.16/28"]


def test_an_empty_networks_conf_allows_no_lab() -> None:
    with pytest.raises(FleetError, match=r"the allowed ranges \(no range\) hold 0"):
        plan_fleet(lab_of(), 1, "t", allowed=allowed_ranges("virtualbox", ""))


def test_public_parts_of_an_allowed_range_are_never_used() -> None:
    fleet = plan_fleet(lab_of(), 2, "t", allowed=[N("0.0.0.0/0")])
    assert cidrs(fleet) == ["10.0.0.0/28", "10.0.0.16/28"]


def test_networks_in_use_are_skipped() -> None:
    avoid = [N("192.168.56.0/24"), N("192.168.57.16/28")]  # vboxnet0, another host network
    fleet = plan_fleet(lab_of(), 3, "t", avoid=avoid)
    assert cidrs(fleet) == ["192.168.57.0/28", "192.168.57.32/28", "192.168.57.48/28"]
    with pytest.raises(FleetError, match="hold 0 beside the 1 networks in use"):
        plan_fleet(lab_of(), 1, "t", avoid=[N("192.168.0.0/16")])


def test_networks_in_use_come_from_doctors_facts() -> None:
    facts = dataclasses.replace(
        GOOD,
        routes=(
            Route("0.0.0.0/0", "eth0"),
            Route("192.168.56.0/24", "vboxnet0"),
            Route("10.200.0.0/28", "virbr3"),
        ),
        addresses=(HostAddress("lo", "127.0.0.1", 8), HostAddress("eth0", "10.200.0.37", 28)),
    )
    assert networks_in_use(facts) == (
        N("10.200.0.0/28"),
        N("10.200.0.32/28"),
        N("127.0.0.0/8"),
        N("192.168.56.0/24"),
    )
    fleet = plan_fleet(
        lab_of("name: ws\nprovider: libvirt\n"), 2, "t", avoid=networks_in_use(facts)
    )
    assert cidrs(fleet) == ["10.200.0.16/28", "10.200.0.48/28"]
    assert networks_in_use(dataclasses.replace(GOOD, routes=None, addresses=None)) == ()


def test_existing_labs_keep_their_subnets_when_the_fleet_is_planned_again() -> None:
    first = plan_fleet(lab_of(), 3, "t")
    # On the next `fleet up` the labs' networks are routed on the host: they must not move.
    routes = [N(c) for c in cidrs(first)]
    keep = {lab.name: lab.cidr for lab in first.labs}
    again = plan_fleet(lab_of(), 4, "t", avoid=routes, keep=keep)
    assert cidrs(again) == [*cidrs(first), "192.168.56.48/28"]
    # A kept lab in the middle: new labs fill around it.
    middle = plan_fleet(lab_of(), 3, "t", keep={"t-02": "192.168.56.0/28"})
    assert cidrs(middle) == ["192.168.56.16/28", "192.168.56.0/28", "192.168.56.32/28"]


def test_a_kept_subnet_that_no_longer_holds_the_lab_is_an_error() -> None:
    grown = lab_of("name: ws\nagents: {count: 6}\n")
    with pytest.raises(FleetError) as caught:
        plan_fleet(grown, 2, "t", keep={"t-01": "192.168.56.0/28"})
    assert caught.value.message == (
        "lab t-01 exists with 192.168.56.0/28, which holds 5 machines; the spec now has 7"
    )
    assert "labctl destroy t-01" in caught.value.hint


def test_two_kept_labs_on_one_subnet_is_an_error() -> None:
    with pytest.raises(FleetError, match=r"labs t-01 and t-02 both hold 192\.168\.56\.0/28"):
        plan_fleet(lab_of(), 2, "t", keep={"t-01": "192.168.56.0/28", "t-02": "192.168.56.0/28"})


def test_a_kept_subnet_the_spec_refuses_is_reported_field_by_field() -> None:
    with pytest.raises(FleetError) as caught:
        plan_fleet(lab_of(), 1, "t", keep={"t-01": "8.8.8.0/28"})
    assert caught.value.message == "lab t-01 of the fleet is not a valid lab"
    assert caught.value.details == [
        "network.cidr: Value error, 8.8.8.0/28 is not a private network; use one like "
        "192.168.56.0/24"
    ]


def test_the_spec_is_copied_whole_into_every_lab() -> None:
    spec = (
        "name: ws\nprovider: libvirt\nagents: {count: 1, memory: 1GiB}\n"
        "k3s: {disable: [servicelb]}\naddons: {argocd: {enabled: true}}\n"
        "libvirt: {host: hv1, username: labs}\n"
    )
    fleet = plan_fleet(lab_of(spec), 2, "t", host_free_mib=1024)
    lab = fleet.labs[1].lab
    assert (lab.agents.memory, lab.k3s.disable, lab.addons.argocd.enabled) == (
        1024,
        ["servicelb"],
        True,
    )
    assert (lab.libvirt.host, lab.libvirt.username) == ("hv1", "labs")
    assert fleet.warnings == ()  # remote machines do not use this host's memory


def test_lxc_bridges_cut_to_15_characters_must_stay_apart() -> None:
    # Names of 13+ characters get `lc-<7 chars>-<4 hex>`; this prefix collides at lab 19.
    lab = lab_of("name: ws\nprovider: lxc\n")
    assert plan_fleet(lab, 18, "coursead-xx").count == 18
    with pytest.raises(FleetError) as caught:
        plan_fleet(lab, 19, "coursead-xx")
    assert "would share the host bridge lc-coursea-" in caught.value.message
    assert "shorter --prefix" in caught.value.hint
    bridges = {f.plan.network.bridge for f in plan_fleet(lab, 30, "course").labs}
    assert len(bridges) == 30  # short names keep their full bridge name


@pytest.mark.parametrize(
    ("free", "cpus", "max_parallel", "value", "by_memory", "by_cpu"),
    [
        (32768, 8, None, 4, 4, 4),  # 29491 // 6144 = 4; 8 // 2 = 4
        (16384, 8, None, 2, 2, 4),  # memory bounds
        (65536, 4, None, 2, 9, 2),  # CPUs bound
        (65536, 64, None, 5, 9, 32),  # the fleet's size bounds
        (4096, 1, None, 1, 0, 0),  # at least one, even on a host too small for one
        (None, 8, None, 4, None, 4),  # unknown memory: CPUs alone
        (None, None, None, 1, None, None),  # nothing known: one at a time
        (16384, 2, 4, 4, 2, 1),  # the user's number wins
        (16384, 2, 9, 5, 2, 1),  # ... capped at the fleet's size
    ],
)
def test_boot_concurrency(
    free: int | None,
    cpus: int | None,
    max_parallel: int | None,
    value: int,
    by_memory: int | None,
    by_cpu: int | None,
) -> None:
    got = boot_concurrency(6144, 5, free, cpus, max_parallel)
    assert (got.value, got.by_memory, got.by_cpu) == (value, by_memory, by_cpu)


def test_max_parallel_below_one_is_refused() -> None:
    with pytest.raises(FleetError, match="would boot no lab"):
        plan_fleet(lab_of(), 2, "t", max_parallel=0)


def test_memory_warnings_for_vms_and_lxc() -> None:
    vms = plan_fleet(lab_of(), 3, "t", host_free_mib=16000, host_cpus=2)
    assert vms.warnings == (
        "the 3 labs need 18432 MiB together but 16000 MiB is free: they cannot all run on this "
        "host; use fewer labs or smaller machines, or spread them over libvirt hypervisors",
    )
    lxc = plan_fleet(lab_of("name: ws\nprovider: lxc\n"), 3, "t", host_free_mib=16000)
    assert "lxc limits are ceilings" in lxc.warnings[0]
    assert plan_fleet(lab_of(), 2, "t", host_free_mib=16000).warnings == ()


def test_the_dry_run_json_shape() -> None:
    fleet = plan_fleet(lab_of(), 2, "team", host_free_mib=32768, host_cpus=2)
    data = json.loads(json.dumps(fleet.to_dict()))
    assert list(data) == [
        "schema",
        "prefix",
        "count",
        "provider",
        "subnet_prefixlen",
        "allowed_ranges",
        "memory_needed_mib",
        "concurrency",
        "reasoning",
        "warnings",
        "placement",
        "labs",
    ]
    assert data["schema"] == "labctl.fleet/v1"
    assert (data["count"], data["concurrency"], data["memory_needed_mib"]) == (2, 1, 12288)
    assert data["reasoning"]["by_cpu"] == 1
    assert data["reasoning"]["by_memory"] == 4
    assert data["placement"] is None
    for lab, fleet_lab in zip(data["labs"], fleet.labs, strict=True):
        assert list(lab) == ["name", "network", "machines"]
        assert lab["network"] == {"cidr": fleet_lab.cidr}
        assert lab["machines"] == fleet_lab.plan.to_dict()["machines"]
    assert data["labs"][0]["name"] == "team-01"
    assert data["labs"][0]["machines"][0]["ip"] == "192.168.56.10"


def test_the_same_inputs_give_the_same_fleet() -> None:
    def make() -> object:
        return plan_fleet(lab_of(), 5, "t", avoid=[N("192.168.56.32/28")]).to_dict()

    assert make() == make()


def test_a_lab_by_name() -> None:
    fleet = plan_fleet(lab_of(), 2, "t")
    assert fleet.lab("t-02").index == 2
    with pytest.raises(FleetError, match="the fleet has no lab 't-03'"):
        fleet.lab("t-03")
