"""`provider: ssh`: the lab's own machines and jump hosts in lab.yaml, and their rules (pure).

A lab on existing machines lists them (`machines:`) instead of counting servers and agents; the
counts follow from the roles, so everything downstream (phases, datastore, checks) reads them as
for any lab. A machine is reached at `address`/`port` as `user` with `key`, possibly through a
named jump host; K3s uses `node_ip` (the address itself when it is an IPv4 address).
Whether a key file exists and who may read it is judged where files are read (spec.loader).
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from labctl.messages import cut, quoted

if TYPE_CHECKING:
    from labctl.spec.model import Lab

# Kept in step with labctl.spec.model (which imports this module, so it cannot be imported here).
_DNS_LABEL_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
# No spaces, quotes or shell characters: the path is written into ssh options and the inventory.
_KEY_RE = re.compile(r"^[A-Za-z0-9._/~+@-]+$")
SSH_PROVIDER = "ssh"  # the provider that reads `machines:` and `jump_hosts:`
MachineRole = Literal["server", "agent", "gitlab"]


def check_user(value: str) -> str:
    """An SSH login name, as lab.yaml's users are checked everywhere (also libvirt.username)."""
    if not _USER_RE.match(value):
        raise ValueError(
            f"{quoted(value)} is not a user name; use letters, digits, '.', '_' and '-' "
            "(at most 32), starting with a letter or '_'"
        )
    return value


