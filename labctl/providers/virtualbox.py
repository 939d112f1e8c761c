"""VirtualBox: the default provider (Windows, macOS, Linux), through Vagrant's built-in driver."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from labctl.providers.base import Provider

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labctl.doctor import HostFacts
    from labctl.spec.model import Lab

# VirtualBox 6.1.28+ on Linux, macOS and Solaris only lets host-only networks use these ranges
# unless /etc/vbox/networks.conf lists others (the file then replaces the default).
VBOX_NETWORKS_CONF = Path("/etc/vbox/networks.conf")
VBOX_HOSTONLY_DEFAULT = ipaddress.IPv4Network("192.168.56.0/21")


class VirtualBox(Provider):
    name = "virtualbox"
    label = "VirtualBox"
    default_box = "bento/ubuntu-24.04"
    vagrant_block = "vagrant/virtualbox.rb.j2"
    host_interface_prefixes: ClassVar[tuple[str, ...]] = ("vboxnet",)

    def spec_warnings(self, lab: Lab) -> Sequence[tuple[tuple[str | int, ...], str]]:
        network = ipaddress.IPv4Network(lab.network.cidr)
        if network.subnet_of(VBOX_HOSTONLY_DEFAULT):
            return ()
        return (
            (
                ("network", "cidr"),
                f"{network} is outside VirtualBox's default host-only range 192.168.56.0/21; "
                f"allow it in /etc/vbox/networks.conf (a line `* {network}`) or pick a subnet "
                "inside the range",
            ),
        )

    def machines_dir(self, facts: HostFacts) -> Path:
        folder = facts.virtualbox_machine_folder
        return Path(folder) if folder else Path.home() / "VirtualBox VMs"

    def fleet_ranges(self, networks_conf: str | None) -> tuple[ipaddress.IPv4Network, ...]:
        """VirtualBox's host-only ranges; /etc/vbox/networks.conf (its text: `networks_conf`)
        replaces the default when it exists, as VirtualBox itself reads it."""
        from labctl.doctor import parse_networks_conf  # noqa: PLC0415

        if networks_conf is None:
            return (VBOX_HOSTONLY_DEFAULT,)
        return tuple(parse_networks_conf(networks_conf))

    def fleet_no_fit_hint(self) -> str:
        return (
            "allow more in /etc/vbox/networks.conf (a line like `* 192.168.56.0/21 "
            "10.56.0.0/16`; the file replaces VirtualBox's default) or use fewer labs"
        )
