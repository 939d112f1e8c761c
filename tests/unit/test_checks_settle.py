"""After `labctl reset` the checks of a lab that is still starting are polled, with a bound
(issue 17 item 12). Recorded outputs and simulated time: K3s's cold start is not shown here."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.checks import Status, run_checks
from labctl.checks.replay import RecordedOutputReplay, Recording, result
from labctl.checks.runner import AFTER_RESTORE_SETTLE_S, SETTLE_EVERY_S
from labctl.cli.app import main
from tests.unit.test_checks_runner import FakeClocks, plan_of, targets

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
NOT_READY = (FIXTURES / "nodes-broken.json").read_text()
READY = (FIXTURES / "nodes-healthy.json").read_text()


def _nodes(*answers: str) -> RecordedOutputReplay:
    return RecordedOutputReplay([Recording("*", "get nodes", tuple(result(a) for a in answers))])


def _run(replay: RecordedOutputReplay, fake: FakeClocks, settle: float, only: list[str]):  # type: ignore[no-untyped-def]
    plan = plan_of("name: demo\n")
    return run_checks(
        plan, targets(plan), Path("/kh"), only=only, executor=replay, clocks=fake.clocks(),
        settle=settle,
    )  # fmt: skip


def test_nodes_that_become_ready_pass_after_a_restore() -> None:
    fake = FakeClocks()
    (got,) = _run(
        _nodes(NOT_READY, NOT_READY, READY), fake, AFTER_RESTORE_SETTLE_S, ["nodes-ready"]
    )
    assert got.status is Status.PASSED
    assert fake.sleeps == [SETTLE_EVERY_S, SETTLE_EVERY_S]


def test_without_settle_time_the_first_answer_is_the_verdict() -> None:
    fake = FakeClocks()
    (got,) = _run(_nodes(NOT_READY, READY), fake, 0.0, ["nodes-ready"])
    assert got.status is Status.FAILED
    assert fake.sleeps == []


def test_a_lab_that_never_settles_fails_within_the_bound() -> None:
    fake = FakeClocks()
    (got,) = _run(_nodes(NOT_READY), fake, AFTER_RESTORE_SETTLE_S, ["nodes-ready"])
    assert got.status is Status.FAILED
    assert sum(fake.sleeps) <= AFTER_RESTORE_SETTLE_S


def test_checks_outside_the_settling_set_run_once() -> None:
    fake = FakeClocks()
    (got,) = _run(_nodes(NOT_READY, READY), fake, AFTER_RESTORE_SETTLE_S, ["node-ips"])
    assert got.status is Status.FAILED
    assert fake.sleeps == []


def test_reset_waits_the_runner_s_settle_time_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`labctl reset` passes --settle (default: the runner's three minutes) to the checks."""
    import inspect

    from labctl.cli import reset as reset_cli
    from labctl.lab import workflow

    default = inspect.signature(reset_cli.reset).parameters["settle"].default
    assert default == AFTER_RESTORE_SETTLE_S
    asked: list[float] = []

    def check_lab(*_args: object, settle: float = 0.0, **_kw: object) -> tuple[()]:
        asked.append(settle)
        return ()

    monkeypatch.setattr(workflow, "check_lab", check_lab)
    monkeypatch.setattr("labctl.cli.snapshot.restore_lab", lambda *_: 0.5)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text("name: demo\nprovider: lxc\n")
    for argv, want in ((["reset"], AFTER_RESTORE_SETTLE_S), (["reset", "--settle", "20"], 20.0)):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert not exited.value.code, capsys.readouterr()
        assert asked.pop() == want
