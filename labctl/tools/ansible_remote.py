"""One phase's ansible-runner run on the lab's controller machine (`controller: lab`).

labctl copies this file to the controller and runs it there with the controller's venv: it
makes the same ansible_runner.run call labctl.tools.ansible makes on the host and prints, one
JSON line each, the events labctl reads (task starts, failures), then the result. It imports
nothing of labctl (labctl is not installed there), only the standard library and ansible-runner.

Stopping: a line `cancel` on stdin, or stdin closing (the host's labctl stopped or its SSH
connection went), stops ansible-playbook as Ctrl-C does (SIGINT to its process group, which
ends the play gracefully), and a run that does not end within GRACE s is canceled by
ansible-runner itself. The result then says "canceled", as on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

GRACE = 15.0
_KEPT = (
    "playbook_on_play_start",
    "playbook_on_task_start",
    "runner_on_ok",
    "runner_on_failed",
    "runner_on_unreachable",
)


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def _compact(event: dict[str, Any]) -> dict[str, Any]:
    """What labctl reads of an event (the artifacts keep all of it): of a success only whether
    it changed something (a result can be a host's whole facts)."""
    data = event.get("event_data", {}) or {}
    kind = event.get("event")
    kept = {key: data.get(key) for key in ("host", "task", "play", "ignore_errors") if key in data}
    res = data.get("res", {}) or {}
    if kind == "runner_on_ok":
        kept["res"] = {"changed": bool(res.get("changed"))}
    elif kind in ("runner_on_failed", "runner_on_unreachable"):
        kept["res"] = res
    return {"event": kind, "event_data": kept}


def _playbook_groups(root: int) -> list[int]:
    """Process groups of our children (ansible-runner starts ansible-playbook in its own)."""
    groups: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            if int(fields[1]) == root:  # parent pid
                groups.add(os.getpgid(int(entry.name)))
        except (OSError, IndexError, ValueError):
            continue
    groups.discard(os.getpgrp())
    return sorted(groups)


def main(argv: list[str]) -> int:
    import ansible_runner  # noqa: PLC0415 - on the controller, in its venv

    arguments = json.loads(argv[1])
    project = Path(arguments["private_data_dir"])
    asked = threading.Event()
    deadline: list[float] = []

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                break
        asked.set()
        for group in _playbook_groups(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGINT)
        deadline.append(time.monotonic() + GRACE)

    threading.Thread(target=watch_stdin, daemon=True).start()

    def on_event(event: dict[str, Any]) -> bool:
        if event.get("event") in _KEPT:
            _emit(_compact(event))
        return True

    def cancel() -> bool:
        return bool(deadline) and time.monotonic() > deadline[0]

    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=arguments["private_data_dir"],
        artifact_dir=str(project / "runs"),
        ident=arguments["ident"],
        project_dir=arguments["project_dir"],
        playbook=arguments["playbook"],
        inventory=str(project / "inventory"),
        tags=arguments["tags"],
        limit=arguments["limit"],
        extravars=arguments["extravars"],
        envvars={
            "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
        },
        fact_cache_type="ansible.cfg",  # the project's ansible.cfg keeps the facts (see tools)
        suppress_env_files=True,
        quiet=True,
        verbosity=arguments["verbosity"],
        event_handler=on_event,
        cancel_callback=cancel,
    )
    stats = runner.stats or {}
    _emit({
        "labctl_result": {
            "status": "canceled" if asked.is_set() else str(runner.status),
            "rc": runner.rc if runner.rc is not None else -1,
            "changed": dict(stats.get("changed", {})),
            "elapsed": time.monotonic() - started,
        }
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
