"""The lab spec (lab.yaml, version 1) as pydantic models: defaults, types, per-field rules.

Rules that span fields (the subnet must hold every machine, check names exist) live in
`cross_field_problems`, so each problem still points at one field. Everything here is pure.

One file on purpose, a little over 500 lines: it is the lab.yaml schema, one document that
`labctl schema` exports whole, and its cross-field rules read the sections side by side.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from labctl.catalogue import CHECK_NAMES
from labctl.messages import cut, quoted
from labctl.spec.access import Access  # noqa: TC001 - pydantic reads it at run time
from labctl.spec.machines import (
    SSH_PROVIDER,
    JumpHost,
    OwnMachine,
    check_user,
    count_roles,
    machine_problems,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

# Providers are plug-ins (`labctl.providers` entry points); the spec only knows their names,
# read from the installed metadata without importing any provider.
PROVIDER_GROUP = "labctl.providers"
DEFAULT_PROVIDER = "virtualbox"
# `provider: auto`: the first provider doctor finds ready on this host, in provider_names()
# order; resolved at the edge (labctl.doctor.survey) before anything is planned.
AUTO_PROVIDER = "auto"


class ProviderSection:
    """Marks a section of lab.yaml that only one provider reads: the provider of the same name
    (`libvirt:`), or `owner` (`machines:` and `jump_hosts:` are the ssh provider's)."""

    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner


K3sComponent = Literal[
    "coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"
]

DEFAULT_K3S_VERSION = "v1.31.12+k3s1"
DEFAULT_ARGOCD_VERSION = "v2.14.11"
DEFAULT_GITLAB_VERSION = "17.11.7-ce.0"
DEFAULT_CIDR = "192.168.56.0/24"

K3S_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")
SEMVER_TAG_RE = re.compile(r"^v\d+\.\d+\.\d+$")
GITLAB_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+-ce\.\d+$")
DNS_LABEL_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
NAME_MAX = 20
# Machines get addresses from .10 up; .1 is the host's side of the lab network.
FIRST_MACHINE_OFFSET = 10
_MEMORY_RE = re.compile(r"^\s*(\d+)\s*(MiB|GiB|M|G|Mi|Gi)?\s*$")
_GIB_UNITS = ("GiB", "G", "Gi")


def parse_memory(value: Any) -> Any:
    """Memory in MiB: a whole number of MiB, or a string with a unit (512MiB, 2GiB, 2G)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 2048 or 2GiB, got {quoted(value)}")
    if isinstance(value, str):
        match = _MEMORY_RE.match(value)
        if not match:
            raise ValueError(
                f"{quoted(value)} is not a size; write MiB as a number (2048) or 2GiB/512MiB"
            )
        number, unit = int(match.group(1)), match.group(2)
        return number * 1024 if unit in _GIB_UNITS else number
    return value


MemoryMiB = Annotated[
    int,
    BeforeValidator(parse_memory),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\s*\d+\s*(MiB|GiB|M|G|Mi|Gi)?\s*$"},
            ],
            "description": "Memory in MiB, or with a unit: 512MiB, 2GiB",
        }
    ),
]


def _no_items() -> list[Any]:
    """A list field's default. Not `default_factory=list`: pydantic reads a factory's signature,
    and the builtin's is parsed from text by tokenize, whose first use compiles a large regular
    expression (~8 ms of every start)."""
    return []


class _Model(BaseModel):
    # Built on first use, not at import: a validate then makes 7 validators (the Lab's holds
    # its parts) instead of 21, one per model up front (~5 ms of every validate).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Pool(_Model):
    """Sizes shared by every kind of machine."""

    role_label: ClassVar[str] = "machine"
    min_memory_mib: ClassVar[int] = 512

    cpus: int = Field(default=2, ge=1, le=64, description="Virtual CPUs per machine")
    memory: MemoryMiB = Field(default=2048, description="Memory per machine in MiB")

    @field_validator("memory")
    @classmethod
    def _enough_memory(cls, value: int) -> int:
        if value < cls.min_memory_mib:
            raise ValueError(
                f"{value} MiB is below the {cls.min_memory_mib} MiB {cls.role_label} needs; "
                f"give it at least {cls.min_memory_mib}"
            )
        if value > 262144:
            raise ValueError(f"{value} MiB is more than 256 GiB; memory is in MiB (2GiB = 2048)")
        return value


class Servers(_Pool):
    """K3s servers: the control plane and its datastore."""

    role_label = "a server"
    min_memory_mib = 1024
    count: int = Field(default=1, ge=1, le=7, description="Number of K3s servers (1 or 3 for HA)")


class Agents(_Pool):
    """K3s agents: the worker nodes."""

    role_label = "an agent"
    min_memory_mib = 512
    count: int = Field(default=2, ge=0, le=20, description="Number of K3s agents")


class Network(_Model):
    """The lab's private network; every machine gets a static address in it."""

    cidr: str = Field(
        default=DEFAULT_CIDR,
        description="Private IPv4 network of the lab, e.g. 192.168.56.0/24",
    )

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{quoted(value)} is not an IPv4 network; write it like 192.168.56.0/24"
            ) from None
        if net.version != 4:
            raise ValueError(
                f"{quoted(value)} is IPv6; the lab network must be IPv4, like 192.168.56.0/24"
            )
        if str(net) != value:
            raise ValueError(f"{quoted(value)} has host bits set; did you mean {net}?")
        if net.prefixlen > 28:
            raise ValueError(
                f"/{net.prefixlen} is too small for a lab; use /28 or larger, e.g. /24"
            )
        if not net.is_private:
            raise ValueError(f"{value} is not a private network; use one like 192.168.56.0/24")
        return value


