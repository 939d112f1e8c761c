"""`labctl up` as data: the plan's phases, walked in order, state saved after each one.

A phase already done for this spec is skipped, so a re-run resumes at the first phase not done;
`--from` re-runs from a phase on, `--until` stops after one. A failure or Ctrl-C is recorded
in state.json before it propagates, and the next `up` picks up there. Consecutive Ansible phases
to run share one ansible-playbook process; its play starts mark where each phase ends
(labctl.lab.phasebatch), so they are reported, recorded and resumed one by one all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from labctl import interrupts
from labctl.errors import (
    BootError,
    ChecksFailedError,
    ExitCode,
    InterruptedByUserError,
    LabctlError,
    UsageError,
)
from labctl.lab.state import LabState, PhaseRecord, load_state, save_state, spec_hash
from labctl.lab.targets import load_targets, save_targets
from labctl.messages import cut, quoted
from labctl.tools.procs import children_stop_on_interrupt, stop_children

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.checks import CheckResult
    from labctl.doctor import Finding
    from labctl.plan import Phase, Plan


class Progress(Protocol):
    """Where the walk reports what it does: a live view, plain lines, or JSON events."""

    def phase_started(self, phase: Phase, number: int, total: int) -> None: ...

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None: ...

    def step(self, phase: Phase, text: str) -> None: ...


@dataclass
class Runtime:
    """What phases need: the plan, where its files live, how to report, and options."""

    plan: Plan
    lab_dir: Path
    progress: Progress
    verbosity: int = 0
    skip_preflight: frozenset[str] = frozenset()
    offline_dir: Path | None = None  # K3s, Argo CD, GitLab artifacts from here, not the internet
    stamp: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))
    notes: dict[str, str] = field(default_factory=dict)  # phase -> a line for the summary
    # Whether to trust a host key of the user's own machine (name, address, "TYPE SHA256:...")
    # that the lab has not seen: asked on a terminal, yes with --accept-new-host-keys.
    trust_new_key: Callable[[str, str, str], bool] = lambda *_: False

    @property
    def log_dir(self) -> Path:
        return self.lab_dir / "runs" / f"{self.stamp}-vagrant"

    @property
    def known_hosts(self) -> Path:
        return self.lab_dir / "known_hosts"


Handler = Callable[[Runtime, "Phase"], None]


def _vagrant(rt: Runtime):  # type: ignore[no-untyped-def]
    from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415 - edges load only when used

    return VagrantLab(rt.lab_dir, rt.log_dir)


def _preflight(rt: Runtime, phase: Phase) -> None:
    from labctl import doctor  # noqa: PLC0415

    if not rt.plan.provider.boots_machines:
        _preflight_machines(rt, phase)
        return
    skip = set(rt.skip_preflight)
    if load_state(rt.lab_dir, rt.plan.name).phases.get("boot"):
        # The lab's machines already exist: their memory and disk are in use by the lab itself,
        # so judging the whole lab as new would count them twice.
        skip |= {"memory", "disk"}
    findings = doctor.preflight(rt.plan, doctor.gather_facts(rt.plan), frozenset(skip))
    warnings = [f for f in findings if f.status == "warn"]
    for finding in warnings:
        rt.progress.step(phase, f"warning: {finding.id}: {finding.message}")
    rt.notes[phase.name] = f"{len(findings)} checks, {len(warnings)} warnings"


def _preflight_machines(rt: Runtime, phase: Phase) -> None:
    """The machines exist: judge them over SSH, trusting a new host key only as the user says."""
    from labctl.doctor.verdict import check_skip_ids, settle  # noqa: PLC0415

    check_skip_ids(rt.skip_preflight, rt.plan.provider.machine_finding_ids())
    rt.progress.step(phase, f"connecting to {len(rt.plan.machines)} machines")
    findings = machine_findings(rt.plan, rt.known_hosts, rt.trust_new_key)
    warnings = [f for f in findings if f.status == "warn"]
    for finding in warnings:
        rt.progress.step(phase, f"warning: {finding.id}: {finding.message}")
    settle(rt.plan, findings, rt.skip_preflight)
    rt.notes[phase.name] = f"{len(findings)} checks, {len(warnings)} warnings"


def machine_findings(
    plan: Plan, known_hosts: Path, trust: Callable[[str, str, str], bool]
) -> list[Finding]:
    """Preflight of machines that exist (provider ssh), over SSH with the lab's known_hosts;
    `trust` says whether to pin a host key the lab has not seen (else it is a finding)."""
    from labctl.tools.ssh import RetryPolicy, SshPool  # noqa: PLC0415

    # A machine that is not there now will not appear while preflight waits: retry briefly.
    with SshPool(known_hosts, retry=RetryPolicy(attempts=3), trust_new=trust) as pool:
        return plan.provider.machine_preflight(plan, pool)


def _render(rt: Runtime, phase: Phase) -> None:
    from labctl.lab.labdir import render_into  # noqa: PLC0415

    changed = [w for w in render_into(rt.plan, rt.lab_dir) if w.changed]
    rt.notes[phase.name] = f"{len(changed)} files changed"


def _boot(rt: Runtime, phase: Phase) -> None:
    def on_line(machine: str, line: str) -> None:
        if line.startswith("==>") or rt.verbosity:
            rt.progress.step(phase, line.removeprefix("==> "))

    names = [m.name for m in rt.plan.machines]
    vagrant = _vagrant(rt)
    provider = rt.plan.provider
    provider.before_boot(rt.plan, vagrant, lambda text: rt.progress.step(phase, text))
    timings = vagrant.up_all(names, provider.name, on_line, together=provider.boots_together)
    rt.notes[phase.name] = ", ".join(f"{n} {t:.0f}s" for n, t in timings.items())


def _wait_ssh(rt: Runtime, phase: Phase) -> None:
    from labctl.lab.labdir import lab_paths, write_atomic  # noqa: PLC0415
    from labctl.render import ssh_inventory  # noqa: PLC0415

    provider = rt.plan.provider
    own = provider.ssh_targets(rt.plan)
    targets = dict(own) if own is not None else _vagrant(rt).ssh_targets()
    missing = [m.name for m in rt.plan.machines if m.name not in targets]
    if missing:
        raise BootError(
            f"vagrant ssh-config has no entry for {', '.join(missing)}",
            "the machine is not running; `labctl status` shows its state",
        )
    save_targets(rt.lab_dir, targets)
    known = lab_paths(rt.lab_dir).lab_dir / "known_hosts"
    inventory = ssh_inventory(targets, known, pinned_first=not provider.boots_machines)
    write_atomic(rt.lab_dir / "inventory" / "ssh.yml", inventory)
    from labctl.tools.ssh import renew_host_keys  # noqa: PLC0415

    with provider.command_executor(rt.known_hosts) as pool:
        for name in sorted(targets):
            rt.progress.step(phase, f"{name}: waiting for SSH")
            # Only machines Vagrant just made get fresh host keys; the user's keep theirs.
            if provider.boots_machines and renew_host_keys(targets[name], rt.known_hosts):
                rt.progress.step(phase, f"{name}: fresh SSH host keys (first boot)")
            pool.run(targets[name], "true", timeout=30)


def _ansible(rt: Runtime, phase: Phase) -> None:
    ident = f"{rt.stamp}-{phase.name}"

    def on_task(task: str) -> None:
        rt.progress.step(phase, task)

    from labctl.lab.incontroller import run_lab_playbook  # noqa: PLC0415

    result = run_lab_playbook(
        rt.plan,
        rt.lab_dir,
        tags=phase.tags,
        ident=ident,
        on_task=on_task,
        offline=rt.offline_dir,
        verbosity=rt.verbosity,
    )
    from labctl.lab.phasebatch import settle_run  # noqa: PLC0415

    settle_run(result, phase.name)
    rt.notes[phase.name] = f"{result.changed_total} changed"


def _controller(rt: Runtime, phase: Phase) -> None:
    from labctl.lab.incontroller import setup_controller  # noqa: PLC0415

    setup_controller(rt, phase)


def check_lab(
    rt: Runtime,
    phase: Phase,
    only: Collection[str] = (),
    skip: Collection[str] = (),
    settle: float = 0.0,
) -> tuple[CheckResult, ...]:
    """Run the smoke checks and keep their JSON report in the lab directory (checks.json);
    `settle`: how long the checks of a still-starting lab may be polled (run_checks)."""
    from labctl.checks import load_credentials, render_json, run_checks  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    results = run_checks(
        rt.plan,
        load_targets(rt.lab_dir),
        rt.known_hosts,
        only=only,
        skip=skip,
        credentials=load_credentials(rt.lab_dir),
        on_start=lambda name: rt.progress.step(phase, f"check {name}"),
        settle=settle,
    )
    write_atomic(rt.lab_dir / "checks.json", render_json(results, rt.plan.name))
    return results


def _checks(rt: Runtime, phase: Phase) -> None:
    from labctl.checks import Status  # noqa: PLC0415

    results = check_lab(rt, phase)
    failed = [r for r in results if r.status in {Status.FAILED, Status.ERROR}]
    passed = sum(r.status is Status.PASSED for r in results)
    rt.notes[phase.name] = f"{passed} passed, {len(failed)} failed"
    if failed:
        raise ChecksFailedError(
            f"{len(failed)} of {len(results)} smoke checks failed",
            "`labctl check` runs them again and shows each result",
            details=[f"{r.name}: {r.message}" for r in failed],
        )


def _access(rt: Runtime, phase: Phase) -> None:
    from labctl.lab.attendees import open_access  # noqa: PLC0415

    open_access(rt, phase)


def _baseline(rt: Runtime, phase: Phase) -> None:
    from labctl.lab.snapshot import save_baseline  # noqa: PLC0415

    save_baseline(rt, phase)


HANDLERS: dict[str, Handler] = {
    "preflight": _preflight,
    "render": _render,
    "boot": _boot,
    "wait-ssh": _wait_ssh,
    "controller": _controller,
    "prepare": _ansible,
    "k3s-servers": _ansible,
    "k3s-agents": _ansible,
    "kubeconfig": _ansible,
    "access": _access,
    "addons": _ansible,
    "checks": _checks,
    "baseline": _baseline,
}


def select(plan: Plan, start: str | None, until: str | None) -> tuple[Phase, ...]:
    """The slice of the plan's phases that --from/--until ask for (pure)."""
    names = [p.name for p in plan.phases]
    for option, value in (("--from", start), ("--until", until)):
        if value is not None and value not in names:
            raise UsageError(
                f"{option} {cut(value)}: this lab has no phase {quoted(value)}",
                f"its phases are: {', '.join(names)}",
            )
    first = names.index(start) if start else 0
    last = names.index(until) if until else len(names) - 1
    if first > last:
        raise UsageError(f"--from {start} comes after --until {until}", "swap them")
    return plan.phases[first : last + 1]


