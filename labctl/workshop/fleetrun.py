"""Running a fleet: N labs from one spec, each a lab of its own, driven side by side.

Layout, beside the base lab.yaml:  fleet-<prefix>/fleet.json (the fleet's plan and members),
fleet-<prefix>/<lab>.yaml (each lab's full spec, readable and usable with every labctl command:
`labctl reset fleet-team/team-03.yaml`), and their lab directories under fleet-<prefix>/.labctl/.
Each lab runs as its own `labctl` process, so one lab's failure (or its lock, or its Ctrl-C
state) is isolated from the others; at most `concurrency` run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from labctl.errors import ExitCode, UsageError
from labctl.lab.labdir import STATE_DIR, write_atomic

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from labctl.spec.model import Lab
    from labctl.workshop.fleet import FleetPlan

FLEET_FILE = "fleet.json"


def fleet_dir(base_spec: Path | None, prefix: str, cwd: Path | None = None) -> Path:
    base = base_spec.resolve().parent if base_spec else (cwd or Path.cwd()).resolve()
    return base / f"fleet-{prefix}"


def with_gateway(lab: Lab, gateway: str) -> Lab:
    """The lab with `access.gateway` set (`fleet up --gateway`); the rest of `access:` kept."""
    from labctl.spec.access import Access, split_gateway  # noqa: PLC0415

    try:
        split_gateway(gateway)
    except ValueError as exc:
        raise UsageError(f"--gateway: {exc}", "e.g. --gateway gw.example.org:22") from None
    access = (
        lab.access.model_copy(update={"gateway": gateway})
        if lab.access is not None
        else Access(gateway=gateway)
    )
    return lab.model_copy(update={"access": access})


def spec_yaml(lab: Lab, source: str) -> str:
    """A member lab's spec as a lab.yaml a person can read and use, every key written out."""
    body = yaml.safe_dump(lab.model_dump(mode="json", exclude_none=True), sort_keys=False)
    return (
        f"# Lab {lab.name} of a labctl fleet, generated from {source}.\n"
        "# Change the base spec and run `labctl fleet up` again rather than editing this file.\n"
        + body
    )


def write_fleet(directory: Path, fleet: FleetPlan, source: str) -> list[Path]:
    """fleet.json and one spec per lab, written atomically; returns the spec paths."""
    specs = []
    for member in fleet.labs:
        path = directory / f"{member.name}.yaml"
        write_atomic(path, spec_yaml(member.lab, source))
        specs.append(path)
    record = {**fleet.to_dict(), "source": source, "specs": [p.name for p in specs]}
    write_atomic(directory / FLEET_FILE, json.dumps(record, indent=2) + "\n")
    return specs


def _fleet_record(text: str) -> dict[str, Any]:
    """fleet.json, checked for what the fleet commands read from it."""
    from labctl.lab.readback import json_value  # noqa: PLC0415

    record: dict[str, Any] = json_value(text)
    for name in record["specs"]:
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".yaml"):
            raise ValueError(f"`specs` holds {name!r:.80}, not the file name of a member spec")
    for lab in record["labs"]:
        if not (isinstance(lab["name"], str) and isinstance(lab["network"]["cidr"], str)):
            raise ValueError("a lab in `labs` has no text `name` or `network.cidr`")
    return record


def read_fleet(directory: Path) -> dict[str, Any]:
    from labctl.lab.readback import read_json  # noqa: PLC0415

    path = directory / FLEET_FILE
    record = read_json(
        path,
        _fleet_record,
        lambda reason: UsageError(
            f"{path} is damaged ({reason})",
            f"move it aside (mv {path} {path}.bad) and run `labctl fleet up` again; "
            "the member specs beside it stay",
        ),
    )
    if record is None:
        raise UsageError(
            f"no fleet in {directory}",
            "create one with `labctl fleet up --count N --prefix PREFIX [FILE]`",
        )
    return record


def member_specs(directory: Path) -> list[Path]:
    return [directory / name for name in read_fleet(directory)["specs"]]


@dataclass
class LabRun:
    """One member lab's labctl process as the fleet sees it."""

    name: str
    spec: Path
    phase: str = "waiting"
    status: str = "waiting"  # waiting | running | ok | failed
    exit_code: int | None = None
    elapsed: float = 0.0
    error: str | None = None
    failed_phase: str | None = None
    log: Path | None = None


