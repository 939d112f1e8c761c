"""`labctl lesson`: the learning wiki's ideas as exercises checked on the live lab.

Parse, call labctl.lessons.session, print: Markdown rendered on a terminal, plain lines
elsewhere, JSON with `-o json`. English by default, Korean with `--lang ko` or a ko* locale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, resolve
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.lessons.model import Lesson
    from labctl.lessons.model import Step as LessonStep
    from labctl.lessons.verdicts import Lang

app = typer.Typer(
    help="Lessons: learn Kubernetes on your own lab, each step checked live.", no_args_is_help=True
)

LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="en or ko. Default: ko when LC_ALL/LANG starts with ko, else en.",
        show_default=False,
    ),
]
NameArg = Annotated[str, typer.Argument(help="Lesson name (`labctl lesson list`).")]


def _lang(option: str | None) -> Lang:
    import os  # noqa: PLC0415

    from labctl.errors import UsageError  # noqa: PLC0415
    from labctl.lessons.session import pick_lang  # noqa: PLC0415

    if option is not None and option.lower() not in ("en", "ko"):
        raise UsageError(f"--lang {option!r}: lessons are written in en and ko", "use --lang ko")
    return pick_lang(option, os.environ)


def _markdown(text: str, plain: str | None = None) -> None:
    """Markdown rendered on a terminal; elsewhere `plain` (default: the Markdown source)."""
    if OUT.quiet:
        return
    if OUT.tty:
        from rich.console import Console  # noqa: PLC0415 - keeps `labctl --help` fast
        from rich.markdown import Markdown  # noqa: PLC0415

        Console().print(Markdown(text))
    else:
        OUT.data((plain if plain is not None else text).rstrip("\n"))


def _step_json(lesson: Lesson, step: LessonStep, lang: Lang) -> dict[str, Any]:
    text = lesson.text(lang).steps[step.id]
    return {
        "number": lesson.step_index(step.id) + 1,
        "id": step.id,
        "title": text.title,
        "text": text.body,
        "answer": step.answer,
    }


def _step_markdown(lesson: Lesson, step: LessonStep, lang: Lang) -> str:
    from labctl.lessons.words import say  # noqa: PLC0415

    text = lesson.text(lang).steps[step.id]
    number, total = lesson.step_index(step.id) + 1, len(lesson.spec.steps)
    when = say(lang, "answer_when", metavar=step.answer) if step.answer else say(lang, "check_when")
    return (
        f"## {say(lang, 'step', n=number, total=total)}: {text.title}\n\n{text.body}\n\n"
        f"*{when}* · *{say(lang, 'stuck')}*\n"
    )


@app.command("list")
def list_(
    file: SpecArg = None, lang: LangOption = None, output: FormatOption = Format.TEXT
) -> None:
    """List the lessons: what each teaches, what it needs, how far you are."""
    from labctl.lessons.progress import load_progress  # noqa: PLC0415
    from labctl.lessons.session import rows  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    found = rows(resolved.plan, load_progress(resolved.lab_dir, resolved.plan.name), language)
    if output is Format.JSON:
        OUT.json(
            [
                {
                    "name": r.name,
                    "title": r.title,
                    "concepts": r.concepts,
                    "needs": r.needs,
                    "fits": not r.missing,
                    "missing": list(r.missing),
                    "steps": r.steps,
                    "step_reached": r.reached,
                    "finished": r.finished,
                    "hints": r.hints,
                    "solutions": r.solutions,
                }
                for r in found
            ]
        )
        return

    def status(r: Any) -> str:
        if r.finished:
            return say(language, "finished_short")
        if r.reached is None:
            return say(language, "not_started")
        return say(language, "at_step", n=min(r.reached + 1, r.steps), total=r.steps)

    OUT.table(
        say(language, "list_title", lab=resolved.plan.name),
        tuple(say(language, "list_columns").split("|")),
        [
            (
                r.name,
                r.concepts,
                (r.needs or say(language, "needs_nothing"))
                + (say(language, "missing") if r.missing else ""),
                status(r),
                str(r.hints),
            )
            for r in found
        ],
    )


@app.command("start")
def start(
    name: NameArg, file: SpecArg = None, lang: LangOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Start (or resume) a lesson: its goal and the first step to do."""
    import time  # noqa: PLC0415

    from labctl.lessons import session  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    lesson, lp, resumed = session.start(resolved.lab_dir, resolved.plan, name, time.time())
    step = session.step_of(lesson, lp)
    text = lesson.text(language)
    if output is Format.JSON:
        OUT.json(
            {
                "lesson": lesson.name,
                "title": text.title,
                "goal": text.goal,
                "resumed": resumed,
                "step": _step_json(lesson, step, language),
            }
        )
        return
    if resumed:
        OUT.line(say(language, "resumed", name=lesson.name, n=lp.step + 1))
        _markdown(_step_markdown(lesson, step, language))
        return
    _markdown(f"# {text.title}\n\n{text.goal}\n\n{_step_markdown(lesson, step, language)}")


