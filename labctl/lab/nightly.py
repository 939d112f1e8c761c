"""`labctl test`: build, prove and tear down a lab in one command, for CI nightlies.

The sequence is data, like molecule's test sequence: preflight -> up -> idempotence -> checks ->
destroy. Each step is timed and recorded; the first failing step decides the exit code; destroy
always runs unless the caller asked to keep a failed lab for debugging. Reports (JUnit, JSON,
HTML with a per-phase timing chart) are rendered by pure functions from the recorded run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from labctl import interrupts
from labctl.errors import ExitCode, InterruptedByUserError, LabctlError, ProvisionError
from labctl.tools.procs import children_stop_on_interrupt

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labctl.checks import CheckResult
    from labctl.lab.workflow import Progress, Runtime
    from labctl.plan import Phase, Plan

StepStatus = Literal["passed", "failed", "interrupted", "skipped"]
STEPS: tuple[str, ...] = ("preflight", "up", "idempotence", "checks", "destroy")
OnFailure = Literal["destroy", "keep"]


@dataclass(frozen=True)
class StepResult:
    """One step of the test sequence."""

    name: str
    status: StepStatus
    elapsed: float
    message: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class PhaseTiming:
    """One phase of `up` as the run saw it."""

    name: str
    status: str
    elapsed: float
    error: str | None = None


@dataclass
class TestRun:
    """Everything `labctl test` records; reports are rendered from this alone."""

    lab: str
    started: float
    steps: list[StepResult] = field(default_factory=list)
    phases: list[PhaseTiming] = field(default_factory=list)
    checks: tuple[CheckResult, ...] = ()
    kept: bool = False

    @property
    def exit_code(self) -> int:
        return next((s.exit_code for s in self.steps if s.status in {"failed", "interrupted"}), 0)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class Recorder:
    """Passes progress on to the visible view and keeps each phase's outcome for the reports."""

    inner: Progress
    phases: list[PhaseTiming] = field(default_factory=list)

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        self.inner.phase_started(phase, number, total)

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.phases.append(PhaseTiming(phase.name, status, elapsed, error))
        self.inner.phase_finished(phase, status, elapsed, error)

    def step(self, phase: Phase, text: str) -> None:
        self.inner.step(phase, text)


def ansible_tags(plan: Plan) -> tuple[str, ...]:
    """Every tag the plan's Ansible phases run, in order: what an idempotence re-run replays."""
    return tuple(tag for phase in plan.phases for tag in phase.tags)


def idempotence_problem(changed: dict[str, int]) -> str | None:
    """None when a re-run changed nothing; else which hosts changed how many tasks (pure)."""
    hosts = {host: n for host, n in sorted(changed.items()) if n}
    if not hosts:
        return None
    listed = ", ".join(f"{host}: {n}" for host, n in hosts.items())
    return f"a second run changed {sum(hosts.values())} tasks ({listed}); roles must be idempotent"


def run_sequence(
    run: TestRun,
    steps: dict[str, Callable[[], str]],
    *,
    on_failure: OnFailure,
    on_step: Callable[[str], None] | None = None,
    on_record: Callable[[TestRun], None] | None = None,
) -> TestRun:
    """Walk STEPS: each callable returns a note or raises; after a failure the remaining steps
    are skipped, except destroy, which runs unless `on_failure` is keep.

    Whatever a step raises is recorded: a LabctlError with its own code, an interrupt (Ctrl-C,
    SIGTERM) as interrupted with 130 or 143, anything else (an OSError, a bug) as an internal
    error, 1. `on_record` sees the run after every step, so reports can be written before
    destroy starts: a CI runner may kill the whole tree seconds after a cancel.
    """
    failed = False
    for name in STEPS:
        if failed and name != "destroy":
            run.steps.append(StepResult(name, "skipped", 0.0, "an earlier step failed"))
            if on_record:
                on_record(run)
            continue
        if name == "destroy" and failed and on_failure == "keep":
            run.kept = True
            run.steps.append(
                StepResult(name, "skipped", 0.0, "kept for debugging (--on-failure keep)")
            )
            if on_record:
                on_record(run)
            continue
        if on_step:
            on_step(name)
        clock = time.monotonic()
        try:
            with children_stop_on_interrupt():
                note = steps[name]()
        except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - recorded, destroy still runs
            failed = True
            run.steps.append(_failed_step(name, exc, time.monotonic() - clock))
        else:
            run.steps.append(StepResult(name, "passed", time.monotonic() - clock, note))
        if on_record:
            on_record(run)
    return run


