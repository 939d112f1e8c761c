"""What a smoke check is, as data: steps to run on machines and a pure judge of their outputs.

A check's steps run in order over SSH; each step's output is kept as a StepRecord. The judge
sees only those records and the Plan, so every verdict can be replayed from recorded outputs.
Commands may depend on earlier records (the pod to delete comes from the pod list), which makes
a multi-step check a small state machine whose every transition is a pure function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labctl.catalogue import CheckInfo
    from labctl.plan import Plan
    from labctl.tools.ssh import CommandResult


class Status(StrEnum):
    """A check's outcome. FAILED: the lab is wrong. ERROR: the check could not find out."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class Target(StrEnum):
    """Which machines a step runs on."""

    PRIMARY = "primary"  # server 1: kubectl (`sudo k3s kubectl`) and lab-network probes
    NODES = "nodes"  # every K3s node: servers and agents
    MACHINES = "machines"  # every machine of the lab, GitLab included
    GITLAB = "gitlab"  # the GitLab machine


@dataclass(frozen=True)
class Credentials:
    """Secrets some checks send on a command's stdin (never on a command line, never shown)."""

    argocd_admin_password: str | None = field(default=None, repr=False)
    gitlab_root_password: str | None = field(default=None, repr=False)
    gitlab_api_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StepRecord:
    """One step's outcome on one machine; `started_at`/`finished_at` are the controller's wall
    clock (epoch seconds), which the clock check compares node clocks against."""

    step: str
    machine: str
    command: str
    result: CommandResult
    attempts: int
    started_at: float
    finished_at: float

    @property
    def elapsed(self) -> float:
        return self.finished_at - self.started_at


Records = Mapping[str, StepRecord]
"""Step records by key: the step name, or `step@machine` for steps on several machines."""


@dataclass(frozen=True)
class Context:
    """What a step's command, stdin and poll condition may look at."""

    plan: Plan
    records: Records
    credentials: Credentials


@dataclass(frozen=True)
class Poll:
    """Repeat a step until `done` holds on its output, for at most `within` seconds."""

    done: Callable[[CommandResult, Context], bool]
    within: float
    every: float = 3.0


@dataclass(frozen=True)
class Step:
    """One command of a check. `command` builds the shell command from the records so far."""

    name: str
    target: Target
    command: Callable[[Context], str]
    timeout: float = 30.0
    stdin: Callable[[Context], str] | None = None
    poll: Poll | None = None
    when: Callable[[Plan], bool] | None = None
    # A later step usually needs this one's output; stop the check when it exits non-zero.
    stop_on_failure: bool = True


def fixed(command: str) -> Callable[[Context], str]:
    """A step command that does not depend on earlier records."""
    return lambda _ctx: command


@dataclass(frozen=True)
class Verdict:
    """What a judge decided and the one line a learner reads."""

    status: Status
    message: str


Judge = Callable[[Records, "Plan"], Verdict]


@dataclass(frozen=True)
class Check:
    """A smoke check: the catalogue entry, its steps and its judge."""

    info: CheckInfo
    steps: tuple[Step, ...]
    judge: Judge
    # Why this check does not apply to a plan (traefik disabled, one node only), or None.
    skip_reason: Callable[[Plan], str | None] | None = None

    @property
    def name(self) -> str:
        return self.info.name


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check as the reports show it."""

    name: str
    status: Status
    message: str
    elapsed: float


class CheckCannotRunError(Exception):
    """Raised by a step command or a judge: the check stops with this status and message.

    Judges raise it (through the helpers in labctl.checks.kube) when an output they need is
    missing or not what kubectl/curl should print, so every judge reads as the happy path.
    """

    def __init__(self, message: str, status: Status = Status.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def judging(judge: Judge) -> Judge:
    """Make a judge total: a CheckCannotRunError it raises becomes its verdict.

    Judges read as the happy path and raise (through labctl.checks.kube's helpers) when an
    output is missing or malformed; callers always get a Verdict back.
    """

    @functools.wraps(judge)
    def total(records: Records, plan: Plan) -> Verdict:
        try:
            return judge(records, plan)
        except CheckCannotRunError as exc:
            return Verdict(exc.status, exc.message)

    return total


def record_key(step: str, machine: str, target: Target) -> str:
    """Steps on one machine are keyed by name; steps on several by `name@machine`."""
    return step if target in (Target.PRIMARY, Target.GITLAB) else f"{step}@{machine}"
