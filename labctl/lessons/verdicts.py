"""What a lesson judge says: done or not, in every language lessons are written in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "ko"]
LANGS: tuple[Lang, ...] = ("en", "ko")


@dataclass(frozen=True)
class Said:
    """One sentence for the learner, in English and in Korean."""

    en: str
    ko: str

    def text(self, lang: Lang) -> str:
        return self.ko if lang == "ko" else self.en


@dataclass(frozen=True)
class Finding:
    """A judge's answer: is the step's goal met, and what it saw against what it wants."""

    done: bool
    said: Said


def done(en: str, ko: str) -> Finding:
    return Finding(True, Said(en, ko))


def not_yet(en: str, ko: str) -> Finding:
    return Finding(False, Said(en, ko))


class NotReadable(Exception):  # noqa: N818 - a verdict, not a crash: the step is not done
    """A probe's output cannot be judged (the object is missing, kubectl failed, no answer)."""

    def __init__(self, en: str, ko: str) -> None:
        super().__init__(en)
        self.said = Said(en, ko)


def josa(word: str, with_final: str, without_final: str) -> str:
    """`word` with the Korean particle its last syllable takes (이/가, 은/는, 을/를)."""
    last = word[-1:] if word else ""
    if "가" <= last <= "힣":
        has_final = (ord(last) - ord("가")) % 28 != 0
        return word + (with_final if has_final else without_final)
    return word + without_final
