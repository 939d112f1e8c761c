"""Loading lessons: lesson.yaml through lab.yaml's own position-aware loader, then <lang>.md.

Every problem is one located line (`file:line:col: field: what to do`), as for lab.yaml. Beyond
the model: each probe's `with:` is validated by its judge's parameter model, each probe's command
must be one its judge reads (the probe/judge contract), a judge that wants an answer needs the
step's `answer:`, and every language's Markdown has exactly the steps of lesson.yaml, each with
at least one hint.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from labctl.errors import LessonFileError, SpecError, SpecProblem, UsageError
from labctl.lessons.kubectl import parse_kubectl
from labctl.lessons.model import Lesson, LessonSpec, LessonText, StepText
from labctl.lessons.registry import BY_NAME
from labctl.lessons.verdicts import LANGS, Lang
from labctl.spec.loader import Positions, parse_yaml, problem_at, validation_problems

if TYPE_CHECKING:
    from collections.abc import Callable

CONTENT = Path(__file__).parent / "content"
HINT = "fix the lesson files named above; every step needs a probe, a hint and a solution"
_STEP_HEADING = re.compile(r"^## ([a-z][a-z0-9-]*[a-z0-9]):\s*(.+?)\s*$")


def load_lesson(directory: Path) -> Lesson:
    """The lesson in `directory` (lesson.yaml, en.md, ko.md); LessonFileError on any problem."""
    spec_file = directory / "lesson.yaml"

    spec = _load_spec(spec_file)
    texts: dict[Lang, LessonText] = {}
    problems: list[SpecProblem] = []
    ids = [s.id for s in spec.steps]
    for lang in LANGS:
        md = directory / f"{lang}.md"
        if not md.is_file():
            problems.append(
                SpecProblem(
                    str(md),
                    None,
                    None,
                    "",
                    f"missing: every lesson is written in {', '.join(LANGS)}",
                )
            )
            continue
        text, found = parse_markdown(md.read_text(encoding="utf-8"), str(md), ids)
        problems += found
        if text is not None:
            texts[lang] = text
    if problems:
        raise LessonFileError(problems, HINT)
    return Lesson(directory.name, spec, texts)


def _load_spec(path: Path) -> LessonSpec:
    filename = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LessonFileError(
            [SpecProblem(filename, None, None, "", f"cannot be read: {exc}")], HINT
        ) from None
    try:
        data, positions = parse_yaml(source, filename)
    except SpecError as exc:
        raise LessonFileError(exc.problems, HINT) from None
    if not isinstance(data, dict):
        raise LessonFileError(
            [SpecProblem(filename, 1, 1, "", "the top level must be a mapping like `order: 1`")],
            HINT,
        )
    try:
        spec = LessonSpec.model_validate(data)
    except ValidationError as exc:
        raise LessonFileError(
            validation_problems(exc, filename, positions, LessonSpec), HINT
        ) from None
    problems = _probe_problems(spec, filename, positions)
    if problems:
        raise LessonFileError(problems, HINT)
    return spec


def _probe_problems(spec: LessonSpec, filename: str, positions: Positions) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for i, step in enumerate(spec.steps):
        for j, probe in enumerate(step.probes):
            at = ("steps", i, "probes", j)
            judge = BY_NAME[probe.judge]
            try:
                judge.params.model_validate(probe.with_)
            except ValidationError as exc:
                problems += _shifted(exc, filename, positions, (*at, "with"), judge.params)
            call = parse_kubectl(probe.run) if probe.run else None
            why = judge.reads.problem(call, probe.shared)
            if why:
                field = "run" if probe.run else "shared"
                problems.append(
                    problem_at(filename, positions, (*at, field), f"judge {probe.judge} {why}")
                )
            if judge.wants_answer and step.answer is None:
                problems.append(
                    problem_at(
                        filename,
                        positions,
                        ("steps", i, "id"),
                        f"judge {probe.judge} needs the learner's answer; add "
                        "`answer: NAME` (the placeholder shown)",
                    )
                )
    return problems


def _shifted(
    exc: ValidationError,
    filename: str,
    positions: Positions,
    prefix: tuple[str | int, ...],
    model: type,
) -> list[SpecProblem]:
    """A judge's parameter errors, located under `prefix` in lesson.yaml."""
    inner = Positions(
        {k[len(prefix) :]: v for k, v in positions.keys.items() if k[: len(prefix)] == prefix},
        {k[len(prefix) :]: v for k, v in positions.values.items() if k[: len(prefix)] == prefix},
    )
    outer = positions.of_value(prefix)
    if () not in inner.values and outer:
        inner.values[()] = outer
    head = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in prefix)
    head = head.replace(".[", "[")
    return [
        dataclasses.replace(p, path=f"{head}.{p.path}" if p.path else head)
        for p in validation_problems(exc, filename, inner, model)
    ]


