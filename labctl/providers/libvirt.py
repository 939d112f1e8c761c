"""libvirt through vagrant-libvirt: KVM VMs on this host or on a remote hypervisor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from labctl.providers.base import Provider
from labctl.render import ruby_string

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.doctor import HostFacts
    from labctl.spec.model import Lab, LibvirtConnection

LIBVIRT_TIMEOUT = 8.0


class Libvirt(Provider):
    name = "libvirt"
    label = "libvirt (KVM)"
    default_box = "generic/ubuntu2204"
    vagrant_block = "vagrant/libvirt.rb.j2"
    vagrant_preamble = "vagrant/libvirt-preamble.rb.j2"
    # vagrant-libvirt creates domains in parallel itself; Vagrant's own batch action handles it.
    boots_together = True
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

    def host_probes(self) -> Mapping[str, tuple[list[str], float]]:
        # An answer can take seconds, so libvirtd is asked only for a libvirt lab.
        return {"libvirt": (["virsh", "-c", "qemu:///system", "version"], LIBVIRT_TIMEOUT)}

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


def libvirt_where(conn: LibvirtConnection) -> str:
    """Where a remote lab's machines live, in words for the Vagrantfile's comment."""
    if conn.uri is not None:
        return conn.uri
    user = f"{conn.username}@" if conn.username else ""
    port = f" port {conn.port}" if conn.port else ""
    how = "over SSH" if conn.connect_via_ssh else "over TLS"
    return f"{user}{conn.host}{port}, libvirt {how}"
