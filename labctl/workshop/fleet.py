"""One spec -> N labs for a workshop or a CI matrix: names, subnets, plans, boot concurrency (pure).

`plan_fleet` expands a Lab into `<prefix>-01`, `<prefix>-02`, ... Each is a full lab of its own:
the same spec with its own name and its own network, planned by `plan_lab`. Nothing else needs
dividing: every lab has its own lab directory (`.labctl/<name>`), so its own K3s token, GitLab and
Argo CD passwords under `secrets/`, its own state and lock, and its own kubeconfig context
`labctl-<name>`; its machines, libvirt network and lxc bridge carry its name.

Subnets come from the ranges the provider allows (`allowed_ranges`): VirtualBox only lets
host-only networks use 192.168.56.0/21 unless /etc/vbox/networks.conf lists others (read with
doctor's `parse_networks_conf`); libvirt and lxc networks are labctl's own, so the fleet takes
them from base.FLEET_DEFAULT_RANGE. Each lab gets the smallest subnet that holds its machines (they
take addresses from .10 up, spec.FIRST_MACHINE_OFFSET), none overlapping another lab or a network
the host already uses (`networks_in_use`). The same inputs always give the same fleet, and `keep`
pins labs that exist already to the subnets they have, so a second `fleet up` finds them again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from labctl import registry
from labctl.doctor import MEMORY_HEADROOM
from labctl.errors import ExitCode, LabctlError
from labctl.messages import quoted
from labctl.spec.model import (
    DNS_LABEL_RE,
    FIRST_MACHINE_OFFSET,
    NAME_MAX,
    Lab,
    cross_field_problems,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from labctl.doctor import HostFacts
    from labctl.plan import Plan

FLEET_SCHEMA = "labctl.fleet/v1"
# libvirt and lxc lab networks are created by labctl (libvirt network / host bridge), so any
# private range works; this one is far from the 192.168.x networks home routers and VirtualBox
# use and from Docker's 172.17+ defaults. 4096 /28 labs fit in it.
# A lab network must be private (spec.Network); allowed ranges are clipped to these.
PRIVATE_RANGES = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)
SMALLEST_LAB_PREFIXLEN = 28  # spec.Network refuses anything smaller than a /28
# An estimate, not a measurement: while a lab boots and provisions, Vagrant's Ruby process, the
# hypervisor starting guests and ansible-playbook (5 forks) keep about two host cores busy.
CORES_PER_BOOTING_LAB = 2
NAME_WIDTH_MIN = 2  # team-01, not team-1: names sort in order in every listing


class FleetError(LabctlError):
    """A fleet cannot be planned: a bad count or prefix, or too little address space."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class FleetLab:
    """One lab of a fleet: its number (1-based) and its full plan."""

    index: int
    plan: Plan

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def lab(self) -> Lab:
        return self.plan.lab

    @property
    def cidr(self) -> str:
        return self.plan.network.cidr

    @property
    def memory_mib(self) -> int:
        return self.plan.total_memory_mib

    def to_dict(self) -> dict[str, Any]:
        """`name`, `network.cidr` and the machines exactly as Plan.to_dict gives them."""
        return {
            "name": self.name,
            "network": {"cidr": self.cidr},
            "machines": self.plan.to_dict()["machines"],
        }


@dataclass(frozen=True)
class Concurrency:
    """How many labs boot at once, and the numbers that decided it.

    value = max_parallel (capped at the lab count) when given; otherwise
        max(1, min(count, by_memory, by_cpu)), leaving out a bound whose fact is unknown, where
        by_memory = floor(host_free_mib * MEMORY_HEADROOM) // lab_memory_mib  (labs that fit)
        by_cpu    = host_cpus // CORES_PER_BOOTING_LAB                     (boots that don't starve)
    and 1 when neither fact is known. A VM reserves its memory, so never start more labs than fit;
    boots are CPU-heavy (guest boot, apt, K3s images), so two per core pair at most.
    """

    value: int
    count: int
    lab_memory_mib: int
    host_free_mib: int | None
    host_cpus: int | None
    by_memory: int | None
    by_cpu: int | None
    max_parallel: int | None
    # Placed on hypervisors: each one's own concurrency (hypervisor name, labs at once); the
    # value is their sum.
    per_host: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.per_host:
            return {
                "lab_memory_mib": self.lab_memory_mib,
                "per_hypervisor": dict(self.per_host),
                "max_parallel": self.max_parallel,
                "formula": "the sum of each hypervisor's own: max_parallel if given, else "
                "max(1, min(labs there, floor(free_mib * memory_headroom) // largest lab's "
                "memory, cpus // cores_per_booting_lab))",
            }
        return {
            "lab_memory_mib": self.lab_memory_mib,
            "host_free_mib": self.host_free_mib,
            "memory_headroom": MEMORY_HEADROOM,
            "by_memory": self.by_memory,
            "host_cpus": self.host_cpus,
            "cores_per_booting_lab": CORES_PER_BOOTING_LAB,
            "by_cpu": self.by_cpu,
            "max_parallel": self.max_parallel,
            "formula": (
                "max_parallel if given, else max(1, min(count, "
                "floor(host_free_mib * memory_headroom) // lab_memory_mib, "
                "host_cpus // cores_per_booting_lab)), unknown facts left out, 1 if none known"
            ),
        }


