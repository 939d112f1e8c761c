"""Spreading a fleet's labs over several libvirt hypervisors by free RAM (pure).

A lab is never split: its machines share one libvirt network, which lives on one hypervisor.
The heuristic, deterministic for the same input:

1. spread: labs in decreasing memory (then name); each goes to the hypervisor with the most
   memory left (ties: the one listed first). Labs land evenly, so every hypervisor boots its
   share at once and no host runs near full while another idles.
2. pack: when spreading leaves a lab without room, best-fit decreasing instead: each lab goes to
   the hypervisor it leaves the least memory on. It fits fleets spreading cannot (hosts of
   10 and 6 GiB, labs of 6, 5 and 5 GiB: spread puts 6 on the larger host and strands a 5).
3. otherwise an error naming the lab that fits nowhere.

A hypervisor offers floor(free_mib * MEMORY_HEADROOM) MiB (doctor's headroom): a VM reserves its
memory, and the host keeps some for itself. How many labs boot at once on each hypervisor is
fleet.boot_concurrency with that host's free memory and CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from labctl import registry
from labctl.doctor import MEMORY_HEADROOM
from labctl.errors import ExitCode, LabctlError
from labctl.messages import quoted
from labctl.registry import plan_lab
from labctl.spec.model import DNS_LABEL_RE, Lab, LibvirtConnection, cross_field_problems
from labctl.workshop.fleet import Concurrency, FleetLab, FleetPlan, boot_concurrency

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from labctl.plan import Plan

Strategy = Literal["spread", "pack"]


class PlacementError(LabctlError):
    """The labs cannot be placed on the hypervisors given."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class Hypervisor:
    """A libvirt host labs can be placed on: how to reach it, its free memory and its CPUs.

    Reached over SSH at `host` (with `username`, `port`, `id_ssh_key_file`), or at a full libvirt
    `uri`; with neither it is the machine labctl runs on. The same keys as a lab's `libvirt:`.
    """

    name: str
    free_mib: int
    cpus: int
    host: str | None = None
    username: str | None = None
    port: int | None = None
    id_ssh_key_file: str | None = None
    uri: str | None = None

    def __post_init__(self) -> None:
        if not DNS_LABEL_RE.match(self.name):
            raise PlacementError(
                f"hypervisor name {quoted(self.name)} is not a DNS label",
                "name it with lowercase letters, digits and '-', like `hv1`",
            )
        if self.free_mib < 0 or self.cpus < 1:
            raise PlacementError(
                f"hypervisor {self.name}: {self.free_mib} MiB free and {self.cpus} CPUs is not "
                "a host",
                "give its free memory in MiB (0 or more) and its CPU count (1 or more)",
            )
        problems = cross_field_problems(
            Lab(name="placement", provider="libvirt", libvirt=self.connection())
        )
        if problems:
            raise PlacementError(
                f"hypervisor {self.name} cannot be reached as given",
                "fix its connection keys; they follow the lab spec's `libvirt:` rules",
                details=[f"{loc[-1]}: {text}" for loc, text in problems],
            )

    @property
    def capacity_mib(self) -> int:
        """What labs may take: the free memory less the host's headroom."""
        return int(self.free_mib * MEMORY_HEADROOM)

    def connection(self) -> LibvirtConnection:
        """The `libvirt:` section a lab placed here gets."""
        data = {
            key: value
            for key, value in (
                ("host", self.host),
                ("username", self.username),
                ("port", self.port),
                ("id_ssh_key_file", self.id_ssh_key_file),
                ("uri", self.uri),
            )
            if value is not None
        }
        try:
            return LibvirtConnection.model_validate(data)
        except ValidationError as exc:
            raise PlacementError(
                f"hypervisor {self.name} cannot be reached as given",
                "fix its connection keys; they follow the lab spec's `libvirt:` rules",
                details=[f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()],
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "free_mib": self.free_mib,
            "capacity_mib": self.capacity_mib,
            "cpus": self.cpus,
            "connection": self.connection().model_dump(exclude_defaults=True),
        }


@dataclass(frozen=True)
class HostLoad:
    """One hypervisor and the labs placed on it, with how many of them boot at once."""

    hypervisor: Hypervisor
    labs: tuple[str, ...]
    memory_mib: int
    concurrency: Concurrency

    @property
    def left_mib(self) -> int:
        return self.hypervisor.capacity_mib - self.memory_mib

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.hypervisor.to_dict(),
            "labs": list(self.labs),
            "memory_mib": self.memory_mib,
            "left_mib": self.left_mib,
            "concurrency": self.concurrency.value,
        }


@dataclass(frozen=True)
class Placement:
    """Which hypervisor each lab runs on, in the order the hypervisors were given."""

    strategy: Strategy
    hosts: tuple[HostLoad, ...]

    def host_of(self, lab: str) -> Hypervisor:
        """The hypervisor lab `lab` was placed on."""
        for load in self.hosts:
            if lab in load.labs:
                return load.hypervisor
        raise PlacementError(f"lab {lab} was not placed", "place the whole fleet first")

    @property
    def assignments(self) -> dict[str, str]:
        """Lab name -> hypervisor name, in lab name order."""
        return dict(sorted((lab, load.hypervisor.name) for load in self.hosts for lab in load.labs))

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "hosts": [load.to_dict() for load in self.hosts]}


