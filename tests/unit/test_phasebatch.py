"""Consecutive Ansible phases in one playbook run: boundaries from play starts, per-phase notes,
state and resume (labctl.lab.phasebatch with the walk). The playbook run is a FAKE that sends the
events ansible-runner sends for site.yml with --tags: every play starts (a play of another tag
gathers facts and validates its role all the same), a serial play starts once per batch, and a
failing host under any_errors_fatal ends the run at its play."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from labctl import resources
from labctl.errors import InterruptedByUserError, ProvisionError
from labctl.lab import workflow
from labctl.lab.phasebatch import play_phases, site_plays
from labctl.lab.state import load_state
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ansible import HostFailure, PlaybookResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from labctl.plan import Phase

SPEC = "name: demo\n"  # 1 server, 2 agents
ANSIBLE_PHASES = ("prepare", "k3s-servers", "k3s-agents", "kubeconfig")


class Seen:
    """Progress sink: every start, end (with its note) and step, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        self.events.append(("start", phase.name, str(number)))

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.events.append(("end", phase.name, status, error or ""))

    def step(self, phase: Phase, text: str) -> None:
        self.events.append(("step", phase.name, text))

    def ends(self) -> list[tuple[str, ...]]:
        return [e[1:] for e in self.events if e[0] == "end"]


class FakePlaybook:
    """FAKE ansible-runner run of site.yml: for each play in file order, a play start (one per
    host batch of a serial play), then, when the play's role is tagged in, one task per host
    that changes `changes[tag]` results; `fail_at` (a tag) fails a host there and ends the run
    as any_errors_fatal does; `cancel_at` ends it as a Ctrl-C does."""

    def __init__(self, changes: dict[str, int] | None = None, fail_at: str | None = None,
                 cancel_at: str | None = None, go_on: bool = False) -> None:  # fmt: skip
        self.changes = changes or {}
        self.fail_at, self.cancel_at, self.go_on = fail_at, cancel_at, go_on
        self.calls: list[dict[str, Any]] = []

    def __call__(self, plan: Any, lab_dir: Path, **kw: Any) -> PlaybookResult:
        self.calls.append(kw)
        on_event: Callable[[dict[str, Any]], None] = kw.get("on_event") or (lambda event: None)
        on_task: Callable[[str], None] = kw["on_task"]
        failures: list[HostFailure] = []
        stats: dict[str, int] = {}  # what ansible-runner's stats say changed, per host
        groups = {"all": ["s1", "a1", "a2"], "server": ["s1"], "agent": ["a1", "a2"]}
        for play in yaml.safe_load((resources.playbooks_dir() / "site.yml").read_text()):
            hosts = groups.get(play["hosts"], [])
            batches = [[h] for h in hosts] if play.get("serial") == 1 else [hosts]
            tag = play["roles"][0]["tags"][0]
            for batch in batches or [[]]:
                on_event({"event": "playbook_on_play_start", "event_data": {"play": play["name"]}})
                if tag not in kw["tags"] or not batch:
                    continue
                on_task(f"{tag} : work")
                on_event({"event": "playbook_on_task_start", "event_data": {"task": "work"}})
                for number, host in enumerate(batch):
                    changed = number < self.changes.get(tag, 0)
                    stats[host] = stats.get(host, 0) + changed
                    data = {"host": host, "res": {"changed": changed}}
                    on_event({"event": "runner_on_ok", "event_data": data})
                if tag == self.cancel_at:
                    return PlaybookResult("canceled", 1, lab_dir / "runs", 1.0)
                if tag == self.fail_at:
                    failure = {"host": batch[-1], "task": "work", "res": {"msg": "it broke"}}
                    on_event({"event": "runner_on_failed", "event_data": failure})
                    failures.append(HostFailure(batch[-1], "work", "it broke"))
                    if not self.go_on:
                        return PlaybookResult("failed", 2, lab_dir / "runs", 1.0, stats,
                                              (*failures,))  # fmt: skip
        status, rc = ("failed", 2) if failures else ("successful", 0)
        return PlaybookResult(status, rc, lab_dir / "runs", 1.0, stats, tuple(failures))


def walk_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakePlaybook,
              **kw: Any) -> tuple[workflow.Runtime, Seen, list[str]]:  # fmt: skip
    """The real walk: Ansible phases keep the real handler (so they batch), every other phase
    a recorder; the playbook run is `fake`."""
    monkeypatch.setattr("labctl.lab.incontroller.run_lab_playbook", fake)
    seen, others = Seen(), []
    rt = workflow.Runtime(plan_lab(parse_lab(SPEC).lab), tmp_path, seen, stamp="20261205-120000")

    def other(rt: workflow.Runtime, phase: Phase) -> None:
        others.append(phase.name)

    handlers = {p.name: workflow.HANDLERS[p.name] if p.name in ANSIBLE_PHASES else other
                for p in rt.plan.phases}  # fmt: skip
    running = {m.name for m in rt.plan.machines}
    workflow.walk(rt, handlers=handlers, running=lambda rt: running, **kw)
    return rt, seen, others


