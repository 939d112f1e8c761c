"""Stopping what labctl started (vagrant, ansible-playbook) on Ctrl-C, SIGINT or SIGTERM.

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

from labctl import interrupts

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
    """Whether we are the terminal's foreground group: then its Ctrl-C reached our children too.

    Windows has no process groups in this sense (no os.tcgetpgrp/os.getpgrp): its console sends
    Ctrl-C to every process attached to it, so the children already have it there as well.
    """
    tcgetpgrp, getpgrp = getattr(os, "tcgetpgrp", None), getattr(os, "getpgrp", None)
    if tcgetpgrp is None or getpgrp is None:
        return True
    try:
        return bool(tcgetpgrp(sys.stdin.fileno()) == getpgrp())
    except (OSError, ValueError):
        return False


def _in_our_group(pid: int) -> bool:
    getpgid, getpgrp = getattr(os, "getpgid", None), getattr(os, "getpgrp", None)
    if getpgid is None or getpgrp is None:
        return True  # Windows: the console's Ctrl-C reached every process attached to it
    try:
        return bool(getpgid(pid) == getpgrp())
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


# Seconds our children get to finish after a signal. A CI runner sends SIGTERM 7.5 s after
# SIGINT and kills the tree 2.5 s after that (GitHub's cancellation reference): 5 s for Vagrant's
# own cleanup leaves time to record the step and write the reports; after SIGTERM, 1 s.
GRACE: dict[int, float] = {signal.SIGINT: 5.0, signal.SIGTERM: 1.0}


def _only_note(signum: int, frame: FrameType | None) -> None:
    del frame
    interrupts.note(signum)


@contextlib.contextmanager
def children_stop_on_interrupt() -> Iterator[None]:
    """While the block runs, SIGINT or SIGTERM first stops our descendants, then raises
    KeyboardInterrupt (TerminatedError for SIGTERM, exit 143 instead of 130).

    Libraries that run children (ansible-runner) turn a KeyboardInterrupt into a status and
    lose track of the child; stopping them here, while they are still ours, leaves none behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        if signum == signal.SIGTERM and interrupts.stopping():
            interrupts.note(signum)  # the runner's escalation while cleanup runs: let it finish
            return
        interrupts.note(signum)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        signal.signal(signal.SIGTERM, _only_note)  # nor the runner's SIGTERM after its SIGINT
        interactive = signum == signal.SIGINT and from_terminal()
        stop_children(GRACE.get(signum, 5.0), already_interrupted=interactive)
        interrupts.raise_for(signum)

    previous_int = signal.signal(signal.SIGINT, on_signal)
    previous_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