def _failed_step(name: str, exc: BaseException, elapsed: float) -> StepResult:
    """How one step's exception is recorded (see run_sequence)."""
    if isinstance(exc, KeyboardInterrupt):
        return StepResult(name, "interrupted", elapsed, f"interrupted by {interrupts.reason()}",
                          interrupts.exit_code())  # fmt: skip
    if isinstance(exc, LabctlError):
        status: StepStatus = "interrupted" if isinstance(exc, InterruptedByUserError) else "failed"
        return StepResult(name, status, elapsed, exc.message, int(exc.exit_code))
    return StepResult(name, "failed", elapsed, f"internal error: {type(exc).__name__}: {exc}",
                      int(ExitCode.INTERNAL))  # fmt: skip


def idempotence_step(lab_dir: Path, plan: Plan, stamp: str, offline: Path | None) -> str:
    """Replay every Ansible phase; anything changed the second time fails the step."""
    from labctl.lab.incontroller import run_lab_playbook  # noqa: PLC0415

    result = run_lab_playbook(
        plan, lab_dir, tags=ansible_tags(plan), ident=f"{stamp}-idempotence", offline=offline
    )
    if result.canceled:
        raise KeyboardInterrupt
    if not result.ok:
        raise ProvisionError(
            f"the idempotence re-run failed: ansible status {result.status}, rc {result.rc}",
            f"its events are in {result.artifacts}",
            details=[str(f) for f in result.failures],
        )
    problem = idempotence_problem(dict(result.changed))
    if problem:
        raise ProvisionError(problem, f"see the changed tasks in {result.artifacts}")
    return "changed=0 on every host"


def run_test(
    runtime: Runtime,
    run: TestRun,
    *,
    on_failure: OnFailure,
    on_step: Callable[[str], None],
    on_note: Callable[[str], None],
    on_record: Callable[[TestRun], None] | None = None,
) -> TestRun:
    """`labctl test` under the lab's lock: a lab of the same name is destroyed first (the CLI
    asked), then preflight, up, idempotence, checks and destroy, recorded into `run`."""
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lab.state import load_state  # noqa: PLC0415
    from labctl.lab.teardown import destroy_lab  # noqa: PLC0415

    plan, lab_dir = runtime.plan, runtime.lab_dir
    checks_phase = next(p for p in plan.phases if p.name == "checks")
    with lab_lock(lab_dir, "test"):
        with children_stop_on_interrupt():  # a cancel here must not orphan vagrant destroy
            if load_state(lab_dir, plan.name).phases.get("boot"):
                for line in destroy_lab(plan, lab_dir):
                    on_note(f"(before the test) {line}")
            # Machines of this lab whose records are gone (a CI checkout's clean wiped .labctl/
            # after a killed night) would block the boot by name: they are this lab's, remove.
            for line in plan.provider.remove_left_behind(plan, lab_dir):
                on_note(f"(before the test) {line}")
        steps = {
            "preflight": lambda: _preflight(runtime),
            "up": lambda: _up(runtime),
            "idempotence": lambda: idempotence_step(
                lab_dir, plan, runtime.stamp, runtime.offline_dir
            ),
            "checks": lambda: _checks(runtime, checks_phase, run),
            "destroy": lambda: f"{len(list(destroy_lab(plan, lab_dir)))} things removed",
        }
        return run_sequence(run, steps, on_failure=on_failure, on_step=on_step,
                            on_record=on_record)  # fmt: skip


def _preflight(runtime: Runtime) -> str:
    from labctl import doctor  # noqa: PLC0415

    plan = runtime.plan
    findings = doctor.preflight(plan, doctor.gather_facts(plan), runtime.skip_preflight)
    warnings = sum(f.status == "warn" for f in findings)
    return f"{len(findings)} host checks, {warnings} warnings"


def _up(runtime: Runtime) -> str:
    from labctl.lab.workflow import walk  # noqa: PLC0415

    walk(runtime, start="render", until="addons")
    return f"{len(runtime.plan.machines)} machines up"