class K3s(_Model):
    """Which K3s to install and how."""

    version: str = Field(
        default=DEFAULT_K3S_VERSION,
        description="Exact K3s release, vX.Y.Z+k3sN",
        json_schema_extra={"pattern": K3S_VERSION_RE.pattern},
    )
    disable: list[K3sComponent] = Field(
        default_factory=_no_items, description="Packaged components to disable, e.g. [traefik]"
    )
    server_args: list[str] = Field(default_factory=_no_items, description="Extra K3s server flags")
    agent_args: list[str] = Field(default_factory=_no_items, description="Extra K3s agent flags")

    @field_validator("version")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not K3S_VERSION_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a pinned K3s release; write it like {DEFAULT_K3S_VERSION}"
            )
        return value


class ArgoCD(_Model):
    """Argo CD, installed into the cluster for GitOps."""

    enabled: bool = False
    version: str = Field(
        default=DEFAULT_ARGOCD_VERSION,
        description="Argo CD release tag, vX.Y.Z",
        json_schema_extra={"pattern": SEMVER_TAG_RE.pattern},
    )

    @field_validator("version")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not SEMVER_TAG_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not an Argo CD release tag; write it like v2.14.11"
            )
        return value


class GitLab(_Pool):
    """GitLab CE on its own machine, the Git server Argo CD syncs from."""

    role_label = "GitLab"
    min_memory_mib = 3072
    enabled: bool = False
    cpus: int = Field(default=4, ge=1, le=64, description="Virtual CPUs of the GitLab machine")
    memory: MemoryMiB = Field(default=8192, description="Memory of the GitLab machine in MiB")
    version: str = Field(
        default=DEFAULT_GITLAB_VERSION,
        description="GitLab CE omnibus package version, X.Y.Z-ce.N",
        json_schema_extra={"pattern": GITLAB_VERSION_RE.pattern},
    )

    @field_validator("version")
    @classmethod
    def _package(cls, value: str) -> str:
        if not GITLAB_VERSION_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a GitLab CE package version; write it like "
                f"{DEFAULT_GITLAB_VERSION}"
            )
        return value


class Addons(_Model):
    """Optional parts of the lab."""

    argocd: ArgoCD = Field(default_factory=ArgoCD)
    gitlab: GitLab = Field(default_factory=GitLab)


def _known_check(name: str) -> str:
    if name not in CHECK_NAMES:
        raise ValueError(f"{quoted(name)} is not a smoke check{_did_you_mean(name)}")
    return name


