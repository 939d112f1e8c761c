"""Containers Vagrant lost track of: created by a `vagrant up` that was interrupted before it
recorded the machine's id, they block the next `vagrant up` ("There is container on your system
with the same name"). A lab's machine names are its own, so labctl removes such orphans."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.errors import BootError
from labctl.providers.lxc._run import probe, run

if TYPE_CHECKING:
    from collections.abc import Iterable


def existing(names: Iterable[str]) -> list[str]:
    """The given names that are LXC containers on this host (in /var/lib/lxc, vagrant-lxc's)."""
    return [name for name in names if probe(["lxc-info", "-n", name]).returncode == 0]


def remove_orphans(names: Iterable[str]) -> list[str]:
    """Destroy each named container (stopping it first); returns the names removed."""
    removed = []
    for name in existing(names):
        run(
            ["lxc-destroy", "--force", "--name", name],
            error=BootError,
            hint=f"remove it by hand: sudo lxc-destroy --force --name {name}",
        )
        removed.append(name)
    return removed