def _checks(runtime: Runtime, phase: Phase, run: TestRun) -> str:
    from labctl.checks import Status  # noqa: PLC0415
    from labctl.errors import ChecksFailedError  # noqa: PLC0415
    from labctl.lab.workflow import check_lab  # noqa: PLC0415

    run.checks = check_lab(runtime, phase)
    failed = [r for r in run.checks if r.status in {Status.FAILED, Status.ERROR}]
    if failed:
        raise ChecksFailedError(f"{len(failed)} of {len(run.checks)} checks failed: "
                                + ", ".join(r.name for r in failed))  # fmt: skip
    return f"{sum(r.status is Status.PASSED for r in run.checks)} passed"


# --- reports (pure) -------------------------------------------------------------------------


def _as_results(run: TestRun) -> tuple[list[CheckResult], list[CheckResult]]:
    """Steps as test cases, `up` expanded into its phases; the checks as their own list."""
    from labctl.checks import CheckResult, Status  # noqa: PLC0415

    status_of = {"done": Status.PASSED, "passed": Status.PASSED, "failed": Status.FAILED,
                 "interrupted": Status.ERROR, "skipped": Status.SKIPPED}  # fmt: skip
    steps: list[CheckResult] = []
    checks: list[CheckResult] = list(run.checks)
    for step in run.steps:
        as_case = CheckResult(step.name, status_of[step.status], step.message, step.elapsed)
        if step.name == "up" and run.phases:
            steps += [
                CheckResult(
                    p.name, status_of.get(p.status, Status.ERROR), p.error or p.status, p.elapsed
                )
                for p in run.phases
            ]
        elif step.name == "checks":
            if not checks:  # the checks never ran, or could not: say so in their suite
                checks.append(as_case)
        else:
            steps.append(as_case)
    return steps, checks


def render_junit(run: TestRun, *, timestamp: str, hostname: str) -> str:
    """One testcase per step, with `up` as one per phase, and one per smoke check."""
    from labctl.checks import render_junit_suites  # noqa: PLC0415

    steps, checks = _as_results(run)
    return render_junit_suites(
        "labctl test",
        [(f"labctl.{run.lab}.steps", steps), (f"labctl.{run.lab}.checks", checks)],
        timestamp=timestamp,
        hostname=hostname,
    )


def render_json(run: TestRun) -> str:
    """The run as JSON: lab, ok, exit_code, steps, phases, checks (schema labctl.test/v1)."""
    document = {
        "schema": "labctl.test/v1",
        "lab": run.lab,
        "ok": run.ok,
        "exit_code": run.exit_code,
        "kept": run.kept,
        "steps": [asdict(s) for s in run.steps],
        "phases": [asdict(p) for p in run.phases],
        "checks": [
            {"name": c.name, "status": c.status.value, "message": c.message, "elapsed": c.elapsed}
            for c in run.checks
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def timing_chart(phases: list[PhaseTiming], width: int = 640, bar: int = 22) -> str:
    """An inline SVG bar chart of each phase's time (pure; no scripts, no external files)."""
    from html import escape  # noqa: PLC0415

    shown = [p for p in phases if p.status != "skipped"]
    longest = max((p.elapsed for p in shown), default=1.0) or 1.0
    label_w, pad = 110, 4
    height = len(shown) * (bar + pad) + pad
    colour = {"done": "#2e7d32", "failed": "#c62828", "interrupted": "#ef6c00"}
    rows = []
    for i, phase in enumerate(shown):
        y = pad + i * (bar + pad)
        w = max(1.0, (width - label_w - 70) * phase.elapsed / longest)
        rows.append(
            f'<text x="0" y="{y + bar * 0.7:.1f}" font-size="13">{escape(phase.name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" '
            f'fill="{colour.get(phase.status, "#757575")}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar * 0.7:.1f}" font-size="13">'
            f"{phase.elapsed:.1f}s</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="time per phase">{"".join(rows)}</svg>'
    )


def render_html(run: TestRun, *, generated: str) -> str:
    """A self-contained HTML report: verdict, steps, a per-phase timing chart, the checks."""
    from labctl.render import environment  # noqa: PLC0415

    template = environment(html=True).get_template("report/test-report.html.j2")
    page: str = template.render(run=run, chart=timing_chart(run.phases), generated=generated,
                                exit_names={int(c): c.name.lower() for c in ExitCode})  # fmt: skip
    return page