class Checks(_Model):
    """Which smoke checks run after `up`."""

    skip: list[Annotated[str, AfterValidator(_known_check)]] = Field(
        default_factory=_no_items,
        description="Names of smoke checks to skip",
        json_schema_extra={"items": {"enum": list(CHECK_NAMES)}},
    )


# A hypervisor's SSH address: a host name or an IPv4 address (IPv6 and anything else: `uri`).
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
SSH_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
# A key file as vagrant-libvirt reads it: absolute, ~/..., or a bare name inside ~/.ssh.
KEY_FILE_RE = re.compile(r"^[A-Za-z0-9._/~+-]+$")
# qemu URIs only (the lab's machines are KVM domains); no quotes, spaces or Ruby's `#{`.
LIBVIRT_URI_RE = re.compile(
    r"^qemu(\+[a-z0-9]+)?://[A-Za-z0-9._@:\[\]%-]*/(system|session)(\?[A-Za-z0-9._~/=&%+-]*)?$"
)


class LibvirtConnection(_Model):
    """Where the libvirt provider creates the machines: this host (the default) or a remote one.

    The keys are vagrant-libvirt's own names, so a user who knows its docs can write them by
    hand, and `labctl fleet` fills them in when it places a lab on a hypervisor. labctl renders
    them as one explicit `qemu+ssh://` URI (see Vagrantfile.j2), keeping the SSH host-key check.
    """

    host: str | None = Field(
        default=None,
        description="Remote hypervisor (host name or IPv4 address) reached over SSH; unset: "
        "this machine",
        json_schema_extra={"pattern": HOSTNAME_RE.pattern},
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the hypervisor's SSH (or libvirtd TLS) service",
    )
    username: str | None = Field(
        default=None, description="SSH user on the hypervisor (needs access to libvirt)"
    )
    id_ssh_key_file: str | None = Field(
        default=None,
        description="SSH private key for the hypervisor: absolute, ~/..., or a name in ~/.ssh",
    )
    connect_via_ssh: bool = Field(
        default=True,
        description="Reach the hypervisor's libvirt over SSH (qemu+ssh); false (TLS, qemu://) "
        "is refused: vagrant-libvirt reaches remote machines only through SSH",
    )
    uri: str | None = Field(
        default=None,
        description="A full libvirt URI instead of host/port/username, e.g. "
        "qemu+ssh://labs@hv1/system",
    )

    @field_validator("host")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "://" in value:
            raise ValueError(
                f"{quoted(value)} is a URI; write it as libvirt.uri, or give only the host"
            )
        if "@" in value:
            user, _, host = value.rpartition("@")
            raise ValueError(
                f"{quoted(value)} holds a user; write `host: {cut(host)}` and "
                f"`username: {cut(user)}`"
            )
        if not HOSTNAME_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a host name or IPv4 address; for IPv6 write libvirt.uri"
            )
        return value

    @field_validator("username")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return value if value is None else check_user(value)

    @field_validator("id_ssh_key_file")
    @classmethod
    def _key_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not KEY_FILE_RE.match(value):
            raise ValueError(
                f"{quoted(value)} has characters a key path in the Vagrantfile cannot keep; "
                "use letters, digits and ./_~+-"
            )
        if "/" in value and not value.startswith(("/", "~/")):
            raise ValueError(
                f"{quoted(value)} is relative; vagrant-libvirt would look for ~/.ssh/{value}. "
                "Write an absolute path, ~/..., or a bare name inside ~/.ssh"
            )
        return value

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None and not LIBVIRT_URI_RE.match(value):
            raise ValueError(
                f"{quoted(value)} is not a qemu libvirt URI; write it like "
                "qemu+ssh://labs@hv1.example.com/system"
            )
        return value

    @property
    def remote(self) -> bool:
        """True when the machines live on another host than the one running Vagrant."""
        return self.host is not None or self.uri is not None


@cache
def provider_entry_points() -> tuple[EntryPoint, ...]:
    """The installed `labctl.providers` entry points. Finding them reads every installed
    distribution's metadata (~4 ms in a plain install), so it is done once per run: validate
    needs both the names and the lab's provider."""
    from importlib.metadata import entry_points  # noqa: PLC0415

    return tuple(entry_points(group=PROVIDER_GROUP))


