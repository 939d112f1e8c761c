"""Spec -> Plan: the machines, their addresses, the datastore and the phases `up` walks (pure).

The same Lab always gives the same Plan, and `Plan.to_dict` is stable, so plans can be diffed.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from labctl.catalogue import CATALOGUE
from labctl.spec.model import FIRST_MACHINE_OFFSET

if TYPE_CHECKING:
    from labctl.providers.base import Provider
    from labctl.spec.model import Lab

Datastore = Literal["sqlite", "etcd"]
Controller = Literal["host", "lab"]
# Hosts where Ansible cannot be the controller: its docs do not support Windows (WSL aside, which
# reports itself as linux) and ansible-runner needs a pty that Windows' Pythons lack.
NO_ANSIBLE_PLATFORMS = ("win32", "cygwin")


def resolve_controller(choice: str, platform: str) -> tuple[Controller, str]:
    """Where Ansible runs for lab.yaml's `controller:` on a host of `platform` (sys.platform),
    and why, in words for doctor and `up` (pure)."""
    runs_here = platform not in NO_ANSIBLE_PLATFORMS
    if choice == "host":
        return "host", "lab.yaml says controller: host"
    if choice == "lab":
        return "lab", "lab.yaml says controller: lab"
    if runs_here:
        return "host", f"auto: Ansible runs on this host ({platform})"
    return "lab", f"auto: Ansible does not run on {platform}, so it runs inside the lab"


class Role(StrEnum):
    """What a machine is for; the value is also its Ansible group."""

    SERVER = "server"
    AGENT = "agent"
    GITLAB = "gitlab"


@dataclass(frozen=True)
class Machine:
    """One VM of the lab."""

    name: str
    role: Role
    index: int
    ip: str
    cpus: int
    memory_mib: int
    box: str
    box_version: str | None

    @property
    def primary(self) -> bool:
        """Server 1 initialises the cluster; every other node joins it."""
        return self.role is Role.SERVER and self.index == 1


@dataclass(frozen=True)
class Phase:
    """A named step of `labctl up`; Ansible phases name the playbook tags they run."""

    name: str
    summary: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkPlan:
    """The lab's private network as Vagrant and Ansible need it."""

    cidr: str
    netmask: str
    prefixlen: int
    host_ip: str
    bridge: str | None = None  # lxc only: the host bridge labctl creates for the lab


@dataclass(frozen=True)
class Plan:
    """Everything `up` will create, derived from a Lab and nothing else."""

    lab: Lab
    provider: Provider  # what differs by kind of machine: ask it, never compare its name
    network: NetworkPlan
    machines: tuple[Machine, ...]
    datastore: Datastore
    phases: tuple[Phase, ...]
    checks: tuple[str, ...]
    controller: Controller = "host"  # where Ansible runs; `lab`: on the primary server

    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def box(self) -> str:
        """The lab's box: lab.yaml's `box:`, else the provider's default."""
        return self.lab.box or self.provider.default_box

    @property
    def servers(self) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.role is Role.SERVER)

    @property
    def agents(self) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.role is Role.AGENT)

    @property
    def gitlab(self) -> Machine | None:
        return next((m for m in self.machines if m.role is Role.GITLAB), None)

    @property
    def primary(self) -> Machine:
        return self.servers[0]

    @property
    def total_memory_mib(self) -> int:
        return sum(m.memory_mib for m in self.machines)

    @property
    def context(self) -> str:
        """The kubeconfig context name of this lab."""
        return f"labctl-{self.lab.name}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the plan, stable in key order and content."""
        return {
            "name": self.name,
            "provider": self.lab.provider,
            "network": {
                "cidr": self.network.cidr,
                "netmask": self.network.netmask,
                "host_ip": self.network.host_ip,
                "bridge": self.network.bridge,
            },
            "datastore": self.datastore,
            "k3s_version": self.lab.k3s.version,
            "context": self.context,
            "machines": [
                {
                    "name": m.name,
                    "role": m.role.value,
                    "ip": m.ip,
                    "cpus": m.cpus,
                    "memory_mib": m.memory_mib,
                    "box": m.box,
                    "box_version": m.box_version,
                }
                for m in self.machines
            ],
            "phases": [
                {"name": p.name, "summary": p.summary, "tags": list(p.tags)} for p in self.phases
            ],
            "checks": list(self.checks),
            "controller": self.controller,
        }


