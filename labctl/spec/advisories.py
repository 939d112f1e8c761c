"""Warnings about a valid spec: things that work but that a user should know (pure)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from labctl.errors import SpecProblem

if TYPE_CHECKING:
    from labctl.spec.loader import LoadedLab

VBOX_HOSTONLY_DEFAULT = ipaddress.IPv4Network("192.168.56.0/21")


def advisories(loaded: LoadedLab, host_free_mib: int | None) -> list[SpecProblem]:
    """Warnings for validate/up: even server counts, VirtualBox's range, RAM beyond what's free."""
    lab, where = loaded.lab, loaded.positions

    def at(loc: tuple[str | int, ...], message: str) -> SpecProblem:
        line, column = where.of_value(loc) or (None, None)
        path = ".".join(str(p) for p in loc)
        return SpecProblem(loaded.source, line, column, path, message)

    found: list[SpecProblem] = []
    servers = lab.servers.count
    if servers % 2 == 0:
        found.append(
            at(
                ("servers", "count"),
                f"{servers} servers tolerate no more failures than {servers - 1}: etcd needs a "
                f"majority for quorum; use {servers - 1} or {servers + 1}",
            )
        )
    network = ipaddress.IPv4Network(lab.network.cidr)
    if lab.provider == "virtualbox" and not network.subnet_of(VBOX_HOSTONLY_DEFAULT):
        found.append(
            at(
                ("network", "cidr"),
                f"{network} is outside VirtualBox's default host-only range 192.168.56.0/21; "
                f"allow it in /etc/vbox/networks.conf (a line `* {network}`) or pick a subnet "
                "inside the range",
            )
        )
    total = (
        lab.servers.count * lab.servers.memory
        + lab.agents.count * lab.agents.memory
        + (lab.addons.gitlab.memory if lab.addons.gitlab.enabled else 0)
    )
    if host_free_mib is not None and total > host_free_mib:
        found.append(
            at(
                (),
                f"the lab needs {total} MiB of RAM but this host has {host_free_mib} MiB free; "
                "fewer agents or smaller machines will avoid swapping",
            )
        )
    return found