@cache
def provider_names() -> tuple[str, ...]:
    """Installed providers: the default first, then labctl's own, then any others (each group
    by name), so messages list them in the README's order."""
    found = provider_entry_points()
    own = sorted(ep.name for ep in found if ep.value.startswith("labctl."))
    others = sorted(ep.name for ep in found)
    return tuple(dict.fromkeys([n for n in (DEFAULT_PROVIDER,) if n in own] + own + others))


class Lab(_Model):
    """A lab: a K3s cluster of servers and agents on VMs, plus optional addons."""

    name: str = Field(
        description="Lab name: a DNS label of at most 20 characters; prefixes VM and context names",
        json_schema_extra={"pattern": DNS_LABEL_RE.pattern, "maxLength": NAME_MAX},
    )
    provider: str = Field(
        default=DEFAULT_PROVIDER,
        description="Vagrant provider",
        json_schema_extra=lambda schema: schema.update(enum=[*provider_names(), AUTO_PROVIDER]),
    )
    box: str | None = Field(
        default=None, description="Vagrant box; the provider's default if unset"
    )
    box_version: str | None = Field(default=None, description="Vagrant box version constraint")
    boot_timeout: int = Field(
        default=600, ge=60, le=7200, description="Seconds Vagrant waits for a machine to boot"
    )
    network: Network = Field(default_factory=Network)
    k3s: K3s = Field(default_factory=K3s)
    servers: Servers = Field(default_factory=Servers)
    agents: Agents = Field(default_factory=Agents)
    addons: Addons = Field(default_factory=Addons)
    checks: Checks = Field(default_factory=Checks)
    libvirt: Annotated[LibvirtConnection, ProviderSection()] = Field(
        default_factory=LibvirtConnection,
        description="libvirt provider only: the hypervisor to create the machines on",
    )
    machines: Annotated[list[OwnMachine], ProviderSection(SSH_PROVIDER)] = Field(
        default_factory=_no_items,
        description="ssh provider only: the existing machines of the lab (servers and agents "
        "are counted from their roles)",
    )
    jump_hosts: Annotated[dict[str, JumpHost], ProviderSection(SSH_PROVIDER)] = Field(
        default_factory=dict,
        description="ssh provider only: hosts to connect through, by the name machines give",
    )
    access: Access | None = Field(
        default=None,
        description="Attendees reach this lab from their own laptops through this host's sshd",
    )
    controller: Literal["auto", "host", "lab"] = Field(
        default="auto",
        description="Where Ansible runs: on this host, or inside the lab on the first server "
        "(what Windows needs: Ansible does not run there); auto: lab on Windows, else host",
    )

    _count_roles = model_validator(mode="before")(count_roles)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > NAME_MAX:
            raise ValueError(f"{quoted(value)} is {len(value)} characters; use at most {NAME_MAX}")
        if not DNS_LABEL_RE.match(value):
            suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "demo"
            if not suggestion[0].isalpha():
                suggestion = f"lab-{suggestion}"
            raise ValueError(
                f"{quoted(value)} is not a DNS label; use lowercase letters, digits and '-', "
                f"starting with a letter, e.g. {suggestion[:NAME_MAX]!r}"
            )
        return value

    @property
    def machine_count(self) -> int:
        return self.servers.count + self.agents.count + int(self.addons.gitlab.enabled)

    @field_validator("provider")
    @classmethod
    def _installed_provider(cls, value: str) -> str:
        known = (*provider_names(), AUTO_PROVIDER)
        if value not in known:
            # Worded as pydantic's own literal error, so the loader says it the same way.
            raise PydanticCustomError(
                "literal_error",
                "Input should be {expected}",
                {"expected": " or ".join(repr(n) for n in known)},
            )
        return value