def test_the_ansible_phases_run_as_one_playbook_and_end_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePlaybook(changes={"prepare": 3, "k3s_server": 1, "k3s_agent": 2})
    _, seen, others = walk_with(tmp_path, monkeypatch, fake, until="kubeconfig")
    assert len(fake.calls) == 1
    assert fake.calls[0]["tags"] == ["prepare", "k3s_server", "k3s_agent", "kubeconfig"]
    assert fake.calls[0]["ident"] == "20261205-120000-prepare..kubeconfig"
    assert others == ["preflight", "render", "boot", "wait-ssh"]
    notes = {name: note for name, status, note in seen.ends() if status == "done"}
    assert [notes[p] for p in ANSIBLE_PHASES] == ["3 changed", "1 changed", "2 changed",
                                                  "0 changed"]  # fmt: skip
    # Each phase starts after the one before it ended, and its task lines are its own.
    batch = [e for e in seen.events if e[1] in ANSIBLE_PHASES]
    assert [e[:2] for e in batch if e[0] != "step"] == [
        (kind, name) for name in ANSIBLE_PHASES for kind in ("start", "end")
    ]
    assert ("step", "k3s-agents", "k3s_agent : work") in seen.events
    assert ("step", "prepare", "k3s_agent : work") not in seen.events
    assert all(load_state(tmp_path, "demo").done(p, load_state(tmp_path, "demo").spec_hash)
               for p in ANSIBLE_PHASES)  # fmt: skip


def test_a_failure_is_the_failing_plays_phase_and_the_next_up_resumes_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ProvisionError) as raised:
        walk_with(tmp_path, monkeypatch, FakePlaybook(fail_at="k3s_agent"), until="kubeconfig")
    assert raised.value.message.startswith("phase k3s-agents failed: ansible status failed")
    assert raised.value.details == ["a2: failed at task 'work': it broke"]
    state = load_state(tmp_path, "demo")
    assert {n: r.status for n, r in state.phases.items() if n in ANSIBLE_PHASES} == {
        "prepare": "done", "k3s-servers": "done", "k3s-agents": "failed"}  # fmt: skip

    again = FakePlaybook()
    _, seen, others = walk_with(tmp_path, monkeypatch, again, until="kubeconfig")
    assert again.calls[0]["tags"] == ["k3s_agent", "kubeconfig"]
    assert again.calls[0]["ident"] == "20261205-120000-k3s-agents..kubeconfig"
    assert others == []
    assert [e for e in seen.ends() if e[1] == "done"] == [
        ("k3s-agents", "done", "0 changed"), ("kubeconfig", "done", "0 changed")]  # fmt: skip


def test_a_run_that_goes_on_past_a_failure_holds_the_walk_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any_errors_fatal Ansible runs the later plays on the other hosts: the phase that
    failed is still the one recorded, and the phases after it are not called done."""
    with pytest.raises(ProvisionError, match="phase k3s-servers failed"):
        walk_with(tmp_path, monkeypatch, FakePlaybook(fail_at="k3s_server", go_on=True),
                  until="kubeconfig")  # fmt: skip
    phases = load_state(tmp_path, "demo").phases
    assert phases["k3s-servers"].status == "failed"
    assert "k3s-agents" not in phases
    assert "kubeconfig" not in phases


def test_ctrl_c_in_the_run_is_recorded_on_the_phase_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InterruptedByUserError, match="interrupted during k3s-servers"):
        walk_with(tmp_path, monkeypatch, FakePlaybook(cancel_at="k3s_server"), until="kubeconfig")
    state = load_state(tmp_path, "demo")
    assert state.phases["prepare"].status == "done"
    assert state.phases["k3s-servers"].status == "interrupted"
    assert state.interrupted


def test_one_phase_alone_is_one_run_under_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePlaybook(changes={"prepare": 2})
    _, seen, _ = walk_with(tmp_path, monkeypatch, fake, until="prepare")
    assert [(c["tags"], c["ident"]) for c in fake.calls] == [
        (("prepare",), "20261205-120000-prepare")]  # fmt: skip
    assert ("prepare", "done", "2 changed") in seen.ends()


def test_every_ansible_phase_of_a_full_lab_has_its_plays_in_site_yml() -> None:
    addons = "addons: {gitlab: {enabled: true}, argocd: {enabled: true}}"
    spec = f"name: full\nservers: {{count: 3}}\n{addons}\n"
    plan = plan_lab(parse_lab(spec).lab)
    ansible = [p for p in plan.phases if p.tags]
    mapping = play_phases(site_plays(), ansible)
    assert {phase.name for phase in ansible} == set(mapping.values())
    plays = site_plays()
    assert isinstance(plays, list)
    assert len(mapping) == len(plays), "every play of site.yml belongs to one phase"
    assert play_phases([{"name": "odd", "roles": [{"role": "x", "tags": ["prepare", "gitops"]}]}],
                       ansible) == {}  # fmt: skip


def test_every_play_ends_the_run_at_a_failure_and_no_role_rescues() -> None:
    """What the walk's boundaries rely on (any_errors_fatal), and what would break it (a rescue
    runs on every host under any_errors_fatal since ansible-core 2.17)."""
    plays = site_plays()
    assert isinstance(plays, list)
    assert all(play.get("any_errors_fatal") is True for play in plays)
    playbooks = Path(resources.playbooks_dir())
    rescue = re.compile(r"^\s*(- )?rescue:", re.MULTILINE)
    rescuing = [str(p) for p in playbooks.rglob("*.yml") if rescue.search(p.read_text())]
    assert rescuing == []
