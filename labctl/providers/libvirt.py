"""libvirt through vagrant-libvirt: KVM VMs on this host or on a remote hypervisor."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from labctl.doctor.facts import LibvirtNetwork
from labctl.doctor.findings import (
    FIRMWARE_FIX,
    Finding,
    find_plugin,
    linux_only,
    plugin_finding,
)
from labctl.doctor.judges import MEMORY_HEADROOM
from labctl.doctor.parse import normalize_arch
from labctl.providers.base import Provider
from labctl.render import ruby_string

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator, Mapping, Sequence

    from labctl.doctor import HostFacts
    from labctl.plan import Plan
    from labctl.providers.base import Rule, Step
    from labctl.spec.model import Lab, LibvirtConnection
    from labctl.tools.vagrant import VagrantLab


class Libvirt(Provider):
    name = "libvirt"
    label = "libvirt (KVM)"
    # bento builds Ubuntu 24.04 for libvirt too: the same noble the other providers get, and a
    # maintained build (roboxes' generic/* stalled before 24.04 and pins public DNS servers).
    default_box = "bento/ubuntu-24.04"
    vagrant_block = "vagrant/libvirt.rb.j2"
    vagrant_preamble = "vagrant/libvirt-preamble.rb.j2"
    # vagrant-libvirt creates domains in parallel itself; Vagrant's own batch action handles it.
    boots_together = True
    # vagrant-libvirt guards the box-volume upload and the choice of a free virbrN with locks
    # that hold only inside one Vagrant process: a second lab's `vagrant up` could build its
    # disks on a half-uploaded box volume or take the same bridge. The first lab of a fleet
    # adds the box and its network alone; the others follow in parallel.
    labs_boot_together = False
    config_section = "libvirt"
    places_remotely = True
    host_interface_prefixes: ClassVar[tuple[str, ...]] = ("virbr",)

    def vagrant_context(self, lab: Lab) -> Mapping[str, object]:
        remote = lab.libvirt.remote
        return {
            "libvirt_uri": libvirt_uri(lab.libvirt) if remote else None,
            "libvirt_where": libvirt_where(lab.libvirt) if remote else "",
        }

    def machines_remote(self, lab: Lab) -> bool:
        return lab.libvirt.remote

    def host_probes(self, lab: Lab | None = None) -> Mapping[str, tuple[list[str], float]]:
        # An answer can take seconds, so libvirtd is asked only for a libvirt lab: this host's,
        # or the remote hypervisor's over the same SSH connection vagrant-libvirt will use.
        uri = hypervisor_uri(lab.libvirt) if lab is not None and lab.libvirt.remote else None
        probes = {
            "libvirt": (["virsh", "-c", uri or LOCAL_URI, "version"], LIBVIRT_TIMEOUT),
            "libvirt-networks": (networks_probe(uri or LOCAL_URI), LIBVIRT_TIMEOUT * 2),
        }
        if uri is not None:  # this host's CPUs, memory and /dev/kvm are not the machines'
            probes |= {
                "remote-cpus": (["virsh", "-c", uri, "nodeinfo"], LIBVIRT_TIMEOUT),
                "remote-memory": (["virsh", "-c", uri, "nodememstats"], LIBVIRT_TIMEOUT),
                "remote-kvm": (["virsh", "-c", uri, "capabilities"], LIBVIRT_TIMEOUT),
            }
        return probes

    def setup_on(self, facts: HostFacts) -> str | None:
        if facts.system not in {"Linux", ""} or not facts.kvm_device:
            return None  # lv.driver = "kvm": no KVM, no libvirt lab
        x86 = normalize_arch(facts.arch) in {"amd64", "386"}
        if x86 and facts.cpu_virt_flags is not None and not facts.cpu_virt_flags:
            return None  # /dev/kvm without VT-x/AMD-V (a VM without nested virtualization)
        packages = []
        if facts.vagrant_path is None:
            packages.append("vagrant")
        if facts.vagrant_path is None or find_plugin(facts, "vagrant-libvirt") is None:
            packages.append("vagrant-libvirt")
        if facts.virsh_path is None or facts.libvirtd_path is None:
            packages += ["libvirt-daemon-system", "libvirt-clients", "qemu-system-x86"]
        return f"sudo apt install {' '.join(packages)}" if packages else ""

    def preflight_rules(self) -> Sequence[Rule]:
        return (_provider, _libvirt, _cpu_virt, _remote_memory, _networks)

    def before_boot(self, plan: Plan, vagrant: VagrantLab, on_step: Step) -> None:
        """Refuse domain names another lab's domains hold on the lab's libvirtd, this host's or
        the remote hypervisor's (labctl_<machine>)."""
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        del on_step
        uri = _uri_of(plan.lab)
        listed = _virsh("list", "--all", "--uuid", "--name", uri=uri)
        if listed.returncode != 0:
            return  # doctor's libvirt finding already says what is wrong with libvirtd
        wanted = {m.name: DOMAIN_PREFIX + m.name for m in plan.machines}
        on_host = vm_names.parse_virsh_list(listed.stdout)
        recorded = vm_names.recorded_ids(vagrant.lab_dir, self.name)
        problems = vm_names.foreign_machines(wanted, on_host, recorded)
        if problems:
            own = vm_names.left_behind(
                wanted, on_host, recorded, lambda uuid: _virsh("desc", uuid, uri=uri).stdout,
                machine_marker(vagrant.lab_dir),
            )  # fmt: skip
            vm_names.refuse_foreign(
                problems, "libvirt domain names taken", plan.lab.name, tuple(own),
                f"virsh -c '{uri}' undefine NAME --remove-all-storage",
            )  # fmt: skip

    def remove_left_behind(self, plan: Plan, lab_dir: Path) -> Iterator[str]:
        """Stop and undefine domains with this lab's names and its directory's marker that its
        `.vagrant/` no longer records, with their volumes and snapshot metadata."""
        from labctl.errors import BootError  # noqa: PLC0415
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        uri = _uri_of(plan.lab)
        listed = _virsh("list", "--all", "--uuid", "--name", uri=uri)
        if listed.returncode != 0:
            return  # doctor's libvirt finding already says what is wrong with libvirtd
        found = vm_names.left_behind(
            {m.name: DOMAIN_PREFIX + m.name for m in plan.machines},
            vm_names.parse_virsh_list(listed.stdout),
            vm_names.recorded_ids(lab_dir, self.name),
            lambda uuid: _virsh("desc", uuid, uri=uri).stdout,
            machine_marker(lab_dir),
        )
        for name, uuid in found.items():
            _virsh("destroy", uuid, uri=uri)  # fails harmlessly when the domain is not running
            gone = _virsh("undefine", uuid, "--remove-all-storage", "--snapshots-metadata", uri=uri)
            if gone.returncode != 0:
                raise BootError(
                    f"could not remove domain {name} ({uuid}) an earlier run of this lab left: "
                    f"{(gone.stderr or gone.stdout).strip()[-300:]}",
                    f"remove it by hand: virsh -c '{uri}' undefine {name} --remove-all-storage",
                )
            yield f"removed domain {name} ({uuid}), left by an earlier run of this lab"

    def machines_dir(self, facts: HostFacts) -> Path:
        del facts
        return Path("/var/lib/libvirt/images")  # the `default` storage pool vagrant-libvirt uses


