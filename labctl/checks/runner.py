"""Run the enabled checks of a plan, in catalogue order, through an executor.

The executor is anything with `run(target, command, timeout, *, stdin=None) -> CommandResult`:
labctl.tools.ssh.SshPool for a real lab, labctl.checks.replay.RecordedOutputReplay for recorded
outputs. Clocks and sleep are parameters, so a replay runs polls without waiting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from labctl.catalogue import CHECK_NAMES
from labctl.checks.model import (
    Check,
    CheckCannotRunError,
    CheckResult,
    Context,
    Credentials,
    Status,
    Step,
    StepRecord,
    Target,
    Verdict,
    record_key,
)
from labctl.checks.registry import BY_NAME, CHECKS
from labctl.errors import ExitCode, LabctlError, UsageError
from labctl.render import LabPaths

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from labctl.plan import Machine, Plan
    from labctl.tools.ssh import CommandResult, SshTarget


class Executor(Protocol):
    """Runs one command on one machine (labctl.tools.ssh.SshPool has exactly this method)."""

    def run(
        self, target: SshTarget, command: str, timeout: float = 60.0, *, stdin: str | None = None
    ) -> CommandResult: ...


@dataclass(frozen=True)
class Clocks:
    """Time as the runner sees it: `monotonic` for bounds, `wall` for records, `sleep` for polls."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


# Checks that fail for a while on a healthy lab that is still starting (after `labctl reset`
# K3s cold-starts and a restored guest's clock is stale until time sync catches up); with a
# settle time they are polled until they pass, as replicaset-self-heal polls its pods.
SETTLING = frozenset({"nodes-ready", "system-pods", "deployment", "clock"})
SETTLE_EVERY_S = 5.0
# How long after a restore the checks may wait for K3s (about three minutes).
AFTER_RESTORE_SETTLE_S = 180.0


@dataclass(frozen=True)
class Selected:
    """A check picked for this run, or the reason it is reported as skipped instead."""

    check: Check
    skip_reason: str | None = None


def select_checks(
    plan: Plan, only: Iterable[str] = (), skip: Iterable[str] = ()
) -> tuple[Selected, ...]:
    """The catalogue filtered by the plan (spec checks.skip, addons), `--only` and `--skip`.

    Checks left out by the plan or `--skip` stay in the result as skipped with the reason, so
    reports list every check; `--only` leaves the others out entirely. Unknown names are a
    usage error naming the known ones.
    """
    only, skip = tuple(only), tuple(skip)
    unknown = [name for name in (*only, *skip) if name not in BY_NAME]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(repr(n) for n in unknown)}",
            hint=f"known checks: {', '.join(CHECK_NAMES)} (`labctl check --list`)",
        )
    chosen = []
    for check in CHECKS:
        if only and check.name not in only:
            continue
        chosen.append(Selected(check, _skip_reason(check, plan, skip)))
    return tuple(chosen)


def _skip_reason(check: Check, plan: Plan, skip: tuple[str, ...]) -> str | None:
    if check.name in skip:
        return "skipped with --skip"
    if check.name in plan.lab.checks.skip:
        return "skipped by checks.skip in the lab spec"
    if check.name not in plan.checks:
        return f"needs {' and '.join(check.info.needs)}, not enabled in the lab spec"
    return check.skip_reason(plan) if check.skip_reason else None


def load_credentials(lab_dir: Path) -> Credentials:
    """The secrets the addon checks need, from the files the playbooks saved (0600) in the lab
    directory; a missing file leaves its field None and the check that needs it fails clearly."""

    paths = LabPaths(PurePosixPath(lab_dir.as_posix()))  # where render names the secrets

    def read(file: PurePosixPath) -> str | None:
        path = Path(str(file))
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8", errors="replace").strip() or None

    return Credentials(
        argocd_admin_password=read(paths.argocd_password_file),
        gitlab_root_password=read(paths.gitlab_password_file),
        gitlab_api_token=read(paths.gitlab_api_token_file),
    )


def run_checks(
    plan: Plan,
    targets: Mapping[str, SshTarget],
    known_hosts: Path,
    *,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    executor: Executor | None = None,
    credentials: Credentials | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    clocks: Clocks | None = None,
    settle: float = 0.0,
) -> tuple[CheckResult, ...]:
    """Run the selected checks in catalogue order and return one result per check.

    `settle` > 0 (seconds, after a restore or boot): the checks in SETTLING are run again until
    they pass, until that long after the start at most, since K3s is still starting then.

    `targets` maps machine names to what `vagrant ssh-config` reported. Without an executor an
    SshPool on `known_hosts` is opened and closed here. A check that cannot reach its machine
    is an error result, not an exception: the other checks still run. `on_start`/`on_result`
    feed a progress view.
    """
    selection = select_checks(plan, only, skip)
    clocks = clocks or Clocks()
    credentials = credentials or Credentials()
    if executor is not None:
        return _run_all(
            selection, plan, targets, executor, credentials, clocks, on_start, on_result, settle
        )
    with plan.provider.command_executor(known_hosts) as pool:
        return _run_all(
            selection, plan, targets, pool, credentials, clocks, on_start, on_result, settle
        )


