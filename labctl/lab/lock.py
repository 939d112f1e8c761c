"""One labctl at a time per lab: an flock on `.labctl/<lab>/lock`, with the holder recorded.

The kernel drops an flock when its process dies, so a lock left by a killed labctl is simply
free again; `lock.holder` only serves to name who holds a live one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from labctl.errors import LockedError
from labctl.messages import cut

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _holder_text(lab_dir: Path) -> str:
    try:
        holder = json.loads((lab_dir / "lock.holder").read_text(encoding="utf-8"))
        started = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
        pid, command = holder.get("pid"), holder.get("command", "labctl")
    except (OSError, ValueError, AttributeError, TypeError, OverflowError, RecursionError):
        return "another labctl"  # an unreadable note still leaves the lock itself in force
    return f"pid {cut(str(pid))} ({cut(str(command))}, since {started})"


@contextmanager
def lab_lock(lab_dir: Path, command: str) -> Iterator[None]:
    """Hold the lab's lock for the block; fail at once, naming the holder, if it is taken."""
    from filelock import FileLock, Timeout  # noqa: PLC0415 - only commands that change a lab

    lab_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lab_dir / "lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LockedError(
            f"lab {lab_dir.name!r} is busy: {_holder_text(lab_dir)} is working on it",
            "wait for it to finish, or stop that process; a killed labctl frees the lock by itself",
        ) from None
    holder = lab_dir / "lock.holder"
    try:
        record = {"pid": os.getpid(), "command": command, "since": time.time()}
        holder.write_text(json.dumps({**record, "argv": sys.argv[1:]}), encoding="utf-8")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()
