"""How to reach each machine of a booted lab (ssh.json), saved after boot, read by everything
that runs a command on a machine: `ssh`, `check`, `status`, snapshots and handouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BootError, StateError

if TYPE_CHECKING:
    from labctl.tools.ssh import SshTarget


def _fields(target: SshTarget) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": target.name, "host": target.host, "port": target.port, "user": target.user,
        "key_file": None if target.key_file is None else str(target.key_file),
    }  # fmt: skip
    if target.jump is not None:
        fields["jump"] = _fields(target.jump)
    return fields


def save_targets(lab_dir: Path, targets: dict[str, SshTarget]) -> None:
    """Remember how to reach each machine (ssh.json) for `ssh`, `check` and `status`."""
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    data = {name: _fields(target) for name, target in sorted(targets.items())}
    write_atomic(lab_dir / "ssh.json", json.dumps(data, indent=2) + "\n", mode=0o600)


def _target(fields: dict[str, object]) -> SshTarget:
    from labctl.tools.ssh import SshTarget  # noqa: PLC0415

    key, jump = fields["key_file"], fields.get("jump")
    if jump is not None and not isinstance(jump, dict):
        raise ValueError(f"jump is {type(jump).__name__}, not an object")
    return SshTarget(
        str(fields["name"]), str(fields["host"]), int(str(fields["port"])),
        str(fields["user"]), None if key is None else Path(str(key)),
        None if jump is None else _target(jump),
    )  # fmt: skip


def load_targets(lab_dir: Path) -> dict[str, SshTarget]:
    from labctl.lab.readback import json_value, read_json  # noqa: PLC0415

    def parse(text: str) -> dict[str, SshTarget]:
        return {str(name): _target(fields) for name, fields in json_value(text).items()}

    path = lab_dir / "ssh.json"
    targets = read_json(
        path,
        parse,
        lambda reason: StateError(
            f"{path} is damaged ({reason})",
            "run `labctl up` again: it finds the machines and writes ssh.json anew",
        ),
    )
    if targets is None:
        raise BootError(
            "this lab has not been booted, so labctl does not know how to reach it",
            "run `labctl up` first",
        )
    return targets


def load_target(lab_dir: Path, machine: str) -> SshTarget:
    """How to reach one machine of the lab; a machine ssh.json does not name is an error."""
    target = load_targets(lab_dir).get(machine)
    if target is None:
        raise BootError(
            f"labctl does not know how to reach {machine} (not in ssh.json)",
            "run `labctl up`: it finds the machines and writes ssh.json anew",
        )
    return target
