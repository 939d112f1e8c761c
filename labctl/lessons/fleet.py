"""Lesson progress across a fleet, for the facilitator: every lab by every lesson (read only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labctl.errors import LabctlError
from labctl.lessons.loader import all_lessons
from labctl.lessons.progress import load_progress

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


@dataclass(frozen=True)
class Cell:
    """One lesson in one lab: steps done out of all, hints and solutions seen."""

    steps_done: int
    steps: int
    finished: bool
    hints: int
    solutions: int

    def text(self) -> str:
        if self.finished:
            return f"done (h{self.hints})"
        return f"{self.steps_done}/{self.steps} (h{self.hints})"


@dataclass(frozen=True)
class LabLessons:
    """A lab's lessons; `problem` when its progress file cannot be read."""

    lab: str
    current: str | None
    cells: dict[str, Cell]
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "current": self.current, "problem": self.problem,
                "lessons": {name: vars(cell) for name, cell in self.cells.items()}}  # fmt: skip


def fleet_lessons(specs: Iterable[Path]) -> list[LabLessons]:
    """Each member lab's progress from its lessons.json; a lab nobody started has no cells."""
    from labctl.lab.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415
    from labctl.spec.loader import load_lab  # noqa: PLC0415

    steps = {lesson.name: len(lesson.spec.steps) for lesson in all_lessons()}
    result = []
    for spec in specs:
        plan = plan_lab(load_lab(spec).lab)
        try:
            progress = load_progress(lab_dir_for(spec, plan.name), plan.name)
        except LabctlError as exc:
            result.append(LabLessons(plan.name, None, {}, exc.message))
            continue
        cells = {
            name: Cell(min(lp.step, steps.get(name, lp.step)), steps.get(name, lp.step),
                       lp.finished_at is not None, lp.hints, lp.solutions)
            for name, lp in progress.lessons.items()
        }  # fmt: skip
        result.append(LabLessons(plan.name, progress.current, cells))
    return result


@dataclass(frozen=True)
class LessonLine:
    """A started lesson as a handout lists it."""

    name: str
    title: str
    progress: str
    hints: int
    solutions: int


def lesson_lines(lab_dir: Path, lab: str) -> tuple[tuple[LessonLine, ...], str | None]:
    """The lessons a learner started in this lab, in course order, or the problem reading them."""
    try:
        progress = load_progress(lab_dir, lab)
    except LabctlError as exc:
        return (), exc.message
    lines = []
    for lesson in all_lessons():
        lp = progress.lessons.get(lesson.name)
        if lp is None:
            continue
        total = len(lesson.spec.steps)
        shown = "finished" if lp.finished_at else f"step {min(lp.step + 1, total)} of {total}"
        lines.append(LessonLine(lesson.name, lesson.text("en").title, shown, lp.hints,
                                lp.solutions))  # fmt: skip
    return tuple(lines), None


def summary(lines: tuple[LessonLine, ...]) -> str | None:
    """One cell for the facilitator's index: each started lesson and the hints used."""
    if not lines:
        return None
    hints = sum(line.hints for line in lines)
    return ", ".join(f"{line.name} {line.progress}" for line in lines) + f" · {hints} hints"