def _phases(lab: Lab, provider: Provider, controller: Controller) -> tuple[Phase, ...]:
    addons = ["demo app"]
    tags = ["gitops"]
    if lab.addons.argocd.enabled:
        addons.insert(0, "Argo CD")
        tags.insert(0, "argocd")
    if lab.addons.gitlab.enabled:
        addons.insert(0, "GitLab")
        tags.insert(0, "gitlab")
    servers = lab.servers.count
    if provider.boots_machines:
        phases = [
            Phase("preflight", "check the host: Vagrant, provider, CPU, RAM, disk, network"),
            Phase("render", "write Vagrantfile, inventory and ansible.cfg into the lab directory"),
            Phase("boot", "vagrant up every machine"),
            Phase("wait-ssh", "wait until every machine answers over SSH"),
        ]
    else:  # the machines exist: preflight judges them over SSH, nothing boots
        phases = [
            Phase(
                "preflight",
                "check each machine over SSH: host key, OS, arch, sudo, RAM, ports, node address",
            ),
            Phase("render", "write the inventory and ansible.cfg into the lab directory"),
            Phase("wait-ssh", "connect to every machine over SSH"),
        ]
    if controller == "lab":
        phases.append(
            Phase(
                "controller",
                "Ansible inside the lab: a venv with ansible-core on the first server, its key "
                "on every machine",
            )
        )
    phases += [
        Phase(
            "prepare", "OS prep: modules, sysctls, swap off, time sync, /etc/hosts", ("prepare",)
        ),
        Phase(
            "k3s-servers",
            "K3s server with kine/SQLite"
            if servers == 1
            else f"K3s servers: embedded etcd, server 1 initialises, {servers - 1} join",
            ("k3s_server",),
        ),
    ]
    if lab.agents.count:
        phases.append(Phase("k3s-agents", f"join {lab.agents.count} K3s agents", ("k3s_agent",)))
    phases += [
        Phase("kubeconfig", "fetch the kubeconfig into the lab directory", ("kubeconfig",)),
    ]
    if lab.access is not None:
        phases.append(
            Phase(
                "access",
                f"attendee key; {lab.access.account} on this host's sshd forwards to this lab only",
            )
        )
    phases += [
        Phase("addons", ", ".join(addons), tuple(tags)),
        Phase("checks", "smoke checks over SSH"),
    ]
    if provider.boots_machines:  # snapshots need a hypervisor
        phases.append(Phase("baseline", "snapshot every machine as baseline, for `labctl reset`"))
    return tuple(phases)


def _checks(lab: Lab) -> tuple[str, ...]:
    enabled = {
        "argocd": lab.addons.argocd.enabled,
        "gitlab": lab.addons.gitlab.enabled,
    }
    return tuple(
        c.name
        for c in CATALOGUE
        if c.name not in lab.checks.skip and all(enabled[addon] for addon in c.needs)
    )


def _spanning(addresses: list[ipaddress.IPv4Address]) -> ipaddress.IPv4Network:
    """The smallest IPv4 network holding every address (at least a /30)."""
    prefix = 30
    while prefix > 0:
        net = ipaddress.IPv4Network(f"{addresses[0]}/{prefix}", strict=False)
        if all(a in net for a in addresses):
            return net
        prefix -= 1
    return ipaddress.IPv4Network("0.0.0.0/0")


def make_plan(lab: Lab, provider: Provider, platform: str = sys.platform) -> Plan:
    """Expand a validated Lab into its Plan on `provider` (the lab's own, found by
    labctl.registry.plan_lab) for a host of `platform`, which decides `controller: auto`.
    Addresses: servers, then agents, then GitLab."""
    net = ipaddress.IPv4Network(lab.network.cidr)
    if lab.machines:  # the network the user's machines share: the smallest that holds them
        net = _spanning([ipaddress.IPv4Address(m.k3s_ip) for m in lab.machines if m.k3s_ip])
    box = lab.box or provider.default_box  # Plan.box says the same once the plan exists
    pools: list[tuple[Role, int, int, int]] = [
        (Role.SERVER, lab.servers.count, lab.servers.cpus, lab.servers.memory),
        (Role.AGENT, lab.agents.count, lab.agents.cpus, lab.agents.memory),
    ]
    gitlab = lab.addons.gitlab
    if gitlab.enabled:
        pools.append((Role.GITLAB, 1, gitlab.cpus, gitlab.memory))

    machines: list[Machine] = []
    own = {m.role: [o for o in lab.machines if o.role == m.role] for m in lab.machines}
    for role, count, cpus, memory in pools:
        for index in range(1, count + 1):
            if lab.machines:  # the user's own (provider ssh), with their names and addresses
                given = own[role.value][index - 1]
                name, ip = given.name, str(given.k3s_ip)
            else:
                name = (
                    f"{lab.name}-gitlab"
                    if role is Role.GITLAB
                    else f"{lab.name}-{role.value}-{index}"
                )
                ip = str(net.network_address + FIRST_MACHINE_OFFSET + len(machines))
            machines.append(Machine(name, role, index, ip, cpus, memory, box, lab.box_version))

    controller, _ = resolve_controller(lab.controller, platform)
    return Plan(
        lab=lab,
        provider=provider,
        network=NetworkPlan(
            cidr=str(net),
            netmask=str(net.netmask),
            prefixlen=net.prefixlen,
            host_ip=str(net.network_address + 1),
            bridge=provider.network_bridge(lab.name),
        ),
        machines=tuple(machines),
        datastore="sqlite" if lab.servers.count == 1 else "etcd",
        phases=_phases(lab, provider, controller),
        checks=_checks(lab),
        controller=controller,
    )
