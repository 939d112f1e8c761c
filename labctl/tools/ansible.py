"""The Ansible edge: the only module that imports ansible-runner.

A run succeeds only when ansible-runner says "successful" AND the playbook's rc is 0; failing
hosts are taken from the runner_on_failed / runner_on_unreachable events (ignored errors
excluded), each with its task and message. Artifacts land in `.labctl/<lab>/runs/<ident>/`.
Secrets never pass through here: the playbooks read them from 0600 files with no_log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl import resources

TaskSink = Callable[[str], None]
EventSink = Callable[[Mapping[str, Any]], None]
MESSAGE_CHARS = 3000


@dataclass(frozen=True)
class HostFailure:
    """One host's failure as a person needs it: where, which task, what Ansible said."""

    host: str
    task: str
    message: str
    unreachable: bool = False

    def __str__(self) -> str:
        kind = "unreachable" if self.unreachable else "failed"
        return f"{self.host}: {kind} at task {self.task!r}: {self.message}"


@dataclass(frozen=True)
class PlaybookResult:
    """What one ansible-runner run did."""

    status: str
    rc: int
    artifacts: Path
    elapsed: float
    changed: Mapping[str, int] = field(default_factory=dict)
    failures: tuple[HostFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and not self.failures

    @property
    def canceled(self) -> bool:
        """ansible-runner swallows Ctrl-C/SIGINT and reports the run as canceled."""
        return self.status == "canceled"

    @property
    def changed_total(self) -> int:
        return sum(self.changed.values())


def _message(result: Mapping[str, Any]) -> str:
    """The most useful line of a failed task's result."""
    for key in ("msg", "stderr", "reason", "module_stderr", "stdout"):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            # Long enough for a role's own diagnosis (the K3s waits end with the unit's journal).
            return value.strip().splitlines()[-1][:MESSAGE_CHARS]
    if result.get("censored"):
        return "(output hidden: the task handles a secret)"
    return "no message"


def failure_from_event(event: Mapping[str, Any]) -> HostFailure | None:
    """A HostFailure for a failed/unreachable event; None for anything else (pure)."""
    kind = event.get("event")
    if kind not in {"runner_on_failed", "runner_on_unreachable"}:
        return None
    data = event.get("event_data", {})
    if data.get("ignore_errors"):
        return None
    return HostFailure(
        host=str(data.get("host", "?")),
        task=str(data.get("task", "?")),
        message=_message(data.get("res", {}) or {}),
        unreachable=kind == "runner_on_unreachable",
    )


# Not a cache plugin: tells ansible-runner not to configure Ansible's fact cache (see run_playbook).
FACT_CACHE_FROM_CONFIG = "ansible.cfg"


def mitogen_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Mitogen's linear strategy, when the `mitogen` extra is installed beside Ansible
    (`pip install 'labctl[mitogen]'`): one Python per machine kept running for the whole run
    instead of one per task (bench/provision: prepare about 1.5x faster than labctl's tuned
    settings alone). A strategy the user set (ANSIBLE_STRATEGY) wins; LABCTL_MITOGEN=0 turns it
    off. The plays run as with the default linear strategy, task by task across machines."""
    import importlib.util  # noqa: PLC0415

    if environ.get("LABCTL_MITOGEN", "1") == "0" or environ.get("ANSIBLE_STRATEGY"):
        return {}
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return {}
    plugins = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


def run_playbook(
    lab_dir: Path,
    *,
    tags: Sequence[str],
    ident: str,
    verbosity: int = 0,
    on_task: TaskSink | None = None,
    limit: str | None = None,
    extravars: Mapping[str, Any] | None = None,
    config: Path | None = None,
    playbook: str = "site.yml",
    on_event: EventSink | None = None,
    mitogen: bool = True,
) -> PlaybookResult:
    """Run `playbook` of playbooks/ (site.yml; uninstall.yml takes it back from machines labctl
    does not own) across the lab's inventory with the lab's ansible.cfg (or `config`, which the
    provisioning benchmark uses to compare against Ansible's defaults). `on_event` sees each
    event as it comes (one run of several phases reads its play starts); `mitogen`: use
    Mitogen's strategy when installed (mitogen_env)."""
    import ansible_runner  # noqa: PLC0415 - the one import of ansible-runner

    failures: list[HostFailure] = []

    def handle(event: dict[str, Any]) -> bool:
        failure = failure_from_event(event)
        if failure:
            failures.append(failure)
        if on_task and event.get("event") == "playbook_on_task_start":
            on_task(str(event.get("event_data", {}).get("task", "")))
        if on_event:
            on_event(event)
        return True  # keep the event in the artifacts

    playbooks = resources.playbooks_dir()
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(lab_dir),
        artifact_dir=str(lab_dir / "runs"),
        ident=ident,
        project_dir=str(playbooks),
        playbook=str(playbooks / playbook),
        inventory=str(lab_dir / "inventory"),
        tags=",".join(tags) if tags else None,
        limit=limit,
        extravars=dict(extravars or {}),
        envvars={
            "ANSIBLE_CONFIG": str(config or lab_dir / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            **(mitogen_env(os.environ) if mitogen else {}),
        },
        # ansible-runner would point Ansible's fact cache at a fresh directory inside each run's
        # artifacts (ANSIBLE_CACHE_PLUGIN_CONNECTION, which beats ansible.cfg), so no phase would
        # see the facts an earlier phase gathered. Any type but jsonfile leaves the cache to the
        # lab's ansible.cfg: `.labctl/<lab>/facts`, which labctl.lab.factcache keeps true.
        fact_cache_type=FACT_CACHE_FROM_CONFIG,
        suppress_env_files=True,
        quiet=True,
        verbosity=verbosity,
        event_handler=handle,
        # Given a cancel callback, ansible-runner does not install SIGINT/SIGTERM handlers of its
        # own (it would SIGKILL the playbook's group and not wait); labctl's handler stops
        # ansible-playbook gracefully and waits for it (labctl.tools.procs).
        cancel_callback=lambda: False,
    )
    stats: Mapping[str, Mapping[str, int]] = runner.stats or {}
    return PlaybookResult(
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else -1),
        artifacts=lab_dir / "runs" / ident,
        elapsed=time.monotonic() - started,
        changed=dict(stats.get("changed", {})),
        failures=tuple(failures),
    )
