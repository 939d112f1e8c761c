"""A learner's progress through the lessons: `.labctl/<lab>/lessons.json`, written atomically.

It lives beside state.json in the lab directory, which snapshots of the machines never touch, so
`labctl reset` keeps it. A damaged file is an error with a way out, never silently reset: it is
the learner's record.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.errors import StateError

if TYPE_CHECKING:
    from pathlib import Path

PROGRESS_FILE = "lessons.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepProgress(_Model):
    """What happened on one step."""

    checks: int = 0
    hints: int = 0
    solution_shown: bool = False
    done_at: float | None = None


class LessonProgress(_Model):
    """One lesson: the step reached (the step count when finished) and each step's counts."""

    step: int = 0
    started_at: float
    finished_at: float | None = None
    steps: dict[str, StepProgress] = Field(default_factory=dict)

    def of(self, step_id: str) -> StepProgress:
        return self.steps.setdefault(step_id, StepProgress())

    @property
    def hints(self) -> int:
        return sum(s.hints for s in self.steps.values())

    @property
    def solutions(self) -> int:
        return sum(1 for s in self.steps.values() if s.solution_shown)


class Progress(_Model):
    """Every lesson of one lab, and which one `check`, `hint` and `solution` work on."""

    version: Literal[1] = 1
    lab: str
    current: str | None = None
    lessons: dict[str, LessonProgress] = Field(default_factory=dict)


def progress_path(lab_dir: Path) -> Path:
    return lab_dir / PROGRESS_FILE


def load_progress(lab_dir: Path, lab: str) -> Progress:
    """The saved progress, or an empty one; a damaged file says how to start over."""
    path = progress_path(lab_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Progress(lab=lab)
    try:
        return Progress.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise StateError(
            f"{path} is damaged ({first})",
            f"move it aside to start the lessons over (mv {path} {path}.bad), or fix it by hand",
        ) from None


def save_progress(lab_dir: Path, progress: Progress) -> None:
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415 - keeps this module's imports light

    write_atomic(progress_path(lab_dir), progress.model_dump_json(indent=2) + "\n")
