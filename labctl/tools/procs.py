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
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType


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


def from_terminal() -> bool:
    """Whether we are the terminal's foreground group: then its Ctrl-C reached our children too."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def _in_our_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except ProcessLookupError:
        return False


def stop_children(grace: float = 20.0, *, already_interrupted: bool = False) -> None:
    """SIGINT to every descendant, up to `grace` seconds to finish, then SIGTERM to the rest.

    With `already_interrupted` (a terminal's Ctrl-C), descendants in our own process group got
    the signal already and are not sent a second one (Vagrant takes a second SIGINT as "exit
    now, skip cleanup"); those in groups of their own (ansible-runner runs ansible-playbook in
    a new session) are.
    """
    targets = descendants()
    for pid in targets:
        if already_interrupted and _in_our_group(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    _wait(targets, grace)
    for pid in [p for p in targets if _alive(p)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _wait(targets, 5.0)


def _wait(targets: list[int], grace: float) -> None:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in targets):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # reap our own children so they stop counting
        time.sleep(0.2)


@contextlib.contextmanager
def children_stop_on_interrupt() -> Iterator[None]:
    """While the block runs, SIGINT first stops our descendants, then raises KeyboardInterrupt.

    Libraries that run children (ansible-runner) turn a KeyboardInterrupt into a status and
    lose track of the child; stopping them here, while they are still ours, leaves none behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        stop_children(already_interrupted=from_terminal())
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