def libvirt_uri(conn: LibvirtConnection) -> str | None:
    """The remote hypervisor's libvirt URI as a Ruby expression; None when it is this host.

    Written out rather than left to vagrant-libvirt's `host`/`connect_via_ssh`/`username`/
    `id_ssh_key_file`: the URI it builds from those ends in `no_verify=1`, switching off the SSH
    host-key check. A key path that is not absolute is expanded by Ruby when Vagrant reads the
    file (vagrant-libvirt would read `~/x` as `~/.ssh/~/x`), so the render stays pure.
    """
    if conn.uri is not None:
        return ruby_string(conn.uri)
    if conn.host is None:
        return None
    scheme = "qemu+ssh" if conn.connect_via_ssh else "qemu"
    user = f"{conn.username}@" if conn.username else ""
    port = f":{conn.port}" if conn.port else ""
    base = f"{scheme}://{user}{conn.host}{port}/system"
    key = conn.id_ssh_key_file
    if key is None:
        return ruby_string(base)
    if key.startswith("/"):
        return ruby_string(f"{base}?keyfile={key}")
    home_path = key if key.startswith("~/") else f"~/.ssh/{key}"
    opening = ruby_string(base + "?keyfile=")[:-1]  # the literal without its closing quote
    return f'{opening}#{{File.expand_path({ruby_string(home_path)})}}"'


def hypervisor_uri(conn: LibvirtConnection) -> str:
    """The remote hypervisor's libvirt URI as `virsh -c` takes it: libvirt_uri's, with the key
    path expanded here as Ruby expands it when Vagrant reads the Vagrantfile."""
    if conn.uri is not None:
        return conn.uri
    user = f"{conn.username}@" if conn.username else ""
    port = f":{conn.port}" if conn.port else ""
    base = f"qemu+ssh://{user}{conn.host}{port}/system"
    key = conn.id_ssh_key_file
    if key is None:
        return base
    if not key.startswith(("/", "~/")):
        key = f"~/.ssh/{key}"
    return f"{base}?keyfile={Path(key).expanduser()}"


