"""The few words labctl itself says around a lesson's own text, in every lesson language."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.lessons.verdicts import Lang

_WORDS: dict[str, tuple[str, str]] = {
    "step": ("Step {n} of {total}", "{total}단계 중 {n}단계"),
    "goal": ("Goal", "목표"),
    "done": ("Done", "완료"),
    "not_done": ("Not done yet", "아직 완료되지 않았습니다"),
    "check_when": (
        "When you are done: `labctl lesson check`",
        "다 했으면 `labctl lesson check`를 실행하세요",
    ),
    "answer_when": (
        "Answer with: `labctl lesson check --answer {metavar}`",
        "`labctl lesson check --answer {metavar}`로 답하세요",
    ),
    "stuck": (
        "Stuck? `labctl lesson hint`, then `labctl lesson solution`",
        "막히면 `labctl lesson hint`, 그래도 어려우면 `labctl lesson solution`",
    ),
    "hint": ("Hint {n} of {total}", "힌트 {n}/{total}"),
    "no_more_hints": (
        "That was the last hint; `labctl lesson solution` shows the commands",
        "마지막 힌트였습니다. `labctl lesson solution`으로 명령어를 볼 수 있습니다",
    ),
    "solution": ("Solution for step {n}: {title}", "{n}단계 풀이: {title}"),
    "solution_note": (
        "Run these, then `labctl lesson check`. (Shown solutions are counted.)",
        "이 명령을 실행한 뒤 `labctl lesson check`를 실행하세요. (풀이를 본 기록은 남습니다.)",
    ),
    "next": ("Next", "다음 단계"),
    "finished": (
        "Lesson {name} finished: {steps} steps, {hints} hints, {solutions} solutions shown.",
        "{name} 레슨을 마쳤습니다: {steps}단계, 힌트 {hints}개, 풀이 {solutions}번 확인.",
    ),
    "list_next": (
        "`labctl lesson list` shows the other lessons",
        "`labctl lesson list`에서 다른 레슨을 볼 수 있습니다",
    ),
    "not_started": ("not started", "시작 전"),
    "at_step": ("step {n}/{total}", "{n}/{total}단계"),
    "finished_short": ("finished", "완료"),
    "needs_nothing": ("any lab", "모든 랩"),
    "reset_done": (
        "Deleted namespace {ns} and everything in it; lesson {name} starts over.",
        "{ns} 네임스페이스와 그 안의 모든 것을 지웠습니다. "
        "{name} 레슨을 처음부터 다시 할 수 있습니다.",
    ),
    "reset_nothing": (
        "Lesson {name} creates no namespace of its own; nothing deleted, progress cleared.",
        "{name} 레슨은 자기 네임스페이스를 만들지 않아 지운 것은 없고, 진행 기록만 초기화했습니다.",
    ),
    "list_title": ("Lessons ({lab})", "레슨 목록 ({lab})"),
    "list_columns": ("lesson|teaches|needs|progress|hints", "레슨|배우는 것|필요 조건|진행|힌트"),
    "missing": (" (missing)", " (없음)"),
    "resumed": ("Resuming lesson {name} at step {n}.", "{name} 레슨을 {n}단계부터 이어서 합니다."),
}


def say(lang: Lang, key: str, **values: object) -> str:
    en, ko = _WORDS[key]
    return (ko if lang == "ko" else en).format(**values)


def keys() -> Mapping[str, tuple[str, str]]:
    return _WORDS
