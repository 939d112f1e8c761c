"""RecordedOutputReplay: an executor that answers commands from recorded outputs, no machines.

It is how the judges and the runner are tested on outputs of real-shaped healthy and broken
labs, and it is no evidence that a lab works. A recording file is JSON:

    {"recordings": [
        {"machine": "demo-server-1", "match": "get nodes -o json",
         "results": [{"exit_status": 0, "stdout_file": "nodes-healthy.json"}]},
        {"machine": "*", "match": "date +%s.%N",
         "results": [{"exit_status": 0, "stdout": "1764230400.25\n"}]}]}

`match` is a substring of the command; `results` are answered in turn and the last one repeats
(a poll sees the pods come back). `stdout_file`/`stderr_file` are relative to the recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labctl.tools.ssh import CommandResult

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from labctl.tools.ssh import SshTarget


@dataclass(frozen=True)
class Recording:
    """Answers for commands on `machine` ("*": any) containing `match`."""

    machine: str
    match: str
    results: tuple[CommandResult, ...]


@dataclass(frozen=True)
class ReplayedCall:
    """A command the replay was asked to run, kept so tests can assert on it."""

    machine: str
    command: str
    stdin: str | None = field(repr=False)


class RecordedOutputReplay:
    """Answers each command with the next recorded result of the first matching recording.

    A command nothing matches gets exit status 127 and a stderr naming it, which the checks
    report like any failed command.
    """

    def __init__(self, recordings: Sequence[Recording]) -> None:
        self.recordings = tuple(recordings)
        self.calls: list[ReplayedCall] = []
        self._served: dict[int, int] = {}

    @classmethod
    def from_file(cls, path: Path, *extra: Recording) -> RecordedOutputReplay:
        """Load a recording file; `extra` recordings are tried first (a test's variations)."""
        data = json.loads(path.read_text())
        loaded = [
            Recording(
                item["machine"],
                item["match"],
                tuple(_result(r, path.parent) for r in item["results"]),
            )
            for item in data["recordings"]
        ]
        return cls([*extra, *loaded])

    def run(
        self, target: SshTarget, command: str, timeout: float = 60.0, *, stdin: str | None = None
    ) -> CommandResult:
        del timeout  # a replay answers at once
        self.calls.append(ReplayedCall(target.name, command, stdin))
        for index, recording in enumerate(self.recordings):
            if recording.machine in ("*", target.name) and recording.match in command:
                served = self._served.get(index, 0)
                self._served[index] = served + 1
                return recording.results[min(served, len(recording.results) - 1)]
        return CommandResult(127, "", f"replay: no recorded output for `{command}`", 0.0)


def result(
    stdout: str = "", *, exit_status: int = 0, stderr: str = "", elapsed: float = 0.05
) -> CommandResult:
    """A recorded CommandResult, for recordings written in Python."""
    return CommandResult(exit_status, stdout, stderr, elapsed)


def _result(item: dict[str, Any], base: Path) -> CommandResult:
    stdout = item.get("stdout", "")
    if "stdout_file" in item:
        stdout = (base / item["stdout_file"]).read_text()
    stderr = item.get("stderr", "")
    if "stderr_file" in item:
        stderr = (base / item["stderr_file"]).read_text()
    return CommandResult(int(item.get("exit_status", 0)), stdout, stderr, item.get("elapsed", 0.05))