def _run_all(
    selection: tuple[Selected, ...],
    plan: Plan,
    targets: Mapping[str, SshTarget],
    executor: Executor,
    credentials: Credentials,
    clocks: Clocks,
    on_start: Callable[[str], None] | None,
    on_result: Callable[[CheckResult], None] | None,
    settle: float = 0.0,
) -> tuple[CheckResult, ...]:
    results = []
    settle_until = clocks.monotonic() + settle
    for chosen in selection:
        if on_start:
            on_start(chosen.check.name)
        if chosen.skip_reason:
            result = CheckResult(chosen.check.name, Status.SKIPPED, chosen.skip_reason, 0.0)
        else:
            result = run_check(chosen.check, plan, targets, executor, credentials, clocks)
            while (
                settle > 0
                and chosen.check.name in SETTLING
                and result.status is not Status.PASSED
                and clocks.monotonic() + SETTLE_EVERY_S <= settle_until
            ):
                clocks.sleep(SETTLE_EVERY_S)
                result = run_check(chosen.check, plan, targets, executor, credentials, clocks)
        results.append(result)
        if on_result:
            on_result(result)
    return tuple(results)


def run_check(
    check: Check,
    plan: Plan,
    targets: Mapping[str, SshTarget],
    executor: Executor,
    credentials: Credentials,
    clocks: Clocks,
) -> CheckResult:
    """Run one check's steps, then judge the records; never raises for a lab problem."""
    start = clocks.monotonic()
    records: dict[str, StepRecord] = {}
    try:
        _run_steps(check, plan, targets, executor, credentials, clocks, records)
        verdict = check.judge(MappingProxyType(records), plan)
    except CheckCannotRunError as exc:
        verdict = Verdict(exc.status, exc.message)
    except LabctlError as exc:  # SSH: unreachable, key refused, host key mismatch, timeout
        verdict = Verdict(Status.ERROR, exc.message)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Output shaped unlike the API documents: say so instead of stopping every check.
        verdict = Verdict(Status.ERROR, f"unexpected output ({type(exc).__name__}: {exc})")
    return CheckResult(check.name, verdict.status, verdict.message, clocks.monotonic() - start)


def _run_steps(
    check: Check,
    plan: Plan,
    targets: Mapping[str, SshTarget],
    executor: Executor,
    credentials: Credentials,
    clocks: Clocks,
    records: dict[str, StepRecord],
) -> None:
    view = MappingProxyType(records)
    for step in check.steps:
        if step.when is not None and not step.when(plan):
            continue
        for machine in machines_for(plan, step.target):
            target = targets.get(machine.name)
            if target is None:
                raise CheckCannotRunError(
                    f"no SSH details for {machine.name} (is it running?)", Status.ERROR
                )
            ctx = Context(plan, view, credentials)
            record = _run_step(step, machine, target, ctx, executor, clocks)
            records[record_key(step.name, machine.name, step.target)] = record
            if step.stop_on_failure and not record.result.ok:
                return


def _run_step(
    step: Step,
    machine: Machine,
    target: SshTarget,
    ctx: Context,
    executor: Executor,
    clocks: Clocks,
) -> StepRecord:
    command = step.command(ctx)
    stdin = step.stdin(ctx) if step.stdin else None
    started_at = clocks.wall()
    deadline = clocks.monotonic() + (step.poll.within if step.poll else 0.0)
    attempts = 0
    while True:
        attempts += 1
        result = executor.run(target, command, step.timeout, stdin=stdin)
        poll = step.poll
        if poll is None or poll.done(result, ctx) or clocks.monotonic() + poll.every > deadline:
            break
        clocks.sleep(poll.every)
    return StepRecord(step.name, machine.name, command, result, attempts, started_at, clocks.wall())


def machines_for(plan: Plan, target: Target) -> tuple[Machine, ...]:
    """The machines a step runs on."""
    if target is Target.PRIMARY:
        return (plan.primary,)
    if target is Target.NODES:
        return plan.servers + plan.agents
    if target is Target.GITLAB:
        return (plan.gitlab,) if plan.gitlab else ()
    return plan.machines


def exit_code(results: Iterable[CheckResult]) -> ExitCode:
    """CHECKS_FAILED when any check failed or could not run; OK otherwise (skips are fine)."""
    bad = {Status.FAILED, Status.ERROR}
    return ExitCode.CHECKS_FAILED if any(r.status in bad for r in results) else ExitCode.OK
