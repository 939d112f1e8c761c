"""Running the real `labctl` CLI in a child process, as a user or a CI job would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

# Every call, in order: (arguments without paths, seconds); tests report them as timings.
CALLS: list[tuple[str, float]] = []


def labctl(
    workdir: Path, *args: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`python -m labctl ARGS` in workdir, no terminal, no colour; `check` fails the test with
    the end of both outputs when the exit code is not 0."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "labctl", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )
    shown = " ".join(a for a in args if not a.startswith("/"))
    CALLS.append((shown, round(time.monotonic() - started, 1)))
    if check and result.returncode != 0:
        pytest.fail(f"labctl {' '.join(args)} exited {result.returncode}:\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")  # fmt: skip
    return result
