"""A lab's machine states read from the hypervisor directly, in Vagrant's own words.

`vagrant status` starts Ruby and loads every plugin before it asks anything: about 1.5-2 s, the
whole of what a `labctl status`, or a `labctl up` with nothing left to do, would otherwise
cost. Yet Vagrant's answer is one hypervisor query per machine: the machine's id is the file
`.vagrant/machines/<name>/<provider>/id`; no id, or an id the hypervisor does not know, is
`not_created` (Vagrant then forgets the id: this module only reads); otherwise the provider's
own word for the state, lower-cased (vagrant-lxc: `lxc-info` "State: RUNNING" -> running;
VirtualBox: `showvminfo` VMState="poweroff" -> poweroff, name="<inaccessible>" ->
inaccessible). A provider that cannot answer as Vagrant would (vagrant-libvirt also waits for
an address lease and may talk to a remote hypervisor) leaves it to Vagrant.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

NOT_CREATED = "not_created"


def recorded_id(lab_dir: Path, machine: str, provider: str) -> str | None:
    """The id this lab's Vagrant recorded for `machine` (as written: LXC names keep their case)."""
    try:
        text = (lab_dir / ".vagrant" / "machines" / machine / provider / "id").read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        return None
    return text.strip() or None


def parse_lxc_ls_states(text: str) -> dict[str, str]:
    """`lxc-ls --fancy --fancy-format name,state` (a NAME STATE header, then one row per
    container) as name -> state in vagrant-lxc's words (running, stopped, frozen...)."""
    states = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1].lower()
    return states


_VBOX_STATE = re.compile(r'^VMState="(?P<state>.+?)"$', re.MULTILINE)
_VBOX_INACCESSIBLE = re.compile(r'^name="<inaccessible>"$', re.MULTILINE)
VBOX_NOT_FOUND = "Could not find a registered machine"


def parse_vbox_state(showvminfo: str) -> str | None:
    """The state in `VBoxManage showvminfo UUID --machinereadable`, as Vagrant's VirtualBox
    driver reads it (read_state); None when the output has none."""
    if _VBOX_INACCESSIBLE.search(showvminfo):
        return "inaccessible"
    match = _VBOX_STATE.search(showvminfo)
    return match["state"] if match else None


def states_by_id(
    names: Sequence[str], ids: Mapping[str, str | None], on_host: Mapping[str, str]
) -> dict[str, str]:
    """Machine name -> state: `not_created` without a recorded id or when the hypervisor has no
    machine of that id, else the hypervisor's state of it."""
    return {
        name: on_host.get(ident, NOT_CREATED) if (ident := ids.get(name)) else NOT_CREATED
        for name in names
    }