def cross_field_problems(lab: Lab) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules that need more than one field, each reported at the field a user should change."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    net = ipaddress.ip_network(lab.network.cidr)
    room = net.num_addresses - 1 - FIRST_MACHINE_OFFSET  # minus broadcast; from .10 up
    if lab.machine_count > room:
        needed_prefix = 32 - (lab.machine_count + FIRST_MACHINE_OFFSET + 1).bit_length()
        problems.append(
            (
                ("network", "cidr"),
                f"{lab.network.cidr} holds {max(room, 0)} lab machines (addresses from "
                f".{FIRST_MACHINE_OFFSET} up) but the lab has {lab.machine_count}; "
                f"use a /{needed_prefix} or larger",
            )
        )
    if lab.k3s.disable.count("traefik") and lab.addons.argocd.enabled:
        index = lab.k3s.disable.index("traefik")
        problems.append(
            (
                ("k3s", "disable", index),
                "Argo CD is served through Traefik's Ingress; keep traefik or disable argocd",
            )
        )
    # A section given for another provider is one problem; its own keys are not judged then.
    foreign = _provider_section_problems(lab)
    problems += foreign or _libvirt_problems(lab)
    if not foreign and lab.provider == _section_owner("machines"):
        problems += machine_problems(lab)
    return problems


def _given(section: object) -> bool:
    """Whether a section says anything: a list or mapping with entries, or a section any key of
    which differs from its default (what a user, or a placement, set)."""
    if not isinstance(section, BaseModel):
        return bool(section)
    return any(
        getattr(section, key) != info.default for key, info in type(section).model_fields.items()
    )


def _section_owner(key: str) -> str | None:
    """The provider that reads section `key`, if only one does."""
    marks = Lab.model_fields[key].metadata
    return next((m.owner or key for m in marks if isinstance(m, ProviderSection)), None)


def _foreign_sections(lab: Lab) -> list[tuple[str, str]]:
    """Provider sections given for another provider than the one that reads them: (key, owner)."""
    found = []
    for key in Lab.model_fields:
        owner = _section_owner(key)
        if owner is not None and owner != lab.provider and _given(getattr(lab, key)):
            found.append((key, owner))
    return found


def _provider_section_problems(lab: Lab) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        (
            (key,),
            f"only the {owner} provider reads `{key}:`; this lab uses {lab.provider}: "
            f"remove the section or set `provider: {owner}`",
        )
        for key, owner in _foreign_sections(lab)
    ]


def _libvirt_problems(lab: Lab) -> list[tuple[tuple[str | int, ...], str]]:
    """The `libvirt:` keys that contradict each other or the provider, each at its own key."""
    conn = lab.libvirt
    # Keys whose value differs from the default: what a user (or a fleet placement) set.
    given = {
        key
        for key, info in LibvirtConnection.model_fields.items()
        if getattr(conn, key) != info.default
    }
    if not given:
        return []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    host_keys = ("host", "port", "username", "id_ssh_key_file")
    if conn.uri is not None:
        problems += [
            (("libvirt", key), f"give either libvirt.uri or libvirt.{key}, not both")
            for key in (*host_keys, "connect_via_ssh")
            if key in given
        ]
        scheme, _, rest = conn.uri.partition("://")
        if not problems and not scheme.endswith("+ssh") and not rest.startswith("/"):
            problems.append((("libvirt", "uri"), _unreachable(f"{scheme}://")))
        return problems
    if conn.host is None:
        problems += [
            (
                ("libvirt", key),
                f"libvirt.{key} is for a remote hypervisor; add libvirt.host (or libvirt.uri)",
            )
            for key in host_keys[1:]
            if key in given
        ]
    elif not conn.connect_via_ssh:
        problems.append((("libvirt", "connect_via_ssh"), _unreachable("false (qemu://, TLS)")))
    return problems


def _unreachable(what: str) -> str:
    """Why a remote hypervisor reached other than over SSH is refused.

    vagrant-libvirt sets a ProxyCommand through the hypervisor only for an SSH connection
    (its Config#finalize!); otherwise Vagrant dials a machine's management address, which
    exists only on the hypervisor, and `vagrant up` waits out boot_timeout.
    """
    return (
        f"{what} cannot reach the machines: vagrant-libvirt tunnels to them through the "
        "hypervisor only over SSH; connect with qemu+ssh:// (connect_via_ssh: true)"
    )


def _did_you_mean(name: str) -> str:
    import difflib  # noqa: PLC0415 - only needed on the error path

    close = difflib.get_close_matches(name, CHECK_NAMES, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; the README's smoke-check table names them"
