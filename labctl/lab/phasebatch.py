"""Consecutive Ansible phases as one ansible-playbook run, their boundaries read from its events.

Each Ansible phase of `labctl up` is a slice of site.yml chosen by tags. Run one by one, each
phase is a process of its own that starts Ansible, reads the inventory and passes every play of
site.yml (facts from the cache, each role's argument validation) before its own tasks. Run as
one process with the tags of them all, those costs are paid once, as a user running
`ansible-playbook site.yml` pays them. labctl still reports, records and resumes by phase: a
play's start says which phase runs now (the phase whose tags the play's roles carry), so the
phase before it is done and saved in state.json, and an `up` after a failure resumes there.

A failing host stops the run where it is (site.yml's plays are any_errors_fatal: a lab is all of
its machines, and the next phase would only wait for the broken one), and the phase of the
failing play is the one recorded as failed; should a run go on past a failure all the same, the
walk holds still at that phase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from labctl.errors import ProvisionError

if TYPE_CHECKING:
    from labctl.lab.workflow import Runtime
    from labctl.plan import Phase
    from labctl.tools.ansible import PlaybookResult


class Walker(Protocol):
    """The walk's side: which phase is running, and moving on to the next one."""

    @property
    def active(self) -> Phase: ...

    def advance(self, to: Phase) -> None:
        """Record the active phase as done (its note in rt.notes) and start `to`."""


def _tags(value: object) -> set[str]:
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, list):
        return {str(item) for item in value}
    return set()


def play_phases(plays: object, phases: Sequence[Phase]) -> dict[str, str]:
    """Play name -> the phase whose tags are on the play or its roles (pure). Plays of no
    phase among `phases`, or of more than one, are left out: they never move the walk."""
    by_tag = {tag: phase.name for phase in phases for tag in phase.tags}
    found: dict[str, str] = {}
    for play in plays if isinstance(plays, list) else []:
        if not isinstance(play, Mapping) or not isinstance(play.get("name"), str):
            continue
        tags = _tags(play.get("tags"))
        for role in play.get("roles") or []:
            if isinstance(role, Mapping):
                tags |= _tags(role.get("tags"))
        names = {by_tag[tag] for tag in tags if tag in by_tag}
        if len(names) == 1:
            found[play["name"]] = names.pop()
    return found


def site_plays() -> object:
    """site.yml as data (labctl's own file, read with the package)."""
    import yaml  # noqa: PLC0415

    from labctl import resources  # noqa: PLC0415

    return yaml.safe_load((resources.playbooks_dir() / "site.yml").read_text(encoding="utf-8"))


class Boundaries:
    """Reads a run's events: moves the walk on at the first play of a later phase, counts the
    changed results of each phase, and holds still once a host has failed."""

    def __init__(self, rt: Runtime, batch: Sequence[Phase], walker: Walker,
                 plays: Mapping[str, str]) -> None:  # fmt: skip
        self.rt, self.batch, self.walker, self.plays = rt, tuple(batch), walker, plays
        self.changed = 0
        self.failed = False

    def _index(self, name: str) -> int:
        return next(i for i, phase in enumerate(self.batch) if phase.name == name)

    def note(self) -> None:
        self.rt.notes[self.walker.active.name] = f"{self.changed} changed"

    def move_to(self, index: int) -> None:
        """Every phase up to `index` is done (one whose plays ran no task changed nothing)."""
        while self._index(self.walker.active.name) < index:
            self.note()
            self.changed = 0
            self.walker.advance(self.batch[self._index(self.walker.active.name) + 1])

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "runner_on_ok" or (kind == "runner_on_failed" and data.get("ignore_errors")):
            self.changed += bool((data.get("res") or {}).get("changed"))
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            self.failed = True
        elif kind == "playbook_on_play_start" and not self.failed:
            phase = self.plays.get(str(data.get("play", "")))
            if phase is not None:
                self.move_to(max(self._index(phase), self._index(self.walker.active.name)))


def settle_run(result: PlaybookResult, phase: str) -> None:
    """A canceled run is the user's Ctrl-C (ansible-runner turns it into a status); a failed one
    is the named phase's ProvisionError, with each failing host and task."""
    if result.canceled:
        raise KeyboardInterrupt
    if not result.ok:
        raise ProvisionError(
            f"phase {phase} failed: ansible status {result.status}, rc {result.rc}",
            f"the run's events and output are in {result.artifacts}; `labctl logs` shows them",
            details=[str(f) for f in result.failures],
        )


def run_phases(
    rt: Runtime,
    batch: Sequence[Phase],
    walker: Walker,
    run: Callable[..., Any] | None = None,
) -> None:
    """Run `batch` (consecutive Ansible phases, the first one started) as one playbook run."""
    if run is None:
        from labctl.lab.incontroller import run_lab_playbook  # noqa: PLC0415

        run = run_lab_playbook
    boundaries = Boundaries(rt, batch, walker, play_phases(site_plays(), batch))
    result = run(
        rt.plan,
        rt.lab_dir,
        tags=[tag for phase in batch for tag in phase.tags],
        ident=f"{rt.stamp}-{batch[0].name}..{batch[-1].name}",
        on_task=lambda task: rt.progress.step(walker.active, task),
        offline=rt.offline_dir,
        verbosity=rt.verbosity,
        on_event=boundaries,
    )
    settle_run(result, walker.active.name)  # a failure is the phase of the failing play
    boundaries.move_to(len(boundaries.batch) - 1)
    boundaries.note()
