"""A lesson as data: lesson.yaml's pydantic models, and the texts of each language beside them.

lesson.yaml holds what does not depend on language (steps, probes, judges, solutions, what the
lesson needs); <lang>.md holds the words. Both are validated by labctl.lessons.loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.catalogue import Addon  # noqa: TC001 - pydantic resolves it at run time
from labctl.lessons.kubectl import READ_ONLY_VERBS, KubectlParseError, parse_kubectl
from labctl.lessons.registry import BY_NAME, SHARED_PROBES
from labctl.lessons.verdicts import Lang  # noqa: TC001 - used in a runtime annotation
from labctl.spec.model import K3sComponent  # noqa: TC001 - pydantic resolves it at run time

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
Name = Annotated[str, Field(pattern=NAME_RE.pattern, max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Probe(_Model):
    """A read-only command run as root on a server, and the judge of its output."""

    run: str | None = None
    shared: str | None = None
    judge: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")

    @field_validator("run")
    @classmethod
    def _read_only(cls, run: str | None) -> str | None:
        if run is None:
            return None
        try:
            call = parse_kubectl(run)
        except KubectlParseError as exc:
            raise ValueError(str(exc)) from None
        if call.verb not in READ_ONLY_VERBS:
            raise ValueError(
                f"`kubectl {call.verb}` changes the cluster; a probe only reads "
                f"(use {' or '.join(READ_ONLY_VERBS)})"
            )
        return run

    @field_validator("shared")
    @classmethod
    def _known_shared(cls, shared: str | None) -> str | None:
        if shared is not None and shared not in SHARED_PROBES:
            raise ValueError(f"unknown shared probe {shared!r}; known: {', '.join(SHARED_PROBES)}")
        return shared

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, judge: str) -> str:
        if judge not in BY_NAME:
            raise ValueError(f"unknown judge {judge!r}; known: {', '.join(sorted(BY_NAME))}")
        return judge

    @model_validator(mode="after")
    def _one_command(self) -> Probe:
        if (self.run is None) == (self.shared is None):
            raise ValueError("give exactly one of `run:` (a kubectl command) or `shared:`")
        return self


class Step(_Model):
    """One step: what is checked, what solves it, and whether it wants the learner's answer."""

    id: Name
    probes: list[Probe] = Field(min_length=1)
    solution: list[str] = Field(min_length=1)
    answer: str | None = Field(default=None, pattern=r"^[A-Z][A-Z_-]*$")


class Needs(_Model):
    """What a lab must have for the lesson: addons, K3s components, agent machines."""

    addons: list[Addon] = Field(default_factory=list)
    components: list[K3sComponent] = Field(default_factory=list)
    agents: int = Field(default=0, ge=0, le=10)


class LessonSpec(_Model):
    """lesson.yaml."""

    order: int = Field(ge=1)
    namespace: Name | None = None
    needs: Needs = Field(default_factory=Needs)
    steps: list[Step] = Field(min_length=1)

    @field_validator("namespace")
    @classmethod
    def _lesson_namespace(cls, namespace: str | None) -> str | None:
        if namespace is not None and not namespace.startswith("lesson-"):
            raise ValueError(
                f"{namespace!r}: a lesson's own namespace starts with 'lesson-', so "
                "`lesson reset` never deletes anything else"
            )
        return namespace

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:
        ids = [s.id for s in steps]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"step ids must be unique: {', '.join(twice)} appear twice")
        return steps


@dataclass(frozen=True)
class StepText:
    """A step's words in one language."""

    title: str
    body: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class LessonText:
    """A lesson's words in one language (from <lang>.md)."""

    title: str
    concepts: str
    goal: str
    steps: dict[str, StepText]
    reset: str = ""


@dataclass(frozen=True)
class Lesson:
    """A validated lesson: its spec and its words in every language."""

    name: str
    spec: LessonSpec
    texts: dict[Lang, LessonText]

    def text(self, lang: Lang) -> LessonText:
        return self.texts[lang]

    def step_index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.spec.steps) if s.id == step_id)