def walk(
    rt: Runtime,
    *,
    start: str | None = None,
    until: str | None = None,
    handlers: dict[str, Handler] | None = None,
    running: Callable[[Runtime], set[str]] | None = None,
) -> LabState:
    """Run the selected phases; skip those done for this spec unless --from names them."""
    handlers = handlers or HANDLERS
    current = spec_hash(rt.plan.lab)
    state = load_state(rt.lab_dir, rt.plan.name)
    state = LabState(lab=state.lab, spec_hash=current, phases=state.phases, machines=state.machines)
    phases = select(rt.plan, start, until)
    if any(p.name == "boot" for p in phases) and state.done("boot", current):
        state = _forget_boot_if_machines_stopped(rt, state, (running or _running)(rt))
    forced = start is not None  # --from re-runs its slice even where it is done
    walker = _Walker(rt, state, current, phases)
    number = 0
    while number < len(phases):
        phase = phases[number]
        if not forced and walker.state.done(phase.name, current):
            rt.progress.phase_finished(phase, "skipped", 0.0, "already done")
            number += 1
            continue
        batch = [phase]
        while (
            handlers[phase.name] is _ansible
            and number + len(batch) < len(phases)
            and handlers[(following := phases[number + len(batch)]).name] is _ansible
            and (forced or not walker.state.done(following.name, current))
        ):
            batch.append(following)
        walker.start(phase)
        if len(batch) == 1:
            walker.run(partial(handlers[phase.name], rt, phase))
        else:  # one ansible-playbook for them all, as a user would run site.yml
            from labctl.lab.phasebatch import run_phases  # noqa: PLC0415

            walker.run(partial(run_phases, rt, batch, walker))
        number += len(batch)
    return walker.state


