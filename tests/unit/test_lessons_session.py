"""A learner's way through a lesson on recorded outputs: start, check (not yet, then done),
hints and solutions counted, progress kept across loads, reset; and the exit codes when the lab
is not up (3) or not reachable (4). Probes run through the real check runner on a replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.checks.replay import RecordedOutputReplay, Recording, result
from labctl.errors import ExitCode, LabctlError, PreflightError, SshUnreachableError, StateError
from labctl.lab.state import LabState, PhaseRecord, save_state
from labctl.lab.targets import save_targets
from labctl.lessons import session
from labctl.lessons.progress import load_progress, progress_path
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import SshTarget

FIXTURES = Path(__file__).parent / "fixtures" / "lessons"
PLAN = plan_lab(parse_lab("name: demo\n").lab)
NOT_FOUND = 'Error from server (NotFound): deployments.apps "web" not found\n'


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    """A lab directory as `labctl up` leaves it: K3s phases done, SSH details saved."""
    record = PhaseRecord("done", 0.0, 1.0, "x")
    save_state(tmp_path, LabState("demo", phases={"k3s-servers": record}))
    save_targets(
        tmp_path,
        {m.name: SshTarget(m.name, m.ip, 22, "vagrant", tmp_path / "key") for m in PLAN.machines},
    )
    return tmp_path


def replay(*stdout_or_errors: tuple[int, str]) -> RecordedOutputReplay:
    answers = tuple(
        result(out if code == 0 else "", exit_status=code, stderr=out if code else "")
        for code, out in stdout_or_errors
    )
    return RecordedOutputReplay([Recording("demo-server-1", "get deployment web", answers)])


def deployment(name: str) -> tuple[int, str]:
    return (0, (FIXTURES / name).read_text())


def test_pick_lang() -> None:
    assert session.pick_lang(None, {}) == "en"
    assert session.pick_lang(None, {"LANG": "ko_KR.UTF-8"}) == "ko"
    assert session.pick_lang(None, {"LC_ALL": "C.UTF-8", "LANG": "ko_KR.UTF-8"}) == "en"
    assert session.pick_lang(None, {"LC_ALL": "ko_KR.UTF-8"}) == "ko"
    assert session.pick_lang("en", {"LC_ALL": "ko_KR.UTF-8"}) == "en"


def test_a_lesson_is_checked_step_by_step_and_progress_is_kept(lab_dir: Path) -> None:
    session.start(lab_dir, PLAN, "deployments", now=100.0)
    executor = replay(
        (1, NOT_FOUND), deployment("deployment-0-ready.json"), deployment("deployment-3-ready.json")
    )
    first = session.check(lab_dir, PLAN, lang="en", answer=None, now=101.0, executor=executor)
    assert not first.outcome.done
    assert first.outcome.message == "there is no Deployment web in namespace lesson-deployments yet"
    ko = session.check(lab_dir, PLAN, lang="ko", answer=None, now=102.0, executor=executor)
    assert ko.outcome.message == (
        "web 디플로이먼트의 준비된 레플리카는 0개입니다. 이 단계에서는 3개가 필요합니다"
    )
    done = session.check(lab_dir, PLAN, lang="en", answer=None, now=103.0, executor=executor)
    assert done.outcome.done
    assert done.progress.step == 1
    assert [c.command for c in executor.calls] == [
        "sudo k3s kubectl get deployment web -n lesson-deployments -o json"
    ] * 3
    # A second process reads the same file.
    saved = load_progress(lab_dir, "demo").lessons["deployments"]
    assert saved.step == 1
    assert saved.steps["create"].checks == 3
    assert saved.steps["create"].done_at == 103.0


def test_hints_are_counted_once_each_and_solutions_recorded(lab_dir: Path) -> None:
    session.start(lab_dir, PLAN, "deployments", now=1.0)
    texts = [session.next_hint(lab_dir, PLAN, "en")[3] for _ in range(3)]
    assert texts[0] != texts[1]
    assert texts[2] == texts[1], "the last hint repeats"
    lesson, step, number = session.solution(lab_dir, PLAN)
    assert (lesson.name, step.id, number) == ("deployments", "create", 1)
    saved = load_progress(lab_dir, "demo").lessons["deployments"].steps["create"]
    assert (saved.hints, saved.solution_shown) == (2, True)


def test_starting_again_resumes_and_a_finished_lesson_starts_over(lab_dir: Path) -> None:
    session.start(lab_dir, PLAN, "pods-and-nodes", now=1.0)
    _, lp, resumed = session.start(lab_dir, PLAN, "pods-and-nodes", now=2.0)
    assert resumed
    assert lp.started_at == 1.0


def test_a_lesson_the_lab_cannot_run_is_refused_with_exit_3(lab_dir: Path) -> None:
    with pytest.raises(PreflightError) as caught:
        session.start(lab_dir, PLAN, "gitops", now=1.0)
    assert caught.value.exit_code is ExitCode.PREFLIGHT
    assert caught.value.message == (
        "lesson gitops needs addons.argocd.enabled: true; addons.gitlab.enabled: true in lab demo"
    )


def test_check_before_k3s_is_up_exits_3(tmp_path: Path) -> None:
    session.start(tmp_path, PLAN, "deployments", now=1.0)
    with pytest.raises(PreflightError) as caught:
        session.check(tmp_path, PLAN, lang="en", answer=None, now=2.0, executor=replay())
    assert caught.value.exit_code is ExitCode.PREFLIGHT
    assert "phase k3s-servers not done" in caught.value.message


def test_an_unreachable_lab_exits_4_and_counts_no_check(lab_dir: Path) -> None:
    class Unreachable:
        def run(self, target, command, timeout=60.0, *, stdin=None):  # type: ignore[no-untyped-def]
            raise SshUnreachableError(f"{target.name} ({target.host}:22): connection refused")

    session.start(lab_dir, PLAN, "deployments", now=1.0)
    with pytest.raises(LabctlError) as caught:
        session.check(lab_dir, PLAN, lang="en", answer=None, now=2.0, executor=Unreachable())
    assert caught.value.exit_code is ExitCode.BOOT
    assert "connection refused" in caught.value.message
    assert load_progress(lab_dir, "demo").lessons["deployments"].steps == {}


def test_no_started_lesson_says_how_to_start_one(lab_dir: Path) -> None:
    with pytest.raises(StateError) as caught:
        session.next_hint(lab_dir, PLAN, "en")
    assert caught.value.message == "no lesson is started in this lab"
    assert "labctl lesson start" in caught.value.hint


def test_a_damaged_progress_file_is_an_error_with_a_way_out(lab_dir: Path) -> None:
    progress_path(lab_dir).write_text('{"version": 1, "lab": "demo", "lessons": {"x": 3}}')
    with pytest.raises(StateError) as caught:
        session.start(lab_dir, PLAN, "deployments", now=1.0)
    assert caught.value.message.startswith(f"{progress_path(lab_dir)} is damaged (")
    assert f"mv {progress_path(lab_dir)} {progress_path(lab_dir)}.bad" in caught.value.hint
    progress_path(lab_dir).write_text("{not json")
    with pytest.raises(StateError):
        load_progress(lab_dir, "demo")


def test_reset_deletes_the_namespace_and_forgets_progress(lab_dir: Path) -> None:
    session.start(lab_dir, PLAN, "deployments", now=1.0)
    executor = RecordedOutputReplay([Recording("demo-server-1", "delete namespace", (result(),))])
    assert session.reset(lab_dir, PLAN, "deployments", executor=executor) == "lesson-deployments"
    assert [c.command for c in executor.calls] == [
        "sudo k3s kubectl delete namespace lesson-deployments --ignore-not-found --wait=false"
    ]
    saved = json.loads(progress_path(lab_dir).read_text())
    assert saved["lessons"] == {}
    assert saved["current"] is None


def test_a_read_only_lesson_resets_without_touching_the_lab(tmp_path: Path) -> None:
    session.start(tmp_path, PLAN, "anatomy", now=1.0)
    assert session.reset(tmp_path, PLAN, "anatomy", executor=replay()) is None


def test_an_unknown_lesson_suggests_the_closest(lab_dir: Path) -> None:
    with pytest.raises(LabctlError) as caught:
        session.start(lab_dir, PLAN, "deployment", now=1.0)
    assert caught.value.exit_code is ExitCode.INVALID_INPUT
    assert caught.value.hint.startswith("did you mean 'deployments'?")


def test_a_lab_without_ssh_details_for_its_server_exits_4(lab_dir: Path) -> None:
    save_targets(lab_dir, {})
    session.start(lab_dir, PLAN, "deployments", now=1.0)
    with pytest.raises(LabctlError) as caught:
        session.check(lab_dir, PLAN, lang="en", answer=None, now=2.0, executor=replay())
    assert caught.value.exit_code is ExitCode.BOOT
    assert caught.value.message == "no SSH details for demo-server-1 (is it running?)"