class _Model(BaseModel):
    # Built on first use, not at import: a validate then makes 7 validators (the Lab's holds
    # its parts) instead of 21, one per model up front (~5 ms of every validate).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Reach(_Model):
    """How to log in to a host over SSH."""

    address: str = Field(
        description="Host name or IPv4 address to connect to", json_schema_extra={"format": "host"}
    )
    port: int = Field(default=22, ge=1, le=65535, description="SSH port")
    user: str = Field(description="User to log in as (needs passwordless sudo on lab machines)")
    key: str | None = Field(
        default=None,
        description="Private key file (/... or ~/...); unset: your SSH agent and default keys",
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" in value:
            user, _, host = value.rpartition("@")
            raise ValueError(
                f"{quoted(value)} holds a user; write `address: {cut(host)}` and "
                f"`user: {cut(user)}`"
            )
        if "://" in value or ":" in value:
            raise ValueError(
                f"{quoted(value)} is not a host name or IPv4 address; give the port as `port:`"
            )
        if not HOSTNAME_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a host name or IPv4 address, e.g. 10.0.0.21 or pi-1.lan"
            )
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return check_user(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _KEY_RE.match(value):
            raise ValueError(
                f"{quoted(value)} has characters labctl cannot pass to ssh safely; use letters, "
                "digits and ./_~+@- (rename the file or link it)"
            )
        if value is not None and not value.startswith(("/", "~/")):
            raise ValueError(
                f"{quoted(value)} is relative; write the key's path from / or ~/, "
                f"e.g. ~/.ssh/{cut(value.rpartition('/')[2])}"
            )
        return value


class JumpHost(_Reach):
    """A host labctl connects through to reach machines it cannot route to (ProxyJump)."""


class OwnMachine(_Reach):
    """A machine of the lab that already exists; labctl installs K3s on it and, on destroy,
    takes everything it installed away again."""

    name: str = Field(
        description="The machine's name in the lab: its K8s node name, inventory and known_hosts "
        "name (a DNS label)",
        json_schema_extra={"pattern": _DNS_LABEL_RE.pattern, "maxLength": 63},
    )
    role: MachineRole = Field(description="server, agent or gitlab")
    jump: str | None = Field(default=None, description="Name of a jump host in jump_hosts")
    node_ip: str | None = Field(
        default=None,
        description="The address K3s uses for this node; default: `address` when that is an "
        "IPv4 address",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a DNS label (a Kubernetes node name); use lowercase "
                "letters, digits and '-', starting with a letter, at most 63"
            )
        return value

    @field_validator("node_ip")
    @classmethod
    def _node_ip(cls, value: str | None) -> str | None:
        if value is not None and _ipv4(value) is None:
            raise ValueError(f"{quoted(value)} is not an IPv4 address, e.g. 10.0.0.21")
        return value

    @property
    def k3s_ip(self) -> str | None:
        """The address K3s advertises: `node_ip`, else `address` when it is an IPv4 address."""
        return self.node_ip or (self.address if _ipv4(self.address) else None)


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def count_roles(data: Any) -> Any:
    """Before validation: a lab that lists `machines:` gets `servers.count`/`agents.count` from
    their roles (unless it gives them, which `machine_problems` then compares)."""
    if not isinstance(data, dict) or not isinstance(data.get("machines"), list):
        return data
    roles = [m.get("role") for m in data["machines"] if isinstance(m, dict)]
    filled = dict(data)
    for key, role in (("servers", "server"), ("agents", "agent")):
        section = filled.get(key, {})
        if role == "server" and role not in roles:
            continue  # machine_problems says a server is missing; a count of 0 would not
        if isinstance(section, dict) and "count" not in section:
            filled[key] = {**section, "count": roles.count(role)}
    return filled


Problems = list[tuple[tuple[str | int, ...], str]]


def machine_problems(lab: Lab) -> Problems:
    """`machines:`/`jump_hosts:` of a lab whose provider reads them, against each other."""
    if not lab.machines:
        return [
            (
                ("machines",),
                "`provider: ssh` builds the lab on machines you list: add `machines:` with at "
                "least one `{name, role: server, address, user}`",
            )
        ]
    problems: Problems = []
    problems += _counts(lab)
    seen: dict[str, int] = {}
    for i, machine in enumerate(lab.machines):
        if machine.name in seen:
            problems.append(
                (
                    ("machines", i, "name"),
                    f"{quoted(machine.name)} is also machines[{seen[machine.name]}]; "
                    "give each machine its own name",
                )
            )
        seen.setdefault(machine.name, i)
        if machine.name in lab.jump_hosts:
            problems.append(
                (("machines", i, "name"), f"{quoted(machine.name)} is also a jump host's name")
            )
        if machine.jump is not None and machine.jump not in lab.jump_hosts:
            known = ", ".join(sorted(lab.jump_hosts)) or "none is defined"
            problems.append(
                (
                    ("machines", i, "jump"),
                    f"no jump host {quoted(machine.jump)} in jump_hosts ({known}); define it "
                    "there as `{address, user, key}`",
                )
            )
        if machine.k3s_ip is None:
            problems.append(
                (
                    ("machines", i, "address"),
                    f"{quoted(machine.address)} is a host name, so K3s needs the node's IPv4 "
                    "address: add `node_ip:` to this machine",
                )
            )
    for name in lab.jump_hosts:
        if not _DNS_LABEL_RE.match(name):
            problems.append(
                (("jump_hosts", name), f"{quoted(name)} is not a name; use a DNS label (bastion)")
            )
    problems += _endpoints(lab)
    return problems


def _counts(lab: Lab) -> Problems:
    roles: list[str] = [m.role for m in lab.machines]
    problems: Problems = []
    if "server" not in roles:
        problems.append((("machines",), "no machine has `role: server`; K3s needs one"))
    for key, role in (("servers", "server"), ("agents", "agent")):
        count = getattr(lab, key).count
        if count != roles.count(role) and role in roles:
            problems.append(
                (
                    (key, "count"),
                    f"{count} {key} given but machines: has {roles.count(role)} with "
                    f"`role: {role}`; remove {key}.count (the machines' roles count them)",
                )
            )
    gitlabs = [i for i, role in enumerate(roles) if role == "gitlab"]
    if lab.addons.gitlab.enabled and not gitlabs:
        problems.append(
            (("addons", "gitlab", "enabled"), "GitLab needs a machine with `role: gitlab`")
        )
    problems += [
        (
            ("machines", i, "role"),
            "GitLab is not enabled; set addons.gitlab.enabled: true or use role agent"
            if not lab.addons.gitlab.enabled
            else "the lab has one GitLab machine; give this one role agent",
        )
        for i in (gitlabs if not lab.addons.gitlab.enabled else gitlabs[1:])
    ]
    return problems


def _endpoints(lab: Lab) -> Problems:
    """Two machines at one address and port (through the same jump) are one machine twice."""
    problems: Problems = []
    seen: dict[tuple[str, int, str | None], int] = {}
    for i, machine in enumerate(lab.machines):
        key = (machine.address.lower(), machine.port, machine.jump)
        if key in seen:
            problems.append(
                (
                    ("machines", i, "address"),
                    f"{machine.address}:{machine.port} is also machines[{seen[key]}]; each "
                    "machine needs its own address or port",
                )
            )
        seen.setdefault(key, i)
    ips: dict[str, int] = {}
    for i, machine in enumerate(lab.machines):
        ip = machine.k3s_ip
        if ip is not None and ip in ips:
            where = "node_ip" if machine.node_ip else "address"
            problems.append(
                (
                    ("machines", i, where),
                    f"{ip} is also the node address of machines[{ips[ip]}]; every node needs "
                    "its own (set node_ip:)",
                )
            )
        if ip is not None:
            ips.setdefault(ip, i)
    return problems
