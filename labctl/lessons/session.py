"""What the `labctl lesson` commands do, apart from parsing and printing: pick the language,
see whether a lesson fits the lab, move through steps, count hints and solutions, reset.

Progress is read and written here (labctl.lessons.progress); probes run through
labctl.lessons.runner. Times come in as arguments so everything but the probes is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.errors import ExitCode, LabctlError, LessonStateError, PreflightError
from labctl.lessons.loader import all_lessons, find_lesson
from labctl.lessons.progress import LessonProgress, Progress, load_progress, save_progress
from labctl.lessons.runner import StepOutcome, reset_command, run_step

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from labctl.checks.runner import Executor
    from labctl.lessons.model import Lesson
    from labctl.lessons.model import Step as LessonStep
    from labctl.lessons.verdicts import Lang
    from labctl.plan import Plan
    from labctl.tools.ssh import SshTarget

# K3s must be installed on the servers before any probe can answer.
K3S_PHASE = "k3s-servers"


def pick_lang(option: str | None, environ: Mapping[str, str]) -> Lang:
    """`--lang` wins; else Korean when LC_ALL (or, unset, LANG) starts with `ko`; else English."""
    if option is not None:
        return "ko" if option.lower().startswith("ko") else "en"
    locale = environ.get("LC_ALL") or environ.get("LANG") or ""
    return "ko" if locale.lower().startswith("ko") else "en"


def missing_needs(lesson: Lesson, plan: Plan) -> list[str]:
    """What the lab lacks for this lesson, in words that say what to change in lab.yaml."""
    needs, lab = lesson.spec.needs, plan.lab
    missing = [
        f"addons.{a}.enabled: true" for a in needs.addons if not getattr(lab.addons, a).enabled
    ]
    missing += [
        f"K3s's {c} (lab.yaml disables it in k3s.disable)"
        for c in needs.components
        if c in lab.k3s.disable
    ]
    if len(plan.agents) < needs.agents:
        missing.append(f"at least {needs.agents} agent(s) (agents.count)")
    return missing


def needs_text(lesson: Lesson) -> str:
    needs = lesson.spec.needs
    parts: list[str] = [*needs.addons, *needs.components]
    if needs.agents:
        parts.append(f"{needs.agents}+ agent")
    return ", ".join(parts)


@dataclass(frozen=True)
class Row:
    """One line of `lesson list`."""

    name: str
    title: str
    concepts: str
    needs: str
    missing: tuple[str, ...]
    steps: int
    reached: int | None  # None: not started
    finished: bool
    hints: int
    solutions: int


def rows(plan: Plan, progress: Progress, lang: Lang) -> list[Row]:
    result = []
    for lesson in all_lessons():
        text = lesson.text(lang)
        lp = progress.lessons.get(lesson.name)
        result.append(
            Row(
                lesson.name,
                text.title,
                text.concepts,
                needs_text(lesson),
                tuple(missing_needs(lesson, plan)),
                len(lesson.spec.steps),
                lp.step if lp else None,
                bool(lp and lp.finished_at),
                lp.hints if lp else 0,
                lp.solutions if lp else 0,
            )
        )
    return result


def start(lab_dir: Path, plan: Plan, name: str, now: float) -> tuple[Lesson, LessonProgress, bool]:
    """Make `name` the current lesson (resuming it if started before); returns whether resumed."""
    lesson = find_lesson(name)
    missing = missing_needs(lesson, plan)
    if missing:
        raise PreflightError(
            f"lesson {name} needs {'; '.join(missing)} in lab {plan.name}",
            "change lab.yaml and run `labctl up`, or pick another lesson (`labctl lesson list`)",
        )
    progress = load_progress(lab_dir, plan.name)
    lp = progress.lessons.get(name)
    resumed = lp is not None and lp.finished_at is None
    if lp is None or lp.finished_at is not None:
        lp = LessonProgress(started_at=now)
        progress.lessons[name] = lp
    progress.current = name
    save_progress(lab_dir, progress)
    return lesson, lp, resumed


def current(lab_dir: Path, plan: Plan) -> tuple[Progress, Lesson, LessonProgress]:
    progress = load_progress(lab_dir, plan.name)
    if progress.current is None or progress.current not in progress.lessons:
        raise LessonStateError(
            "no lesson is started in this lab",
            "`labctl lesson list` shows the lessons; `labctl lesson start NAME` starts one",
        )
    lesson = find_lesson(progress.current)
    return progress, lesson, progress.lessons[progress.current]


def step_of(lesson: Lesson, lp: LessonProgress) -> LessonStep:
    if lp.step >= len(lesson.spec.steps):
        raise LessonStateError(
            f"lesson {lesson.name} is finished",
            f"`labctl lesson start {lesson.name}` starts it again; `labctl "
            "lesson list` shows the others",
        )
    return lesson.spec.steps[lp.step]


def require_running(lab_dir: Path, plan: Plan) -> dict[str, SshTarget]:
    """The lab's SSH targets; exit 3 when K3s is not installed yet, 4 when it never booted."""
    from labctl.lab.state import load_state  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415

    record = load_state(lab_dir, plan.name).phases.get(K3S_PHASE)
    if record is None or record.status != "done":
        raise PreflightError(
            f"lab {plan.name} has no running K3s yet (phase {K3S_PHASE} not done)",
            "run `labctl up` first; lessons check the live cluster",
        )
    return load_targets(lab_dir)


