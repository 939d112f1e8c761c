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
    from collections.abc import Callable, Mapping, Sequence
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


def refuse_foreign(
    problems: Sequence[str], what: str, lab: str, own: Sequence[str] = (), delete: str = ""
) -> None:
    """Raise the preflight failure for `problems`, if any. `own`: the taken names that carry
    this lab directory's marker (left by an earlier run of it); `delete`: how to delete one."""
    if not problems:
        return
    hint = (
        f"another lab named {lab} (another directory?) uses these names: destroy it there "
        "(`labctl destroy`), or give this lab another `name:` in lab.yaml"
        + (f"; if that directory is gone, delete them by hand ({delete})" if delete else "")
    )
    if own:
        hint = (
            f"{', '.join(own)} {'was' if len(own) == 1 else 'were'} made by an earlier run of "
            "this lab whose .labctl/ is gone: `labctl test` removes such machines before it "
            f"builds, or delete them by hand ({delete})"
        )
    raise PreflightFailedError({"machine-names": f"{what}: " + "; ".join(problems)}, hint=hint)


_VBOX_DESCRIPTION = re.compile(r'^description="(?P<text>[^"]*)"$', re.MULTILINE)


def parse_vbox_description(showvminfo: str) -> str:
    """The description from `VBoxManage showvminfo UUID --machinereadable` ('' when none)."""
    match = _VBOX_DESCRIPTION.search(showvminfo)
    return match["text"] if match else ""


def left_behind(
    wanted: Mapping[str, str],
    on_host: Mapping[str, str],
    recorded: Mapping[str, str],
    marker_of: Callable[[str], str],
    marker: str,
) -> dict[str, str]:
    """Machines of the plan (machine name -> name on the host) that exist on the host, carry
    this lab directory's `marker` (labctl.render.machine_marker) and whose ids this lab's Vagrant
    does not record: left by an earlier run whose `.vagrant/` is gone. Host name -> id.
    `marker_of(id)` reads a machine's description."""
    found = {}
    for machine, host_name in wanted.items():
        ident = on_host.get(host_name)
        if ident and recorded.get(machine) != ident and marker_of(ident).strip() == marker:
            found[host_name] = ident
    return found