AnswerOption = Annotated[
    str | None,
    typer.Option(
        "--answer", help="Your answer, for steps that ask a question.", show_default=False
    ),
]


@app.command("check")
def check(
    file: SpecArg = None,
    answer: AnswerOption = None,
    lang: LangOption = None,
    output: FormatOption = Format.TEXT,
) -> None:
    """Check the current step on the live cluster; move on when it is done.

    Exit code 0 when done, 6 when not yet, 3 when K3s is not up, 4 when the lab is unreachable.
    """
    import time  # noqa: PLC0415

    from labctl.errors import ExitCode  # noqa: PLC0415
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lessons import session  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    with lab_lock(resolved.lab_dir, "lesson check"):
        checked = session.check(
            resolved.lab_dir, resolved.plan, lang=language, answer=answer, now=time.time()
        )
    lesson, lp, outcome = checked.lesson, checked.progress, checked.outcome
    if answer is not None and checked.step.answer is None:
        OUT.warn(f"step {checked.number} ({checked.step.id}) asks no question; --answer ignored")
    finished = lp.finished_at is not None
    upcoming = None if finished or not outcome.done else lesson.spec.steps[lp.step]
    if output is Format.JSON:
        OUT.json(
            {
                "lesson": lesson.name,
                "step": checked.step.id,
                "number": checked.number,
                "done": outcome.done,
                "message": outcome.message,
                "probes": [
                    {"command": p.command, "judge": p.judge, "done": p.done, "message": p.message}
                    for p in outcome.probes
                ],
                "next": _step_json(lesson, upcoming, language) if upcoming else None,
                "finished": finished,
            }
        )
    else:
        mark = say(language, "done") if outcome.done else say(language, "not_done")
        OUT.line(
            f"{mark}: {lesson.name} "
            f"{say(language, 'step', n=checked.number, total=len(lesson.spec.steps))}"
        )
        for probe in outcome.probes:
            OUT.line(f"  {'✓' if probe.done else '✗'} {probe.message}")
        if upcoming is not None:
            OUT.line("")
            _markdown(_step_markdown(lesson, upcoming, language))
        elif finished and outcome.done:
            OUT.line(
                say(
                    language,
                    "finished",
                    name=lesson.name,
                    steps=len(lesson.spec.steps),
                    hints=lp.hints,
                    solutions=lp.solutions,
                )
            )
            OUT.line(say(language, "list_next"))
    if not outcome.done:
        raise typer.Exit(int(ExitCode.CHECKS_FAILED))


@app.command("hint")
def hint(file: SpecArg = None, lang: LangOption = None, output: FormatOption = Format.TEXT) -> None:
    """Show the next hint for the current step (hints are counted)."""
    from labctl.lessons import session  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    lesson, step, number, text = session.next_hint(resolved.lab_dir, resolved.plan, language)
    total = len(lesson.text(language).steps[step.id].hints)
    if output is Format.JSON:
        OUT.json(
            {"lesson": lesson.name, "step": step.id, "hint": text, "number": number, "total": total}
        )
        return
    label = say(language, "hint", n=number, total=total)
    _markdown(f"**{label}**: {text}", f"{label}: {text}")
    if number == total:
        OUT.line(say(language, "no_more_hints"))


@app.command("solution")
def solution(
    file: SpecArg = None, lang: LangOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Show the commands that solve the current step (recorded as shown)."""
    from labctl.lessons import session  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    lesson, step, number = session.solution(resolved.lab_dir, resolved.plan)
    if output is Format.JSON:
        OUT.json({"lesson": lesson.name, "step": step.id, "commands": list(step.solution)})
        return
    title = lesson.text(language).steps[step.id].title
    OUT.line(say(language, "solution", n=number, title=title))
    for command in step.solution:
        OUT.data(f"  {command}")
    OUT.line(say(language, "solution_note"))


@app.command("reset")
def reset(
    name: NameArg, file: SpecArg = None, lang: LangOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Delete what the lesson created (its namespace) and its progress, to start it again."""
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lessons import session  # noqa: PLC0415
    from labctl.lessons.words import say  # noqa: PLC0415

    language = _lang(lang)
    resolved = resolve(file)
    with lab_lock(resolved.lab_dir, "lesson reset"):
        namespace = session.reset(resolved.lab_dir, resolved.plan, name)
    if output is Format.JSON:
        OUT.json({"lesson": name, "namespace": namespace, "deleted": namespace is not None})
    elif namespace:
        OUT.line(say(language, "reset_done", ns=namespace, name=name))
    else:
        OUT.line(say(language, "reset_nothing", name=name))