def _memory_of(lab: FleetLab | Plan) -> tuple[str, int]:
    plan = lab.plan if isinstance(lab, FleetLab) else lab
    return plan.name, plan.total_memory_mib


def _most_left(left: list[int], need: int) -> int | None:
    fits = [i for i, room in enumerate(left) if room >= need]
    return max(fits, key=lambda i: (left[i], -i), default=None)


def _least_left(left: list[int], need: int) -> int | None:
    fits = [i for i, room in enumerate(left) if room >= need]
    return min(fits, key=lambda i: (left[i] - need, i), default=None)


def _assign(
    labs: Sequence[tuple[str, int]],
    hosts: Sequence[Hypervisor],
    choose: Callable[[list[int], int], int | None],
) -> list[list[str]] | str:
    """Labs per host, or the name of the first lab that found no room."""
    left = [host.capacity_mib for host in hosts]
    placed: list[list[str]] = [[] for _ in hosts]
    for name, need in labs:
        index = choose(left, need)
        if index is None:
            return name
        left[index] -= need
        placed[index].append(name)
    return placed


def place(
    labs: Sequence[FleetLab | Plan],
    hosts: Sequence[Hypervisor],
    max_parallel: int | None = None,
) -> Placement:
    """Put every lab on one hypervisor by free RAM: spread if possible, else pack (module doc).

    `max_parallel` caps how many labs boot at once on each hypervisor.
    """
    if not hosts:
        raise PlacementError("no hypervisor to place labs on", "list at least one hypervisor")
    _unique("hypervisor", [host.name for host in hosts])
    memory = dict(_memory_of(lab) for lab in labs)
    _unique("lab", [_memory_of(lab)[0] for lab in labs])
    ordered = sorted(memory.items(), key=lambda item: (-item[1], item[0]))
    biggest = max(hosts, key=lambda host: host.capacity_mib)
    for name, need in ordered:
        if need > biggest.capacity_mib:
            raise PlacementError(
                f"lab {name} needs {need} MiB but the roomiest hypervisor, {biggest.name}, "
                f"offers {biggest.capacity_mib} MiB ({biggest.free_mib} MiB free less "
                f"{round((1 - MEMORY_HEADROOM) * 100)}% for the host)",
                "give the lab smaller machines or fewer agents, or add a larger hypervisor",
            )
    strategy: Strategy = "spread"
    result = _assign(ordered, hosts, _most_left)
    if isinstance(result, str):
        strategy = "pack"
        result = _assign(ordered, hosts, _least_left)
    if isinstance(result, str):
        need = sum(memory.values())
        offered = sum(host.capacity_mib for host in hosts)
        raise PlacementError(
            f"lab {result} ({memory[result]} MiB) fits on no hypervisor once the others are "
            f"placed: the {len(memory)} labs need {need} MiB, the hypervisors offer {offered} MiB",
            "use fewer labs or smaller machines, or add a hypervisor",
        )
    loads = []
    for host, names in zip(hosts, result, strict=True):
        used = sum(memory[name] for name in names)
        largest = max((memory[name] for name in names), default=0)
        loads.append(
            HostLoad(
                hypervisor=host,
                labs=tuple(sorted(names)),
                memory_mib=used,
                concurrency=boot_concurrency(
                    largest, max(len(names), 1), host.free_mib, host.cpus, max_parallel
                ),
            )
        )
    return Placement(strategy=strategy, hosts=tuple(loads))


def _unique(what: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise PlacementError(f"two {what}s are called {name}", f"give each {what} its own name")
        seen.add(name)


def apply_placement(fleet: FleetPlan, placement: Placement) -> FleetPlan:
    """The fleet with each lab's `libvirt:` pointing at its hypervisor, planned again.

    The rendered Vagrantfile of each lab then carries its hypervisor's URI (libvirt_uri).
    The fleet's concurrency becomes the sum of the hypervisors' own; boot each host's labs
    with that host's `HostLoad.concurrency`.
    """
    if not registry.get(fleet.provider).places_remotely:
        raise PlacementError(
            "labs on other hypervisors need the libvirt provider; this fleet uses "
            f"{fleet.provider}",
            "set `provider: libvirt` in the spec",
        )
    labs = []
    for fleet_lab in fleet.labs:
        hypervisor = placement.host_of(fleet_lab.name)
        lab = fleet_lab.lab.model_copy(update={"libvirt": hypervisor.connection()})
        labs.append(FleetLab(fleet_lab.index, plan_lab(lab)))
    busy = [load for load in placement.hosts if load.labs]
    total = sum(load.concurrency.value for load in busy)
    concurrency = Concurrency(
        value=total,
        count=fleet.count,
        lab_memory_mib=fleet.concurrency.lab_memory_mib,
        host_free_mib=sum(load.hypervisor.free_mib for load in busy),
        host_cpus=sum(load.hypervisor.cpus for load in busy),
        by_memory=None,
        by_cpu=None,
        max_parallel=fleet.concurrency.max_parallel,
        per_host=tuple((load.hypervisor.name, load.concurrency.value) for load in busy),
    )
    return FleetPlan(
        prefix=fleet.prefix,
        labs=tuple(labs),
        subnet_prefixlen=fleet.subnet_prefixlen,
        allowed=fleet.allowed,
        concurrency=concurrency,
        warnings=(),
        placement=tuple(placement.assignments.items()),
    )