@dataclass
class FleetRunner:
    """Runs one labctl command per lab with bounded concurrency, following their JSON events."""

    runs: list[LabRun]
    concurrency: int
    on_change: Callable[[LabRun], None] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Run the first lab alone before the others start (the provider's labs_boot_together).
    first_alone: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, command: Sequence[str], *, json_events: bool = True) -> list[LabRun]:
        rest = self.runs
        if self.first_alone and self.runs:
            self._one(self.runs[0], list(command), json_events)
            rest = self.runs[1:]
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for lab in rest:
                pool.submit(self._one, lab, list(command), json_events)
        return self.runs

    def _update(self, lab: LabRun, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(lab, key, value)
        if self.on_change:
            self.on_change(lab)

    def _one(self, lab: LabRun, command: list[str], json_events: bool) -> None:
        argv = [sys.executable, "-m", "labctl", *command, str(lab.spec)]
        if json_events:
            argv += ["-o", "json"]
        lab.log = lab.spec.parent / STATE_DIR / lab.name / f"fleet-{command[0]}.log"
        lab.log.parent.mkdir(parents=True, exist_ok=True)
        self._update(lab, status="running", phase=command[0])
        started = time.monotonic()
        env = {**os.environ, "NO_COLOR": "1", **self.extra_env}
        with lab.log.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(argv, cwd=lab.spec.parent, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    text=True, env=env)  # fmt: skip
            assert proc.stdout is not None  # noqa: S101 - PIPE was asked for
            for line in proc.stdout:
                log.write(line)
                if json_events:
                    self._follow(lab, line)
            code = proc.wait()
        ok = code == 0
        self._update(lab, status="ok" if ok else "failed", exit_code=code,
                     elapsed=time.monotonic() - started)  # fmt: skip
        if not ok and lab.error is None:
            self._update(lab, error=_last_error(lab.log))

    def _follow(self, lab: LabRun, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if event.get("event") == "phase":
            if event.get("status") == "started":
                self._update(lab, phase=event["phase"])
            elif event.get("status") in {"failed", "interrupted"}:
                self._update(lab, failed_phase=event["phase"], error=event.get("error"))
        elif event.get("event") == "result" and event.get("status") == "failed":
            self._update(lab, error=event.get("error"))


def _last_error(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace")  # tool output may hold any bytes
    lines = [x for x in text.splitlines() if x.startswith("error:")]
    return lines[0].removeprefix("error: ") if lines else "see the log"


def fleet_exit_code(runs: Sequence[LabRun]) -> int:
    """0 when every lab succeeded; else the exit code of the first failed lab (in name order)."""
    failed = sorted((r for r in runs if r.status == "failed"), key=lambda r: r.name)
    return (failed[0].exit_code or int(ExitCode.INTERNAL)) if failed else 0


@dataclass(frozen=True)
class LabReadiness:
    """A member lab's state as `fleet status` reports it, read from its lab directory."""

    name: str
    cidr: str
    ready: bool
    next_phase: str | None
    failed_phase: str | None
    error: str | None
    time_to_ready: float | None
    checks: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def readiness(spec: Path) -> LabReadiness:
    """How far a member lab got, from its spec and state.json alone (no Vagrant call: fast)."""
    from labctl.lab.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.lab.state import first_pending, load_state, spec_hash  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415
    from labctl.spec.loader import load_lab  # noqa: PLC0415

    plan = plan_lab(load_lab(spec).lab)
    lab_dir = lab_dir_for(spec, plan.name)
    state = load_state(lab_dir, plan.name)
    current = spec_hash(plan.lab)
    pending = first_pending(plan, state, current)
    failed = next((n for n, r in state.phases.items() if r.status in {"failed", "interrupted"}),
                  None)  # fmt: skip
    checks = "not run"
    try:
        report = json.loads((lab_dir / "checks.json").read_text(encoding="utf-8"))
        summary = report["summary"]
        checks = f"{summary['passed']}/{summary['total'] - summary['skipped']} passed"
    except (OSError, ValueError, KeyError, TypeError):  # not run, or not a report: say so
        pass
    done = pending is None
    total = sum(r.elapsed for r in state.phases.values()) if done else None
    return LabReadiness(
        name=plan.name,
        cidr=plan.network.cidr,
        ready=done,
        next_phase=pending,
        failed_phase=failed,
        error=state.phases[failed].error if failed else None,
        time_to_ready=round(total, 1) if total is not None else None,
        checks=checks,
    )


def plan_here(
    base: Lab, count: int, prefix: str | None, directory: Path, *, max_parallel: int | None
) -> FleetPlan:
    """The fleet for this host: subnets its provider allows and the host does not use, a boot
    concurrency for its RAM and CPUs, and the subnets an existing fleet in `directory` has."""
    import os  # noqa: PLC0415

    from labctl import doctor  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415
    from labctl.workshop import fleet  # noqa: PLC0415

    facts = doctor.gather_facts(plan_lab(base))
    keep = {}
    if (directory / FLEET_FILE).exists():
        keep = {lab["name"]: lab["network"]["cidr"] for lab in read_fleet(directory)["labs"]}
    return fleet.plan_fleet(
        base,
        count,
        prefix,
        allowed=fleet.allowed_ranges(base.provider, facts.vbox_networks_conf),
        avoid=[n for n in fleet.networks_in_use(facts) if str(n) not in keep.values()],
        keep=keep,
        host_free_mib=facts.free_memory_mib,
        host_cpus=os.cpu_count(),
        max_parallel=max_parallel,
    )
