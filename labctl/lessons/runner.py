"""Run a step's probes on the lab through the smoke checks' runner, and judge them.

Each probe becomes one Step of a Check run by labctl.checks.runner.run_check on the primary
server, so probes get the same SSH pool, timeouts and records as smoke checks. The check runner
turns an SSH failure into an error result; lessons need to tell "not done" (exit 6) from "cannot
reach the lab" (exit 4), so the executor is watched and its SSH error raised again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.catalogue import CheckInfo
from labctl.checks.model import (
    Check,
    CheckCannotRunError,
    Credentials,
    Records,
    Status,
    Step,
    Target,
    Verdict,
    fixed,
)
from labctl.checks.runner import Clocks, Executor, run_check
from labctl.errors import BootError, LabctlError
from labctl.lessons.judges import Seen, run_judge
from labctl.lessons.kubectl import on_server, parse_kubectl
from labctl.lessons.registry import BY_NAME, SHARED_PROBES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from labctl.lessons.model import Lesson, Probe
    from labctl.lessons.model import Step as LessonStep
    from labctl.lessons.verdicts import Lang
    from labctl.plan import Plan
    from labctl.tools.ssh import CommandResult, SshTarget

PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe: what ran, and what its judge found (in the learner's language)."""

    command: str
    judge: str
    done: bool
    message: str


@dataclass(frozen=True)
class StepOutcome:
    """A step is done when every probe's judge says so."""

    done: bool
    probes: tuple[ProbeOutcome, ...]

    @property
    def message(self) -> str:
        """What the learner reads first: the first probe not done, else every finding."""
        missing = [p.message for p in self.probes if not p.done]
        return missing[0] if missing else "; ".join(p.message for p in self.probes)


def probe_step(index: int, probe: Probe) -> Step:
    """The probe as a check Step on the primary server (a shared probe is the smoke check's own
    Step, renamed); every probe runs even when an earlier one exits non-zero."""
    name = f"probe-{index}"
    if probe.run is None:
        shared = SHARED_PROBES[str(probe.shared)]
        return dataclasses.replace(shared, name=name, stop_on_failure=False)
    return Step(
        name,
        Target.PRIMARY,
        fixed(on_server(probe.run)),
        timeout=PROBE_TIMEOUT_S,
        stop_on_failure=False,
    )


class _Watched:
    """An executor that remembers the SSH failure the check runner would swallow."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.error: LabctlError | None = None

    def run(
        self, target: SshTarget, command: str, timeout: float = 60.0, *, stdin: str | None = None
    ) -> CommandResult:
        try:
            return self.inner.run(target, command, timeout, stdin=stdin)
        except LabctlError as exc:
            self.error = exc
            raise


def _check_for(
    lesson: Lesson, step: LessonStep, answer: str | None, lang: Lang, found: list[ProbeOutcome]
) -> Check:
    steps = tuple(probe_step(i, p) for i, p in enumerate(step.probes))

    def judge(records: Records, plan: Plan) -> Verdict:
        for i, probe in enumerate(step.probes):
            record = records.get(f"probe-{i}")
            if record is None:
                raise CheckCannotRunError(f"probe {i + 1} did not run", Status.ERROR)
            lesson_judge = BY_NAME[probe.judge]
            seen = Seen(record, parse_kubectl(probe.run) if probe.run else None, plan, answer)
            finding = run_judge(lesson_judge, seen, lesson_judge.params.model_validate(probe.with_))
            found.append(
                ProbeOutcome(record.command, probe.judge, finding.done, finding.said.text(lang))
            )
        ok = all(p.done for p in found)
        return Verdict(Status.PASSED if ok else Status.FAILED, "")

    info = CheckInfo(f"lesson {lesson.name}/{step.id}", f"step {step.id} of lesson {lesson.name}")
    return Check(info, steps, judge)


def run_step(
    plan: Plan,
    targets: Mapping[str, SshTarget],
    known_hosts: Path,
    lesson: Lesson,
    step: LessonStep,
    *,
    lang: Lang,
    answer: str | None = None,
    executor: Executor | None = None,
    clocks: Clocks | None = None,
) -> StepOutcome:
    """Run the step's probes on the primary server and judge them; SSH failures raise."""
    if executor is None:
        from labctl.tools.ssh import SshPool  # noqa: PLC0415 - SSH only when a real lab is checked

        with SshPool(known_hosts) as pool:
            return run_step(
                plan,
                targets,
                known_hosts,
                lesson,
                step,
                lang=lang,
                answer=answer,
                executor=pool,
                clocks=clocks,
            )
    watched = _Watched(executor)
    found: list[ProbeOutcome] = []
    check = _check_for(lesson, step, answer, lang, found)
    result = run_check(check, plan, targets, watched, Credentials(), clocks or Clocks())
    if watched.error is not None:
        raise watched.error
    if result.status is Status.ERROR and not found:  # e.g. no SSH details for the server
        raise BootError(result.message, "run `labctl status` to see the lab's machines")
    return StepOutcome(all(p.done for p in found), tuple(found))


def reset_command(namespace: str) -> str:
    """Delete a lesson's namespace and everything in it; absent is fine, do not wait."""
    return on_server(f"kubectl delete namespace {namespace} --ignore-not-found --wait=false")
