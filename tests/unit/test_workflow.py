"""The phase walk: resume after failure or Ctrl-C, --from/--until, spec changes (handlers
are stand-ins that record calls; the real edges are exercised in tests/integration)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from labctl.errors import BootError, InterruptedByUserError, UsageError
from labctl.lab.state import LabState, first_pending, load_state, spec_hash
from labctl.lab.workflow import Runtime, select, walk
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.plan import Phase


class Recorder:
    """Progress sink that keeps every event, to assert what a user would have seen."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.timings: dict[str, tuple[str, float]] = {}

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        self.events.append(("start", phase.name, f"{number}/{total}"))

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.events.append(("end", phase.name, status))

    def step(self, phase: Phase, text: str) -> None:
        self.events.append(("step", phase.name, text))


ALL_RUNNING = {"demo-server-1", "demo-agent-1", "demo-agent-2"}


def all_running(rt: Runtime) -> set[str]:
    """Stand-in for `vagrant status`: every machine of the default lab is running."""
    return ALL_RUNNING


def runtime(tmp_path: Path, text: str = "name: demo\n") -> Runtime:
    return Runtime(plan_lab(parse_lab(text).lab), tmp_path, Recorder())


def handlers(calls: list[str], fail: str | None = None, interrupt: str | None = None):  # type: ignore[no-untyped-def]
    def handler(rt: Runtime, phase: Phase) -> None:
        calls.append(phase.name)
        if phase.name == fail:
            raise BootError(f"{phase.name} broke", "fix it")
        if phase.name == interrupt:
            raise KeyboardInterrupt

    return dict.fromkeys([p.name for p in runtime_plan().phases], handler)


def runtime_plan():  # type: ignore[no-untyped-def]
    return plan_lab(parse_lab("name: demo\n").lab)


def test_a_full_walk_runs_every_phase_and_saves_state(tmp_path: Path) -> None:
    rt, calls = runtime(tmp_path), []
    walk(rt, running=all_running, handlers=handlers(calls))
    assert calls == [p.name for p in rt.plan.phases]
    state = load_state(tmp_path, "demo")
    assert all(r.status == "done" for r in state.phases.values())
    assert first_pending(rt.plan, state, spec_hash(rt.plan.lab)) is None


def test_a_second_walk_skips_what_is_done(tmp_path: Path) -> None:
    walk(runtime(tmp_path), running=all_running, handlers=handlers([]))
    rt, calls = runtime(tmp_path), []
    walk(rt, running=all_running, handlers=handlers(calls))
    assert calls == []
    assert {e[2] for e in rt.progress.events if e[0] == "end"} == {"skipped"}  # type: ignore[attr-defined]


def test_a_failure_is_saved_and_the_next_walk_resumes_there(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(BootError):
        walk(runtime(tmp_path), running=all_running, handlers=handlers(calls, fail="wait-ssh"))
    assert calls == ["preflight", "render", "boot", "wait-ssh"]
    state = load_state(tmp_path, "demo")
    assert state.phases["wait-ssh"].status == "failed"
    assert state.phases["wait-ssh"].error == "wait-ssh broke"
    again: list[str] = []
    walk(runtime(tmp_path), running=all_running, handlers=handlers(again))
    assert again[0] == "wait-ssh"
    assert "boot" not in again


def test_ctrl_c_marks_the_phase_interrupted_and_exits_130(tmp_path: Path) -> None:
    with pytest.raises(InterruptedByUserError) as caught:
        walk(runtime(tmp_path), running=all_running, handlers=handlers([], interrupt="prepare"))
    assert int(caught.value.exit_code) == 130
    raw = json.loads((tmp_path / "state.json").read_text())
    assert raw["interrupted"] is True
    assert raw["phases"]["prepare"]["status"] == "interrupted"
    resumed: list[str] = []
    walk(runtime(tmp_path), running=all_running, handlers=handlers(resumed))
    assert resumed[0] == "prepare"
    assert load_state(tmp_path, "demo").interrupted is False


def test_a_changed_spec_reruns_everything_for_the_new_spec(tmp_path: Path) -> None:
    walk(runtime(tmp_path), running=all_running, handlers=handlers([]))
    calls: list[str] = []
    walk(
        runtime(tmp_path, "name: demo\nagents: {count: 3}\n"),
        running=all_running,
        handlers=handlers(calls),
    )
    assert calls[:3] == ["preflight", "render", "boot"]


def test_comments_and_key_order_do_not_change_the_spec_hash() -> None:
    a = parse_lab("name: demo\nagents: {count: 2}\n").lab
    b = parse_lab("# a comment\nagents:\n  count: 2\nname: demo\n").lab
    assert spec_hash(a) == spec_hash(b)
    assert spec_hash(a) != spec_hash(parse_lab("name: demo\nagents: {count: 3}\n").lab)


def test_from_forces_its_slice_and_until_stops(tmp_path: Path) -> None:
    walk(runtime(tmp_path), running=all_running, handlers=handlers([]))
    calls: list[str] = []
    walk(
        runtime(tmp_path),
        start="prepare",
        until="k3s-agents",
        running=all_running,
        handlers=handlers(calls),
    )
    assert calls == ["prepare", "k3s-servers", "k3s-agents"]


def test_select_rejects_unknown_and_reversed_phases() -> None:
    plan = runtime_plan()
    with pytest.raises(UsageError, match="no phase 'bake'"):
        select(plan, "bake", None)
    with pytest.raises(UsageError, match="comes after"):
        select(plan, "checks", "boot")
    single_node = plan_lab(parse_lab("name: one\nagents: {count: 0}\n").lab)
    with pytest.raises(UsageError, match="no phase 'k3s-agents'") as caught:
        select(single_node, "k3s-agents", None)
    assert caught.value.hint.startswith("its phases are: preflight, render, boot")


def test_state_round_trips_and_a_damaged_file_is_an_error_not_a_reset(tmp_path: Path) -> None:
    state = LabState(lab="demo", spec_hash="abc", machines={"demo-server-1": "id1"})
    assert LabState.from_json(state.to_json()) == state
    (tmp_path / "state.json").write_text("{not json")
    from labctl.errors import StateError

    with pytest.raises(StateError, match="damaged"):
        load_state(tmp_path, "demo")
    assert (tmp_path / "state.json").read_text() == "{not json"


def test_a_machine_that_stopped_since_makes_up_boot_again(tmp_path: Path) -> None:
    walk(runtime(tmp_path), running=all_running, handlers=handlers([]))
    calls: list[str] = []
    rt = runtime(tmp_path)
    walk(rt, running=lambda _: ALL_RUNNING - {"demo-agent-2"}, handlers=handlers(calls))
    assert calls == ["boot", "wait-ssh", "checks"]
    steps = [e[2] for e in rt.progress.events if e[0] == "step"]  # type: ignore[attr-defined]
    assert steps == ["not running: demo-agent-2; booting again"]