def libvirt_where(conn: LibvirtConnection) -> str:
    """Where a remote lab's machines live, in words for the Vagrantfile's comment."""
    if conn.uri is not None:
        return conn.uri
    user = f"{conn.username}@" if conn.username else ""
    port = f" port {conn.port}" if conn.port else ""
    how = "over SSH" if conn.connect_via_ssh else "over TLS"
    return f"{user}{conn.host}{port}, libvirt {how}"


LIBVIRT_TIMEOUT = 8.0
LOCAL_URI = "qemu:///system"
# vagrant-libvirt names a domain default_prefix + machine name (lv.default_prefix, libvirt.rb.j2).
DOMAIN_PREFIX = "labctl_"
# The lab's own libvirt network is named like this (libvirt__network_name in libvirt.rb.j2).
LAB_NETWORK_PREFIX = "labctl-"
# vagrant-libvirt 0.11's management network (Config#finalize! defaults): it creates it on the
# first `vagrant up` if it does not exist yet.
MANAGEMENT_NETWORK = ("vagrant-libvirt", "192.168.121.0/24")


def networks_probe(uri: str) -> list[str]:
    """Every libvirt network's XML, one document after another (`virsh net-dumpxml`)."""
    virsh = f"virsh -c {uri}"
    return [
        "sh",
        "-c",
        f'for n in $({virsh} net-list --all --name); do {virsh} net-dumpxml "$n" || exit; done',
    ]


def _libvirt(plan: Plan, facts: HostFacts) -> Finding:
    if facts.virsh_path is None:
        return Finding(
            "libvirt",
            "fail",
            "libvirt's client `virsh` is not installed"
            + ("" if facts.libvirtd_path else ", nor the libvirtd daemon"),
            "`sudo apt install libvirt-daemon-system libvirt-clients qemu-system-x86`",
        )
    if facts.libvirt_reachable is None:
        return Finding("libvirt", "warn", "libvirtd was not asked (not a libvirt lab)", "")
    remote = facts.remote_host
    where = remote.where if remote else LOCAL_URI
    if not facts.libvirt_reachable:
        return Finding(
            "libvirt",
            "fail",
            f"libvirtd does not answer at {where}: " + facts.probe_error("libvirt"),
            f"check `virsh -c '{where}' version` works from here: the hypervisor reachable over "
            "SSH with that key and user, libvirtd running there, the user in its libvirt group"
            if remote
            else "start libvirtd (`sudo systemctl enable --now libvirtd`) and add yourself to "
            "the libvirt group (`sudo adduser $USER libvirt`, then log in again)",
        )
    return Finding("libvirt", "ok", f"libvirtd answers at {where}")


def _cpu_virt(plan: Plan, facts: HostFacts) -> Finding:
    """The libvirt lab renders `lv.driver = "kvm"`: it needs /dev/kvm, and real VT-x/AMD-V."""
    if facts.remote_host is not None:
        return _remote_kvm(facts.remote_host.where, facts.remote_host.kvm, facts)
    if not facts.kvm_device:
        return Finding(
            "cpu-virt",
            "fail",
            "/dev/kvm is missing: the libvirt lab runs on KVM (lv.driver = kvm)",
            f"{FIRMWARE_FIX}, then load kvm_intel or kvm_amd (`sudo modprobe kvm_intel`)",
        )
    x86 = normalize_arch(facts.arch) in {"amd64", "386"}
    if x86 and facts.cpu_virt_flags is not None and not facts.cpu_virt_flags:
        return Finding(
            "cpu-virt",
            "warn",
            "/dev/kvm exists but the CPU advertises neither vmx nor svm (a VM without nested "
            "virtualization): KVM guests may crawl or hang",
            "enable nested virtualization on the outer hypervisor",
        )
    return Finding("cpu-virt", "ok", "/dev/kvm present")


def _remote_kvm(where: str, kvm: bool | None, facts: HostFacts) -> Finding:
    """A remote hypervisor's KVM, as its libvirtd's capabilities offer it."""
    if kvm is None:
        return Finding(
            "cpu-virt",
            "warn",
            f"could not ask libvirtd at {where} whether it offers KVM"
            + (f": {facts.probe_error('remote-kvm')}" if facts.probe_error("remote-kvm") else ""),
            f"run `virsh -c '{where}' capabilities` and look for domain type kvm",
        )
    if not kvm:
        return Finding(
            "cpu-virt",
            "fail",
            f"libvirtd at {where} offers no KVM guests: the lab runs on KVM (lv.driver = kvm)",
            f"on the hypervisor: {FIRMWARE_FIX}, load kvm_intel or kvm_amd, restart libvirtd",
        )
    return Finding("cpu-virt", "ok", f"libvirtd at {where} offers KVM guests")


