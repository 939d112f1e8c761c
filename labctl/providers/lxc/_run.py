"""The one place labctl.providers.lxc runs host commands: argument lists, checked return codes.

Every failure becomes a LabctlError subclass chosen by the caller, carrying the command and the
tail of its stderr, so a user sees what the tool said without a traceback.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from labctl.errors import HostCommandError, LabctlError, NotRootError

if TYPE_CHECKING:
    from collections.abc import Sequence

STDERR_TAIL_LINES = 15


def stderr_tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last non-empty lines of a tool's output, the part that usually says what went wrong."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run(
    argv: Sequence[str],
    *,
    error: type[LabctlError] = HostCommandError,
    hint: str = "",
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; on a non-zero exit raise `error` with the command and its stderr tail."""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            input=input_text,
            env=env,
        )
    except FileNotFoundError as exc:
        raise error(
            f"{argv[0]} is not installed (needed for: {' '.join(argv)})",
            hint or f"install the package that provides {argv[0]}",
        ) from exc
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr or proc.stdout)
        raise error(
            f"`{' '.join(argv)}` failed with exit code {proc.returncode}:\n{tail}",
            hint,
        )
    return proc


def require_root(action: str) -> None:
    """Raise NotRootError unless this process runs as root."""
    if os.geteuid() != 0:
        raise NotRootError(
            f"{action} needs root: it changes the host (LXC containers, bridges, NAT rules)",
            "run it with sudo, e.g. `sudo labctl ...`",
        )


def probe(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a query whose non-zero exit is an answer (`iptables -C`, `ip link show`), not a fault."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)
