"""How to reach each machine of a booted lab (ssh.json), saved after boot, read by everything
that runs a command on a machine: `ssh`, `check`, `status`, snapshots and handouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BootError

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
    from labctl.tools.ssh import SshTarget  # noqa: PLC0415

    path = lab_dir / "ssh.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BootError(
            "this lab has not been booted, so labctl does not know how to reach it",
            "run `labctl up` first",
        ) from None
    return {
        name: SshTarget(f["name"], f["host"], int(f["port"]), f["user"], Path(f["key_file"]))
        for name, f in raw.items()
    }