def _remote_memory(plan: Plan, facts: HostFacts) -> Finding | None:
    """The machines reserve the hypervisor's memory, not this host's (doctor's `memory`)."""
    remote = facts.remote_host
    if remote is None:
        return None
    need = plan.total_memory_mib
    smaller = "use fewer agents or smaller `memory:` in lab.yaml, or another hypervisor"
    if remote.free_mib is None:
        return Finding(
            "memory",
            "warn",
            f"the lab takes {need} MiB; libvirtd at {remote.where} did not say how much is "
            "free" + (f" ({facts.probe_error('remote-memory')})"
                      if facts.probe_error("remote-memory") else ""),
            f"check with `virsh -c '{remote.where}' nodememstats`",
        )  # fmt: skip
    free = remote.free_mib
    if need > free:
        return Finding("memory", "fail", f"the lab needs {need} MiB but only {free} MiB is free "
                       f"on the hypervisor ({remote.where})", smaller)  # fmt: skip
    if need > free * MEMORY_HEADROOM:
        return Finding("memory", "warn", f"the lab needs {need} MiB of the {free} MiB free on "
                       f"the hypervisor, leaving it little", smaller)  # fmt: skip
    cpus = f", {remote.cpus} CPUs" if remote.cpus else ""
    return Finding(
        "memory", "ok", f"the lab needs {need} MiB; {free} MiB free on the hypervisor{cpus}"
    )


def _provider(plan: Plan, facts: HostFacts) -> Finding | None:
    """libvirt's Vagrant plugin, on Linux."""
    return linux_only(plan.lab.provider, facts) or plugin_finding(
        "provider", facts, "vagrant-libvirt", "sudo apt install vagrant-libvirt", None
    )


def _networks(plan: Plan, facts: HostFacts) -> Finding | None:
    """A libvirt network other than the lab's own on the lab's addresses makes vagrant-libvirt
    refuse the lab network ("Network default exists but does not have dhcp disabled"); libvirt's
    `default` (192.168.122.0/24) and vagrant-libvirt's management network (192.168.121.0/24,
    created on first up) are the usual ones."""
    lab = plan.lab  # a remote lab's networks are the hypervisor's (host_probes asks it)
    own = LAB_NETWORK_PREFIX + lab.name
    cidr = ipaddress.IPv4Network(plan.network.cidr)
    if facts.libvirt_networks is None:
        return Finding(
            "libvirt-network",
            "warn",
            "could not list libvirt's networks"
            + (
                f": {facts.probe_error('libvirt-networks')}"
                if facts.probe_error("libvirt-networks")
                else ""
            ),
            f"run `virsh -c {LOCAL_URI} net-list --all` and check none but {own} uses {cidr}",
        )
    known = {n.name: n for n in facts.libvirt_networks}
    management, management_cidr = MANAGEMENT_NETWORK
    to_come = management not in known
    if to_come:
        known[management] = LibvirtNetwork(management, None, management_cidr)
    clashes = [
        f"libvirt network `{n.name}`"
        + (
            " (vagrant-libvirt creates it on first up)"
            if to_come and n.name == management
            else f" ({n.bridge})"
            if n.bridge
            else ""
        )
        + f" uses {n.cidr}"
        for n in known.values()
        if n.name != own and n.cidr is not None and ipaddress.IPv4Network(n.cidr).overlaps(cidr)
    ]
    taken = ", ".join(sorted({n.cidr for n in known.values() if n.cidr and n.name != own}))
    if clashes:
        return Finding(
            "libvirt-network",
            "fail",
            "; ".join(clashes) + f": vagrant-libvirt cannot make {cidr} the lab's network",
            f"pick another `network.cidr` in lab.yaml, outside {taken}",
        )
    return Finding("libvirt-network", "ok", f"no other libvirt network uses {cidr}")


def _uri_of(lab: Lab) -> str:
    """Where the lab's domains live: the remote hypervisor's libvirtd, or this host's."""
    return hypervisor_uri(lab.libvirt) if lab.libvirt.remote else LOCAL_URI


def _virsh(*args: str, uri: str = LOCAL_URI) -> subprocess.CompletedProcess[str]:
    """`virsh -c URI ARGS`, never raising: a missing binary or a hang is non-zero."""
    import subprocess  # noqa: PLC0415

    argv = ["virsh", "-c", uri, *args]
    try:
        return subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=LIBVIRT_TIMEOUT * 8
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 127, "", str(exc))
