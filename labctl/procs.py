"""Stopping what labctl started (vagrant, ansible-playbook) when the user presses Ctrl-C.

A terminal's Ctrl-C already reaches the whole foreground process group; a SIGINT sent to
labctl alone (a CI runner's cancel, `kill -INT`) does not. So on interrupt labctl passes SIGINT
to its own descendants (Vagrant cleans up on SIGINT), waits, then terminates what is left.
Descendants are found in /proc; elsewhere the terminal's process-group signal has to do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def descendants(pid: int | None = None) -> list[int]:
    """Every descendant of `pid` (default: this process), children first."""
    root = pid or os.getpid()
    found: list[int] = []
    queue = [root]
    while queue:
        parent = queue.pop(0)
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.append(child)
                    queue.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_children(grace: float = 20.0) -> None:
    """SIGINT to every descendant, up to `grace` seconds to finish, then SIGTERM."""
    targets = descendants()
    for sig in (signal.SIGINT, signal.SIGTERM):
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in targets):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(-1, os.WNOHANG)  # reap our own children so they stop counting
            time.sleep(0.2)
        targets = [p for p in targets if _alive(p)]
        if not targets:
            return
        grace = 5.0