class _Walker:
    """The walk's bookkeeping: the running phase, its clock, its record in state.json."""

    def __init__(self, rt: Runtime, state: LabState, spec: str, phases: tuple[Phase, ...]) -> None:
        self.rt, self.state, self.spec, self.total = rt, state, spec, len(phases)
        self.numbers = {phase.name: number for number, phase in enumerate(phases, start=1)}
        self.active = phases[0]  # set by start
        self.began, self.clock = 0.0, 0.0

    def start(self, phase: Phase) -> None:
        self.active = phase
        self.rt.progress.phase_started(phase, self.numbers[phase.name], self.total)
        self.began, self.clock = time.time(), time.monotonic()

    def done(self) -> None:
        phase, elapsed = self.active, time.monotonic() - self.clock
        record = PhaseRecord("done", self.began, elapsed, self.spec)
        self.state = self.state.with_phase(phase.name, record)
        save_state(self.rt.lab_dir, self.state)
        self.rt.progress.phase_finished(phase, "done", elapsed, self.rt.notes.get(phase.name))

    def advance(self, to: Phase) -> None:
        """One run of several phases moved on: the active one is done, `to` starts."""
        self.done()
        self.start(to)

    def run(self, action: Callable[[], None]) -> None:
        """Run the active phase's work; a failure or Ctrl-C is recorded on whichever phase is
        active when it comes, then propagates."""
        try:
            with children_stop_on_interrupt():
                action()
        except KeyboardInterrupt:
            stop_children(grace=5.0)  # what is left, if the handler's own stop did not run
            phase, elapsed = self.active, time.monotonic() - self.clock
            why = interrupts.reason()
            record = PhaseRecord("interrupted", self.began, elapsed, self.spec,
                                 f"interrupted by {why}")  # fmt: skip
            save_state(self.rt.lab_dir, _interrupted(self.state.with_phase(phase.name, record)))
            self.rt.progress.phase_finished(phase, "interrupted", elapsed, why)
            raise InterruptedByUserError(
                f"interrupted during {phase.name} by {why}; the lab's state is saved",
                "run `labctl up` again to resume from this phase",
                ExitCode(interrupts.exit_code()),
            ) from None
        except Exception as exc:
            # Recorded whatever it was (a LabctlError or a bug), so status shows where it broke.
            message = (
                exc.message if isinstance(exc, LabctlError) else f"{type(exc).__name__}: {exc}"
            )
            phase, elapsed = self.active, time.monotonic() - self.clock
            record = PhaseRecord("failed", self.began, elapsed, self.spec, message)
            save_state(self.rt.lab_dir, self.state.with_phase(phase.name, record))
            self.rt.progress.phase_finished(phase, "failed", elapsed, message)
            raise
        self.done()


