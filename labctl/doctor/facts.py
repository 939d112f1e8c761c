"""What doctor knows about the host: values gathered once (doctor.gather), judged purely."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.doctor.parse import CgroupLayout


@dataclass(frozen=True)
class VagrantPlugin:
    """An installed Vagrant plugin (`vagrant plugin list`)."""

    name: str
    version: str


@dataclass(frozen=True)
class InstalledBox:
    """A box Vagrant has locally (`vagrant box list`); architecture only from Vagrant 2.4 on."""

    name: str
    provider: str
    version: str
    architecture: str | None = None


@dataclass(frozen=True)
class DiskSpace:
    """Free space where Vagrant will write: `purpose` is "boxes" or "machines".

    `path` is where the data goes; `measured_at` the nearest existing directory (the path itself
    may not exist yet); `device` tells two places on one file system apart from two on different
    ones, so their needs are added up only when they share a device.
    """

    purpose: str
    path: str
    measured_at: str
    free_mib: int
    device: int


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the host's main table (`ip -j route`)."""

    network: str
    dev: str


@dataclass(frozen=True)
class RemoteHost:
    """The other host a lab's machines run on, as its own daemon reports it (a remote libvirt
    hypervisor: `virsh -c URI nodeinfo / nodememstats / capabilities`); None: not told."""

    where: str
    cpus: int | None
    free_mib: int | None
    kvm: bool | None


@dataclass(frozen=True)
class LibvirtNetwork:
    """One libvirt network (`virsh net-dumpxml`): its bridge and IPv4 network, if it has one."""

    name: str
    bridge: str | None
    cidr: str | None


@dataclass(frozen=True)
class HostAddress:
    """One IPv4 address on a host interface (`ip -j addr`)."""

    ifname: str
    address: str
    prefixlen: int


@dataclass(frozen=True)
class HostFacts:
    """Everything doctor needs to know about the host, gathered once by `gather_facts`.

    None means "could not tell" (a tool missing, a probe failing or not run for this provider);
    `probe_errors` says why for the probes that failed, so a finding can quote the tool.
    """

    system: str
    arch: str
    euid: int | None
    vagrant_path: str | None
    vagrant_version: str | None
    vagrant_plugins: tuple[VagrantPlugin, ...] | None
    boxes: tuple[InstalledBox, ...] | None
    vboxmanage_path: str | None
    virtualbox_version: str | None
    virtualbox_machine_folder: str | None
    virsh_path: str | None
    libvirtd_path: str | None
    libvirt_reachable: bool | None
    lxc_create_path: str | None
    lxc_info_path: str | None
    lxc_version: str | None
    iptables_path: str | None
    sudo_nopasswd: bool | None
    cgroup_layout: CgroupLayout | None
    cgroup_controllers: frozenset[str]
    cpu_virt_flags: frozenset[str] | None
    kvm_device: bool
    free_memory_mib: int | None
    disks: tuple[DiskSpace, ...]
    vbox_networks_conf: str | None
    routes: tuple[Route, ...] | None
    addresses: tuple[HostAddress, ...] | None
    probe_errors: tuple[tuple[str, str], ...] = ()
    # What `labctl box build` needs (debootstrap) and vagrant-lxc calls (brctl); None: missing.
    debootstrap_path: str | None = None
    brctl_path: str | None = None
    # libvirt's networks at qemu:///system, asked only for a libvirt lab; None: not asked.
    libvirt_networks: tuple[LibvirtNetwork, ...] | None = None
    # Windows: a hypervisor (Hyper-V, WSL2, Memory Integrity) runs under Windows and holds VT-x.
    hypervisor_present: bool | None = None
    # The host the lab's machines run on when it is not this one; None: they run here.
    remote_host: RemoteHost | None = None

    def probe_error(self, probe: str) -> str:
        """What went wrong with `probe` ("" when nothing did)."""
        return next((text for name, text in self.probe_errors if name == probe), "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (`labctl doctor -o json`)."""
        data = asdict(self)
        data["cgroup_controllers"] = sorted(self.cgroup_controllers)
        data["cpu_virt_flags"] = (
            None if self.cpu_virt_flags is None else sorted(self.cpu_virt_flags)
        )
        data["probe_errors"] = dict(self.probe_errors)
        return data
