"""SIGINT and SIGTERM: both end a run the same orderly way, with different exit codes.

A CI runner cancelling a step (GitHub's runner: SIGINT, 7.5 s later SIGTERM, 2.5 s later it
kills the process tree) or a `kill` must not leave machines running and the lock held, so
SIGTERM is handled like Ctrl-C: the current step stops, is recorded as interrupted, cleanup
runs, and labctl exits 143 (128 + SIGTERM) where Ctrl-C exits 130 (128 + SIGINT).

Once a run is being stopped, a later SIGTERM (the runner's escalation) is only noted: cutting
the cleanup short would leak what the first signal was stopping. A second Ctrl-C still cuts it,
as a user at a terminal expects. Standard library only: tools/, lab/ and cli/ all use it.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from types import FrameType

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class TerminatedError(KeyboardInterrupt):
    """SIGTERM arrived: a KeyboardInterrupt, so every Ctrl-C path (recording, cleanup) applies."""


_seen: list[int] = []


def note(signum: int) -> None:
    """Remember a signal; the exit code and the recorded reason come from what was seen."""
    _seen.append(signum)


def stopping() -> bool:
    """Whether a signal has already started stopping this run."""
    return bool(_seen)


def exit_code() -> int:
    """143 when SIGTERM was seen at any point, else 130: the code an interrupted run ends with."""
    return EXIT_SIGTERM if signal.SIGTERM in _seen else EXIT_SIGINT


def reason() -> str:
    """What stopped the run, in words, for the recorded phase or step."""
    return "SIGTERM" if signal.SIGTERM in _seen else "Ctrl-C (SIGINT)"


def raise_for(signum: int) -> NoReturn:
    """The exception a signal turns into: TerminatedError for SIGTERM, else KeyboardInterrupt."""
    if signum == signal.SIGTERM:
        raise TerminatedError
    raise KeyboardInterrupt


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    del frame
    note(signum)
    raise_for(signum)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del frame
    first = not stopping()
    note(signum)
    if first:
        raise_for(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise (once, for SIGTERM); the CLI entry calls this first."""
    _seen.clear()  # a fresh command (tests run many in one process)
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)


def reset() -> None:
    """Forget the signals seen (tests run many commands in one process)."""
    _seen.clear()
