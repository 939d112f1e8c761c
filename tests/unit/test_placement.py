"""Placing a fleet's labs on libvirt hypervisors by free RAM: spread, pack, refuse (pure)."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import pytest

from labctl.errors import ExitCode
from labctl.registry import plan_lab
from labctl.render import LabPaths, render
from labctl.spec.loader import parse_lab
from labctl.workshop.fleet import plan_fleet
from labctl.workshop.placement import Hypervisor, PlacementError, apply_placement, place

if TYPE_CHECKING:
    from labctl.plan import Plan

GIB = 1024


def free_for(capacity_mib: int) -> int:
    """The free memory whose 90% (doctor's headroom) is exactly `capacity_mib`."""
    free = -(-capacity_mib * 10 // 9)
    assert Hypervisor("x", free, 1).capacity_mib == capacity_mib
    return free


def hv(name: str, capacity_mib: int, cpus: int = 8, **connection: object) -> Hypervisor:
    return Hypervisor(name, free_for(capacity_mib), cpus, **connection)  # type: ignore[arg-type]


def lab(name: str, memory_mib: int) -> Plan:
    """A one-server lab taking exactly `memory_mib`."""
    spec = (
        f"name: {name}\nprovider: libvirt\n"
        f"servers: {{memory: {memory_mib}}}\nagents: {{count: 0}}\n"
    )
    return plan_lab(parse_lab(spec).lab)


def fleet(count: int = 4):  # type: ignore[no-untyped-def]
    spec = "name: ws\nprovider: libvirt\nagents: {count: 1, memory: 1GiB}\n"  # 3 GiB a lab
    return plan_fleet(parse_lab(spec).lab, count, "team")


def test_equal_hosts_take_equal_shares_in_a_stable_order() -> None:
    hosts = [hv("hv1", 32 * GIB), hv("hv2", 32 * GIB), hv("hv3", 32 * GIB)]
    placement = place(fleet(6).labs, hosts)
    assert placement.strategy == "spread"
    assert placement.assignments == {
        "team-01": "hv1",
        "team-02": "hv2",
        "team-03": "hv3",
        "team-04": "hv1",
        "team-05": "hv2",
        "team-06": "hv3",
    }
    assert [load.memory_mib for load in placement.hosts] == [6 * GIB] * 3


def test_labs_go_where_the_most_memory_is_left() -> None:
    hosts = [hv("small", 8 * GIB), hv("big", 20 * GIB)]
    placement = place(fleet(5).labs, hosts)
    # big: 20 -> 17 -> 14 -> 11 -> 8; then 8 against small's 8, a tie: the host listed first.
    assert placement.assignments == {
        "team-01": "big",
        "team-02": "big",
        "team-03": "big",
        "team-04": "big",
        "team-05": "small",
    }
    assert [load.left_mib for load in placement.hosts] == [5 * GIB, 8 * GIB]


def test_bigger_labs_are_placed_first() -> None:
    labs = [lab("a", 2 * GIB), lab("b", 6 * GIB), lab("c", 4 * GIB)]
    placement = place(labs, [hv("hv1", 8 * GIB), hv("hv2", 6 * GIB)])
    # b (6) -> hv1 (8 left); c (4) -> hv2 (6 left); a (2) -> hv1 (2 left) or hv2 (2 left): hv1
    assert placement.assignments == {"a": "hv1", "b": "hv1", "c": "hv2"}


def test_packing_takes_over_when_spreading_strands_a_lab() -> None:
    labs = [lab("six", 6 * GIB), lab("five-a", 5 * GIB), lab("five-b", 5 * GIB)]
    hosts = [hv("hv1", 10 * GIB), hv("hv2", 6 * GIB)]
    placement = place(labs, hosts)
    assert placement.strategy == "pack"
    assert placement.assignments == {"five-a": "hv1", "five-b": "hv1", "six": "hv2"}
    assert [load.left_mib for load in placement.hosts] == [0, 0]


def test_a_lab_larger_than_every_hypervisor_is_named() -> None:
    with pytest.raises(PlacementError) as caught:
        place([lab("small", 2 * GIB), lab("huge", 12 * GIB)], [hv("hv1", 8 * GIB)])
    error = caught.value
    assert error.message == (
        f"lab huge needs {12 * GIB} MiB but the roomiest hypervisor, hv1, offers {8 * GIB} MiB "
        f"({free_for(8 * GIB)} MiB free less 10% for the host)"
    )
    assert "add a larger hypervisor" in error.hint
    assert error.exit_code == ExitCode.INVALID_INPUT


def test_labs_that_fit_one_by_one_but_not_together() -> None:
    labs = [lab(f"l{i}", 4 * GIB) for i in range(3)]
    with pytest.raises(PlacementError) as caught:
        place(labs, [hv("hv1", 6 * GIB), hv("hv2", 6 * GIB)])
    assert caught.value.message == (
        f"lab l2 ({4 * GIB} MiB) fits on no hypervisor once the others are placed: the 3 labs "
        f"need {12 * GIB} MiB, the hypervisors offer {12 * GIB} MiB"
    )


def test_a_lab_filling_a_host_exactly_fits() -> None:
    placement = place([lab("exact", 4 * GIB)], [hv("hv1", 4 * GIB)])
    assert placement.hosts[0].left_mib == 0


def test_the_result_does_not_depend_on_input_order() -> None:
    labs = [lab("a", 2 * GIB), lab("b", 3 * GIB), lab("c", 3 * GIB), lab("d", 1 * GIB)]
    hosts = [hv("hv1", 6 * GIB), hv("hv2", 6 * GIB)]
    assert place(labs, hosts) == place(list(reversed(labs)), hosts)


def test_no_labs_places_nothing_and_no_hosts_is_an_error() -> None:
    assert place([], [hv("hv1", GIB)]).assignments == {}
    with pytest.raises(PlacementError, match="no hypervisor to place labs on"):
        place(fleet(1).labs, [])


def test_names_must_be_unique() -> None:
    with pytest.raises(PlacementError, match="two hypervisors are called hv1"):
        place(fleet(1).labs, [hv("hv1", GIB), hv("hv1", GIB)])
    with pytest.raises(PlacementError, match="two labs are called a"):
        place([lab("a", GIB), lab("a", GIB)], [hv("hv1", 8 * GIB)])


def test_each_hypervisor_boots_as_many_labs_at_once_as_its_cpus_allow() -> None:
    hosts = [hv("hv1", 30 * GIB, cpus=4), hv("hv2", 30 * GIB, cpus=16), hv("idle", 0, cpus=2)]
    placement = place(fleet(8).labs, hosts)
    assert [len(load.labs) for load in placement.hosts] == [4, 4, 0]
    assert [load.concurrency.value for load in placement.hosts] == [2, 4, 1]
    capped = place(fleet(8).labs, hosts, max_parallel=1)
    assert [load.concurrency.value for load in capped.hosts] == [1, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "HV1", "free_mib": 1, "cpus": 1}, "hypervisor name 'HV1' is not a DNS label"),
        ({"name": "hv1", "free_mib": -1, "cpus": 1}, "-1 MiB free and 1 CPUs is not a host"),
        ({"name": "hv1", "free_mib": 1, "cpus": 0}, "1 MiB free and 0 CPUs is not a host"),
        (
            {"name": "hv1", "free_mib": 1, "cpus": 1, "host": "labs@hv1"},
            "hypervisor hv1 cannot be reached as given",
        ),
        (
            {"name": "hv1", "free_mib": 1, "cpus": 1, "host": "hv1", "uri": "qemu:///system"},
            "hypervisor hv1 cannot be reached as given",
        ),
    ],
)
def test_a_hypervisor_is_checked_when_made(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PlacementError) as caught:
        Hypervisor(**kwargs)  # type: ignore[arg-type]
    assert message in caught.value.message


