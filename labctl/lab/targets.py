"""How to reach each machine of a booted lab (ssh.json), saved after boot, read by everything
that runs a command on a machine: `ssh`, `check`, `status`, snapshots and handouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BootError, StateError

if TYPE_CHECKING:
    from labctl.tools.ssh import SshTarget


def save_targets(lab_dir: Path, targets: dict[str, SshTarget]) -> None:
    """Remember how to reach each machine (ssh.json) for `ssh`, `check` and `status`."""
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    data = {
        name: {"name": t.name, "host": t.host, "port": t.port, "user": t.user,
               "key_file": str(t.key_file)}
        for name, t in sorted(targets.items())
    }  # fmt: skip
    write_atomic(lab_dir / "ssh.json", json.dumps(data, indent=2) + "\n", mode=0o600)


def load_targets(lab_dir: Path) -> dict[str, SshTarget]:
    from labctl.lab.readback import json_value, read_json  # noqa: PLC0415
    from labctl.tools.ssh import SshTarget  # noqa: PLC0415

    def parse(text: str) -> dict[str, SshTarget]:
        return {
            str(name): SshTarget(
                str(f["name"]), str(f["host"]), int(f["port"]), str(f["user"]),
                Path(str(f["key_file"])),
            )
            for name, f in json_value(text).items()
        }  # fmt: skip

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
