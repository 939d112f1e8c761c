"""Machine names are global on a host, lab names only per directory: find another lab's VMs.

Two checkouts of the default `demo` lab would both name their machines demo-server-1 ...;
the second `vagrant up` then fails deep inside the provider (VirtualBox: VMNameExists). Before
booting, a provider compares the host's machines of those names with the ids this lab's Vagrant
recorded (`.vagrant/machines/<name>/<provider>/id`) and refuses with the fix instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labctl.errors import PreflightFailedError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

_VBOX_VM = re.compile(r'^"(?P<name>.*)" \{(?P<id>[0-9a-fA-F-]+)\}$')


def parse_vbox_list_vms(text: str) -> dict[str, str]:
    """`VBoxManage list vms` ("name" {uuid} per line) as name -> uuid."""
    found = {}
    for line in text.splitlines():
        match = _VBOX_VM.match(line.strip())
        if match:
            found[match["name"]] = match["id"].lower()
    return found


def parse_virsh_list(text: str) -> dict[str, str]:
    """`virsh list --all --uuid --name` ("uuid name" per line) as name -> uuid."""
    found = {}
    for line in text.splitlines():
        uuid, _, name = line.strip().partition(" ")
        if uuid and name:
            found[name.strip()] = uuid.lower()
    return found


def recorded_ids(lab_dir: Path, provider: str) -> dict[str, str]:
    """The machine ids this lab's Vagrant recorded, by machine name."""
    ids = {}
    for id_file in (lab_dir / ".vagrant" / "machines").glob(f"*/{provider}/id"):
        text = id_file.read_text(encoding="utf-8", errors="replace").strip().lower()
        if text:
            ids[id_file.parent.parent.name] = text
    return ids


def foreign_machines(
    wanted: Mapping[str, str], on_host: Mapping[str, str], recorded: Mapping[str, str]
) -> list[str]:
    """Machines of the plan (machine name -> the name on the host) whose host name is taken by
    a machine this lab did not create; each as a line for the user."""
    return [
        f"{host_name} ({on_host[host_name]}) already exists and is not this lab's {machine}"
        for machine, host_name in wanted.items()
        if host_name in on_host and recorded.get(machine) != on_host[host_name]
    ]


def refuse_foreign(problems: Sequence[str], what: str, lab: str) -> None:
    """Raise the preflight failure for `problems`, if any."""
    if problems:
        raise PreflightFailedError(
            {"machine-names": f"{what}: " + "; ".join(problems)},
            hint=f"another lab named {lab} (another directory?) uses these names: destroy it "
            "there (`labctl destroy`), or give this lab another `name:` in lab.yaml",
        )