def _running(rt: Runtime) -> set[str]:
    from labctl.lab.machines import machine_states  # noqa: PLC0415

    states = machine_states(rt.plan, rt.lab_dir)
    return {name for name, state in states.items() if state == "running"}


def _forget_boot_if_machines_stopped(rt: Runtime, state: LabState, running: set[str]) -> LabState:
    """A machine that stopped since (killed, host rebooted, halted by hand) needs boot again."""
    stopped = [m.name for m in rt.plan.machines if m.name not in running]
    if not stopped:
        return state
    boot = next(p for p in rt.plan.phases if p.name == "boot")
    rt.progress.step(boot, f"not running: {', '.join(stopped)}; booting again")
    rerun = {"boot", "wait-ssh", "checks"}
    return LabState(state.lab, state.spec_hash,
                    {k: v for k, v in state.phases.items() if k not in rerun},
                    state.machines, state.interrupted)  # fmt: skip


def _interrupted(state: LabState) -> LabState:
    return LabState(state.lab, state.spec_hash, state.phases, state.machines, interrupted=True)


def forget_phases(lab_dir: Path, lab: str, keep: Collection[str] = ()) -> None:
    """Mark phases as not done (after destroy, everything; after halt, boot onwards)."""
    state = load_state(lab_dir, lab)
    phases = {k: v for k, v in state.phases.items() if k in keep}
    save_state(lab_dir, LabState(lab, state.spec_hash, phases, {}))