def boot_concurrency(
    lab_memory_mib: int,
    count: int,
    host_free_mib: int | None,
    host_cpus: int | None,
    max_parallel: int | None = None,
) -> Concurrency:
    """How many of `count` labs of `lab_memory_mib` boot at once on one host (see Concurrency)."""
    if max_parallel is not None and max_parallel < 1:
        raise FleetError(
            f"--max-parallel {max_parallel} would boot no lab", "give 1 or more, or leave it out"
        )
    by_memory = (
        None
        if host_free_mib is None
        else int(host_free_mib * MEMORY_HEADROOM) // max(lab_memory_mib, 1)
    )
    by_cpu = None if host_cpus is None else host_cpus // CORES_PER_BOOTING_LAB
    known = [bound for bound in (by_memory, by_cpu) if bound is not None]
    if max_parallel is not None:
        value = min(max_parallel, count)
    elif known:
        value = max(1, min(count, *known))
    else:
        value = 1
    return Concurrency(
        value=max(1, value),
        count=count,
        lab_memory_mib=lab_memory_mib,
        host_free_mib=host_free_mib,
        host_cpus=host_cpus,
        by_memory=by_memory,
        by_cpu=by_cpu,
        max_parallel=max_parallel,
    )


@dataclass(frozen=True)
class FleetPlan:
    """N labs from one spec, the ranges their subnets came from, and how many boot at once."""

    prefix: str
    labs: tuple[FleetLab, ...]
    subnet_prefixlen: int
    allowed: tuple[IPv4Network, ...]
    concurrency: Concurrency
    warnings: tuple[str, ...] = ()
    # Lab name -> hypervisor name, once placement.apply_placement spread the labs.
    placement: tuple[tuple[str, str], ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.labs)

    @property
    def provider(self) -> str:
        return self.labs[0].lab.provider

    @property
    def memory_needed_mib(self) -> int:
        return sum(lab.memory_mib for lab in self.labs)

    @property
    def plans(self) -> tuple[Plan, ...]:
        return tuple(lab.plan for lab in self.labs)

    def lab(self, name: str) -> FleetLab:
        """The fleet's lab called `name`."""
        found = next((lab for lab in self.labs if lab.name == name), None)
        if found is None:
            names = ", ".join(lab.name for lab in self.labs)
            raise FleetError(f"the fleet has no lab {quoted(name)}", f"its labs are {names}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """`labctl fleet up --dry-run -o json`: stable keys; `labs` in name order."""
        return {
            "schema": FLEET_SCHEMA,
            "prefix": self.prefix,
            "count": self.count,
            "provider": self.provider,
            "subnet_prefixlen": self.subnet_prefixlen,
            "allowed_ranges": [str(net) for net in self.allowed],
            "memory_needed_mib": self.memory_needed_mib,
            "concurrency": self.concurrency.value,
            "reasoning": self.concurrency.to_dict(),
            "warnings": list(self.warnings),
            "placement": dict(self.placement) if self.placement else None,
            "labs": [lab.to_dict() for lab in self.labs],
        }


def allowed_ranges(provider: str, vbox_networks_conf: str | None = None) -> tuple[IPv4Network, ...]:
    """Where a fleet's subnets may come from, as the provider says (VirtualBox: its host-only
    ranges, where /etc/vbox/networks.conf, HostFacts.vbox_networks_conf, replaces the default)."""
    from labctl import registry  # noqa: PLC0415

    return registry.get(provider).fleet_ranges(vbox_networks_conf)


def networks_in_use(facts: HostFacts) -> tuple[IPv4Network, ...]:
    """The host's routed networks and interface networks, which a new lab subnet must not overlap.

    The default route is left out (it covers everything). Routes of labs that exist already are
    in here too: pin those labs with plan_fleet's `keep` so they keep their subnets.
    """
    found: set[IPv4Network] = set()
    for route in facts.routes or ():
        network = IPv4Network(route.network)
        if network.prefixlen:
            found.add(network)
    for address in facts.addresses or ():
        found.add(IPv4Network(f"{address.address}/{address.prefixlen}", strict=False))
    return tuple(sorted(found))


def lab_prefixlen(lab: Lab) -> int:
    """The smallest subnet that holds the lab: .0 network, .1 host, machines from .10, broadcast."""
    host_bits = (lab.machine_count + FIRST_MACHINE_OFFSET).bit_length()
    return min(SMALLEST_LAB_PREFIXLEN, 32 - host_bits)


def fleet_names(prefix: str, count: int) -> tuple[str, ...]:
    """`<prefix>-01` .. `<prefix>-NN`, zero-padded to the width of the count (at least 2)."""
    if count < 1:
        raise FleetError(f"a fleet of {count} labs has no lab", "give --count 1 or more")
    width = max(NAME_WIDTH_MIN, len(str(count)))
    longest = f"{prefix}-{count:0{width}d}"
    if len(longest) > NAME_MAX:
        room = NAME_MAX - width - 1
        raise FleetError(
            f"fleet lab names like {longest!r} are {len(longest)} characters; a lab name has "
            f"at most {NAME_MAX}",
            f"use a prefix of at most {room} characters (--prefix)",
        )
    if not DNS_LABEL_RE.match(longest):
        raise FleetError(
            f"prefix {quoted(prefix)} does not make lab names like {quoted(longest)}: "
            "a lab name is a DNS "
            "label (lowercase letters, digits and '-', starting with a letter)",
            "give --prefix like `team` or `ws-k8s`",
        )
    return tuple(f"{prefix}-{i:0{width}d}" for i in range(1, count + 1))


def _private_parts(allowed: Sequence[IPv4Network]) -> list[IPv4Network]:
    parts: list[IPv4Network] = []
    for network in allowed:
        for private in PRIVATE_RANGES:
            if network.subnet_of(private):
                parts.append(network)
            elif private.subnet_of(network):
                parts.append(private)
    return list(ipaddress.collapse_addresses(parts))


def _free_blocks(allowed: Sequence[IPv4Network], avoid: Sequence[IPv4Network]) -> list[IPv4Network]:
    """The private parts of `allowed` minus everything in `avoid`, in address order."""
    blocks = _private_parts(allowed)
    for taken in avoid:
        remaining: list[IPv4Network] = []
        for block in blocks:
            if not block.overlaps(taken):
                remaining.append(block)
            elif not block.subnet_of(taken):
                remaining.extend(block.address_exclude(taken))
        blocks = remaining
    return sorted(blocks)


def _subnets(blocks: Sequence[IPv4Network], prefixlen: int) -> Iterator[IPv4Network]:
    for block in blocks:
        if block.prefixlen <= prefixlen:
            yield from block.subnets(new_prefix=prefixlen)


def _capacity(blocks: Sequence[IPv4Network], prefixlen: int) -> int:
    return sum(2 ** (prefixlen - b.prefixlen) for b in blocks if b.prefixlen <= prefixlen)


def _fleet_lab(base: Lab, name: str, cidr: IPv4Network) -> Lab:
    data = base.model_dump()
    data["name"] = name
    data["network"] = {"cidr": str(cidr)}
    try:
        lab = Lab.model_validate(data)
    except ValidationError as exc:
        raise FleetError(
            f"lab {name} of the fleet is not a valid lab",
            "check the spec with `labctl validate`",
            details=[f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()],
        ) from None
    problems = cross_field_problems(lab)
    if problems:
        raise FleetError(
            f"lab {name} of the fleet is not a valid lab",
            "check the spec with `labctl validate`",
            details=[f"{'.'.join(map(str, loc))}: {text}" for loc, text in problems],
        )
    return lab


def _kept_subnets(
    names: Sequence[str], lab: Lab, keep: Mapping[str, IPv4Network | str]
) -> dict[str, IPv4Network]:
    kept: dict[str, IPv4Network] = {}
    for name in names:
        if name not in keep:
            continue
        subnet = IPv4Network(str(keep[name]))
        room = subnet.num_addresses - 1 - FIRST_MACHINE_OFFSET
        if room < lab.machine_count:
            raise FleetError(
                f"lab {name} exists with {subnet}, which holds {max(room, 0)} machines; the "
                f"spec now has {lab.machine_count}",
                f"destroy {name} (`labctl destroy {name}`) so the fleet gives it a larger subnet",
            )
        clash = next((other for other, net in kept.items() if net.overlaps(subnet)), None)
        if clash is not None:
            raise FleetError(
                f"labs {clash} and {name} both hold {subnet}",
                "destroy one of them so the fleet can give it a subnet of its own",
            )
        kept[name] = subnet
    return kept


def plan_fleet(
    lab: Lab,
    count: int,
    prefix: str | None = None,
    *,
    allowed: Sequence[IPv4Network] | None = None,
    avoid: Sequence[IPv4Network] = (),
    keep: Mapping[str, IPv4Network | str] | None = None,
    host_free_mib: int | None = None,
    host_cpus: int | None = None,
    max_parallel: int | None = None,
) -> FleetPlan:
    """Expand `lab` into `count` labs named `<prefix>-01..` (prefix: the lab's name if None).

    allowed: ranges the subnets may come from (None: `allowed_ranges(lab.provider)`); avoid:
    networks in use on the host (`networks_in_use`); keep: lab name -> the subnet an existing lab
    of this fleet already has; host_free_mib/host_cpus: of the host running the labs (None:
    unknown), for the boot concurrency; max_parallel: the user's override of it.
    """
    if not registry.get(lab.provider).boots_machines:
        raise FleetError(
            f"a fleet makes {count} labs of new machines, and provider {lab.provider} uses "
            "machines that exist (one lab's `machines:`)",
            "give each group of machines its own lab.yaml and run `labctl up` in each, or use a "
            "provider that boots machines",
        )
    names = fleet_names(prefix or lab.name, count)
    ranges = tuple(allowed) if allowed is not None else allowed_ranges(lab.provider)
    prefixlen = lab_prefixlen(lab)
    kept = _kept_subnets(names, lab, keep or {})
    blocks = _free_blocks(ranges, [*avoid, *kept.values()])
    needed = count - len(kept)
    capacity = _capacity(blocks, prefixlen)
    if capacity < needed:
        shown = ", ".join(str(r) for r in ranges) or "no range"
        size = 2 ** (32 - prefixlen)
        raise FleetError(
            f"{needed} labs of /{prefixlen} ({lab.machine_count} machines from "
            f".{FIRST_MACHINE_OFFSET}, {size} addresses each) need {needed} free subnets; "
            f"the allowed ranges ({shown}) hold {capacity}"
            + (f" beside the {len(avoid)} networks in use" if avoid else ""),
            registry.get(lab.provider).fleet_no_fit_hint(),
        )
    fresh = _subnets(blocks, prefixlen)
    labs = tuple(
        FleetLab(i, registry.plan_lab(_fleet_lab(lab, name, kept.get(name) or next(fresh))))
        for i, name in enumerate(names, start=1)
    )
    _check_bridges(labs)
    concurrency = boot_concurrency(
        labs[0].memory_mib, count, host_free_mib, host_cpus, max_parallel
    )
    return FleetPlan(
        prefix=prefix or lab.name,
        labs=labs,
        subnet_prefixlen=prefixlen,
        allowed=ranges,
        concurrency=concurrency,
        warnings=_memory_warnings(labs, host_free_mib),
    )


def _check_bridges(labs: Sequence[FleetLab]) -> None:
    """lxc bridge names are cut to 15 characters with a 4-hex digest: no two labs may share one."""
    seen: dict[str, str] = {}
    for lab in labs:
        bridge = lab.plan.network.bridge
        if bridge is None:
            continue
        if bridge in seen:
            raise FleetError(
                f"labs {seen[bridge]} and {lab.name} would share the host bridge {bridge} "
                "(interface names are cut to 15 characters)",
                "use a shorter --prefix (lab names of at most 12 characters keep full bridge "
                "names)",
            )
        seen[bridge] = lab.name


def _memory_warnings(labs: Sequence[FleetLab], host_free_mib: int | None) -> tuple[str, ...]:
    if host_free_mib is None or not labs:
        return ()
    lab = labs[0].lab
    provider = labs[0].plan.provider
    if provider.machines_remote(lab):
        return ()  # the machines live on the hypervisor, not here
    need = sum(fleet_lab.memory_mib for fleet_lab in labs)
    if need <= host_free_mib:
        return ()
    return (provider.fleet_memory_warning(len(labs), need, host_free_mib),)