@dataclass(frozen=True)
class Checked:
    """The outcome of `lesson check` and where the learner is now."""

    lesson: Lesson
    step: LessonStep
    number: int
    outcome: StepOutcome
    progress: LessonProgress


def check(
    lab_dir: Path,
    plan: Plan,
    *,
    lang: Lang,
    answer: str | None,
    now: float,
    executor: Executor | None = None,
) -> Checked:
    """Run the current step's probes; on success advance (and finish after the last step)."""
    progress, lesson, lp = current(lab_dir, plan)
    step = step_of(lesson, lp)
    number = lp.step + 1
    targets = require_running(lab_dir, plan)
    outcome = run_step(
        plan,
        targets,
        lab_dir / "known_hosts",
        lesson,
        step,
        lang=lang,
        answer=answer,
        executor=executor,
    )
    # Reload: another labctl may have written progress while the probes ran.
    progress = load_progress(lab_dir, plan.name)
    lp = progress.lessons.get(lesson.name, lp)
    record = lp.of(step.id)
    record.checks += 1
    if outcome.done and lp.step == number - 1:
        record.done_at = now
        lp.step += 1
        if lp.step >= len(lesson.spec.steps):
            lp.finished_at = now
    progress.lessons[lesson.name] = lp
    save_progress(lab_dir, progress)
    return Checked(lesson, step, number, outcome, lp)


def next_hint(lab_dir: Path, plan: Plan, lang: Lang) -> tuple[Lesson, LessonStep, int, str]:
    """The next hint of the current step (the last one repeats); counted once per new hint."""
    progress, lesson, lp = current(lab_dir, plan)
    step = step_of(lesson, lp)
    hints = lesson.text(lang).steps[step.id].hints
    record = lp.of(step.id)
    number = min(record.hints + 1, len(hints))
    record.hints = max(record.hints, number)
    save_progress(lab_dir, progress)
    return lesson, step, number, hints[number - 1]


def solution(lab_dir: Path, plan: Plan) -> tuple[Lesson, LessonStep, int]:
    """The current step, its solution now recorded as shown."""
    progress, lesson, lp = current(lab_dir, plan)
    step = step_of(lesson, lp)
    lp.of(step.id).solution_shown = True
    save_progress(lab_dir, progress)
    return lesson, step, lp.step + 1


def reset(lab_dir: Path, plan: Plan, name: str, executor: Executor | None = None) -> str | None:
    """Delete the lesson's namespace (if it has one) and forget its progress; the namespace."""
    lesson = find_lesson(name)
    namespace = lesson.spec.namespace
    if namespace is not None:
        targets = require_running(lab_dir, plan)
        _delete_namespace(plan, targets, lab_dir / "known_hosts", namespace, executor)
    progress = load_progress(lab_dir, plan.name)
    progress.lessons.pop(name, None)
    if progress.current == name:
        progress.current = None
    save_progress(lab_dir, progress)
    return namespace


def _delete_namespace(
    plan: Plan,
    targets: Mapping[str, SshTarget],
    known_hosts: Path,
    namespace: str,
    executor: Executor | None,
) -> None:
    target = targets.get(plan.primary.name)
    if target is None:
        raise LessonStateError(f"no SSH details for {plan.primary.name}", "run `labctl up`")
    command = reset_command(namespace)
    if executor is None:
        from labctl.tools.ssh import SshPool  # noqa: PLC0415

        with SshPool(known_hosts) as pool:
            result = pool.run(target, command, 120)
    else:
        result = executor.run(target, command, 120)
    if not result.ok:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabctlError(
            f"deleting namespace {namespace} failed on {plan.primary.name}: {detail[0]}",
            "is the lab up? `labctl status` and `labctl check`",
            ExitCode.CHECKS_FAILED,
        )
