"""Containers Vagrant lost track of: created by a `vagrant up` that was interrupted before it
recorded the machine's id, or left when the lab's `.labctl/` was removed, they block the next
`vagrant up` ("There is container on your system with the same name"). Container names are
global on the host but lab names only per directory, so labctl removes such a container only when
it is this lab's: its config carries the lab directory's marker, or (a container interrupted
before its first start has none yet) it has no marker and this lab's state shows a boot began."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BootError
from labctl.providers.lxc._run import probe, run

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


def existing(names: Iterable[str]) -> list[str]:
    """The given names that are LXC containers on this host (in /var/lib/lxc, vagrant-lxc's)."""
    return [name for name in names if probe(["lxc-info", "-n", name]).returncode == 0]


LXC_PATH = Path("/var/lib/lxc")
_MARK = re.compile(r"^\s*lxc\.environment\s*=\s*LABCTL_LAB=(?P<mark>\S+)\s*$", re.MULTILINE)


def parse_marker(config: str) -> str | None:
    """The lab-directory marker (labctl.render.machine_marker) in a container's config, which
    vagrant-lxc writes from the Vagrantfile's customizations at every start; None without one."""
    match = _MARK.search(config)
    return match["mark"] if match else None


def foreign(marks: Mapping[str, str | None], ours: str, boot_began: bool) -> list[str]:
    """Of the containers Vagrant does not know (name -> marker), those that are not this lab's:
    another directory's marker, or none while this lab never began a boot."""
    return [name for name, mark in marks.items() if mark != ours and (mark or not boot_began)]


def container_marker(name: str) -> str | None:
    """The marker of container `name` (None: no config, or never started by vagrant-lxc)."""
    try:
        return parse_marker((LXC_PATH / name / "config").read_text(errors="replace"))
    except OSError:
        return None


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