def parse_markdown(
    text: str, filename: str, step_ids: list[str]
) -> tuple[LessonText | None, list[SpecProblem]]:
    """One language's words: `# title`, a `> concepts` line, the goal, then `## id: title`
    sections whose `###` subsections are the hints, in order."""
    lines = text.splitlines()
    problems: list[SpecProblem] = []

    def problem(line: int | None, path: str, message: str) -> None:
        problems.append(SpecProblem(filename, line, 1 if line else None, path, message))

    if not lines or not lines[0].startswith("# "):
        problem(1, "", "the first line must be the lesson's title: `# Title`")
        return None, problems
    title = lines[0][2:].strip()
    sections: list[Section] = []
    head: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("## "):
            match = _STEP_HEADING.match(line)
            if not match:
                problem(number, "", "a step heading is `## <step id>: <title>`")
                continue
            sections.append((number, match.group(1), match.group(2), []))
        elif sections:
            sections[-1][3].append(line)
        else:
            head.append(line)
    concepts = next((h[1:].strip() for h in head if h.startswith(">")), "")
    if not concepts:
        problem(2, "", "add a `> concepts, taught, here` line under the title")
    goal = _trim("\n".join(h for h in head if not h.startswith(">")))
    if not goal:
        problem(2, "", "the lesson's goal (text before the first step) is empty")
    steps = _steps(sections, step_ids, problem)
    if problems:
        return None, problems
    return LessonText(title, concepts, goal, steps), problems


Section = tuple[int, str, str, list[str]]  # line, step id, title, body lines


def _steps(
    sections: list[Section], step_ids: list[str], problem: Callable[[int | None, str, str], None]
) -> dict[str, StepText]:
    """Each `## id: title` section as a step's text and hints; problems reported as found."""
    steps: dict[str, StepText] = {}
    for number, step_id, step_title, body in sections:
        path = f"steps.{step_id}"
        if step_id not in step_ids:
            close = difflib.get_close_matches(step_id, step_ids, n=1)
            advice = f"did you mean {close[0]!r}?" if close else f"steps: {', '.join(step_ids)}"
            problem(number, path, f"lesson.yaml has no such step; {advice}")
            continue
        if step_id in steps:
            problem(number, path, "this step has two sections; keep one")
            continue
        parts = [_trim(part) for part in _split_hints(body)]
        if not parts[0]:
            problem(number, path, "the step's text is empty")
        if len(parts) < 2:
            problem(number, path, "no hint; add a `### ` section with one under the step")
        steps[step_id] = StepText(step_title, parts[0], tuple(parts[1:]))
    for step_id in step_ids:
        if step_id not in steps and not any(s[1] == step_id for s in sections):
            problem(None, f"steps.{step_id}", f"no `## {step_id}: <title>` section")
    return steps


def _trim(text: str) -> str:
    """Drop blank lines around a block but keep its first line's indent (a code block)."""
    return text.strip("\n").rstrip()


def _split_hints(body: list[str]) -> list[str]:
    """The step's text, then one string per `###` subsection (the heading line dropped)."""
    parts: list[list[str]] = [[]]
    for line in body:
        if line.startswith("### "):
            parts.append([])
        else:
            parts[-1].append(line)
    return ["\n".join(p) for p in parts]


@functools.cache
def all_lessons(root: Path = CONTENT) -> tuple[Lesson, ...]:
    """Every lesson under `root`, in course order."""
    lessons = [load_lesson(d) for d in sorted(root.iterdir()) if (d / "lesson.yaml").is_file()]
    return tuple(sorted(lessons, key=lambda lesson: (lesson.spec.order, lesson.name)))


def find_lesson(name: str, root: Path = CONTENT) -> Lesson:
    """A lesson by name; an unknown name is a usage error with the closest names."""
    lessons = all_lessons(root)
    for lesson in lessons:
        if lesson.name == name:
            return lesson
    names = [lesson.name for lesson in lessons]
    close = difflib.get_close_matches(name, names, n=1)
    advice = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"there is no lesson {name!r}",
        f"{advice}`labctl lesson list` shows them: {', '.join(names)}",
    )