def test_connection_problems_are_listed_key_by_key() -> None:
    with pytest.raises(PlacementError) as caught:
        Hypervisor("hv1", 1, 1, host="hv1", uri="qemu+ssh://hv1/system")
    assert caught.value.details == ["host: give either libvirt.uri or libvirt.host, not both"]


def test_placed_labs_render_their_hypervisors_uri() -> None:
    hosts = [
        hv("hv1", 8 * GIB, host="hv1.example.com", username="labs", id_ssh_key_file="id_labs"),
        hv("hv2", 8 * GIB, uri="qemu+ssh://labs@192.0.2.8/system"),
    ]
    planned = fleet(4)
    placement = place(planned.labs, hosts)
    placed = apply_placement(planned, placement)
    assert placement.assignments == dict(placed.placement)
    assert [lab.cidr for lab in placed.labs] == [lab.cidr for lab in planned.labs]
    for fleet_lab in placed.labs:
        where = placement.host_of(fleet_lab.name)
        vagrantfile = render(fleet_lab.plan, LabPaths(PurePosixPath("/l") / fleet_lab.name))[
            "Vagrantfile"
        ]
        expected = (
            'LIBVIRT_URI = "qemu+ssh://labs@hv1.example.com/system?keyfile='
            '#{File.expand_path("~/.ssh/id_labs")}"'
            if where.name == "hv1"
            else 'LIBVIRT_URI = "qemu+ssh://labs@192.0.2.8/system"'
        )
        assert expected in vagrantfile
    data = json.loads(json.dumps(placed.to_dict()))
    assert data["placement"] == placement.assignments
    assert data["concurrency"] == 4  # 2 a hypervisor: 8 CPUs, 2 labs each
    assert data["reasoning"]["per_hypervisor"] == {"hv1": 2, "hv2": 2}
    assert [list(lab) for lab in data["labs"]] == [["name", "network", "machines"]] * 4


def test_a_local_hypervisor_keeps_the_local_connection() -> None:
    planned = fleet(1)
    placed = apply_placement(planned, place(planned.labs, [hv("here", 8 * GIB)]))
    vagrantfile = render(placed.labs[0].plan, LabPaths(PurePosixPath("/l/team-01")))["Vagrantfile"]
    assert "LIBVIRT_URI" not in vagrantfile


def test_only_libvirt_fleets_can_be_placed() -> None:
    planned = plan_fleet(parse_lab("name: ws\n").lab, 1, "t")
    with pytest.raises(
        PlacementError, match="need the libvirt provider; this fleet uses virtualbox"
    ):
        apply_placement(planned, place(planned.labs, [hv("hv1", 8 * GIB)]))


def test_the_placement_json() -> None:
    placement = place(fleet(2).labs, [hv("hv1", 8 * GIB, host="hv1"), hv("hv2", 2 * GIB)])
    assert json.loads(json.dumps(placement.to_dict())) == {
        "strategy": "spread",
        "hosts": [
            {
                "name": "hv1",
                "free_mib": free_for(8 * GIB),
                "capacity_mib": 8 * GIB,
                "cpus": 8,
                "connection": {"host": "hv1"},
                "labs": ["team-01", "team-02"],
                "memory_mib": 6 * GIB,
                "left_mib": 2 * GIB,
                "concurrency": 2,
            },
            {
                "name": "hv2",
                "free_mib": free_for(2 * GIB),
                "capacity_mib": 2 * GIB,
                "cpus": 8,
                "connection": {},
                "labs": [],
                "memory_mib": 0,
                "left_mib": 2 * GIB,
                "concurrency": 1,
            },
        ],
    }
