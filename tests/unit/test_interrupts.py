"""SIGINT/SIGTERM and non-LabctlError failures in `labctl test`, and Ctrl-C without POSIX
process groups (as on Windows). Real signals to this process; real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from labctl import interrupts
from labctl.lab import nightly as ci
from labctl.tools import procs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    """Each test starts like a fresh labctl and leaves pytest's own handlers as they were."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    interrupts.install()
    yield
    interrupts.reset()
    signal.signal(signal.SIGINT, saved[0])
    signal.signal(signal.SIGTERM, saved[1])


def table(**raising: Callable[[], str]) -> tuple[dict[str, Callable[[], str]], list[str]]:
    calls: list[str] = []

    def make(name: str) -> Callable[[], str]:
        def step() -> str:
            calls.append(name)
            if name in raising:
                return raising[name]()
            return f"{name} ok"

        return step

    return {name: make(name) for name in ci.STEPS}, calls


def signal_self(signum: int) -> Callable[[], str]:
    def step() -> str:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises before this ends
        return "not interrupted"

    return step


def raising(exc: BaseException) -> Callable[[], str]:
    def step() -> str:
        raise exc

    return step


def statuses(run: ci.TestRun) -> list[tuple[str, str, int]]:
    return [(s.name, s.status, s.exit_code) for s in run.steps]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_step_is_recorded_and_destroy_still_runs(signum: int, code: int) -> None:
    steps, calls = table(idempotence=signal_self(signum))
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert calls == ["preflight", "up", "idempotence", "destroy"]
    assert statuses(run) == [
        ("preflight", "passed", 0), ("up", "passed", 0), ("idempotence", "interrupted", code),
        ("checks", "skipped", 0), ("destroy", "passed", 0),
    ]  # fmt: skip
    assert run.exit_code == code
    assert "SIGTERM" in run.steps[2].message if signum == signal.SIGTERM else "SIGINT"


@pytest.mark.parametrize(
    ("exc", "status", "code", "text"),
    [
        (KeyboardInterrupt(), "interrupted", 130, "interrupted by Ctrl-C"),
        (OSError(28, "No space left on device"), "failed", 1, "internal error: OSError"),
        (KeyError("machines"), "failed", 1, "internal error: KeyError: 'machines'"),
    ],
)
def test_anything_a_step_raises_is_recorded_and_destroy_still_runs(
    exc: BaseException, status: str, code: int, text: str
) -> None:
    steps, calls = table(checks=raising(exc))
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert calls[-1] == "destroy"
    assert statuses(run)[3] == ("checks", status, code)
    assert text in run.steps[3].message
    assert run.steps[-1].status == "passed"
    assert run.exit_code == code
    document = json.loads(ci.render_json(run))
    assert document["exit_code"] == code
    assert not document["ok"]


def test_a_bug_in_destroy_itself_is_recorded_not_raised() -> None:
    steps, _ = table(destroy=raising(RuntimeError("vagrant vanished")))
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert statuses(run)[-1] == ("destroy", "failed", 1)
    assert run.exit_code == 1


def test_reports_are_recorded_after_each_step_before_destroy_starts() -> None:
    seen: list[list[str]] = []
    steps, _ = table(up=raising(KeyboardInterrupt()))
    ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy",
                    on_record=lambda run: seen.append([s.name for s in run.steps]))  # fmt: skip
    # by the time destroy starts (a runner may kill the tree seconds later) the interrupted
    # step and the skipped ones are already on record
    assert ["preflight", "up", "idempotence", "checks"] in seen
    assert seen[-1] == list(ci.STEPS)


def test_sigterm_stops_the_steps_children_before_the_step_is_recorded() -> None:
    child: list[subprocess.Popen[bytes]] = []

    def up() -> str:
        child.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        time.sleep(0.5)  # /proc lists it as our child
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return "not interrupted"

    steps, _ = table(up=up)
    clock = time.monotonic()
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert statuses(run)[1] == ("up", "interrupted", 143)
    assert child[0].poll() is not None, "the step's child outlived the interrupt"
    assert time.monotonic() - clock < 5.0, "SIGTERM's grace must fit the runner's 2.5 s"


def test_the_runners_sigterm_after_its_sigint_does_not_cut_destroy() -> None:
    def destroy() -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # GitHub: SIGTERM 7.5 s after the SIGINT
        time.sleep(0.2)
        return "destroyed"

    steps, _ = table(up=signal_self(signal.SIGINT), destroy=destroy)
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert statuses(run)[-1] == ("destroy", "passed", 0)
    assert run.steps[-1].message == "destroyed"
    assert interrupts.exit_code() == 143  # the CLI still says it was terminated


def test_ctrl_c_without_posix_process_groups_is_an_interrupt_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows' os module has none of these; before, from_terminal raised AttributeError and
    # the phase was recorded as failed with exit 1.
    for name in ("tcgetpgrp", "getpgrp", "getpgid"):
        monkeypatch.delattr(os, name, raising=False)
    assert procs.from_terminal() is True
    steps, _ = table(up=signal_self(signal.SIGINT))
    run = ci.run_sequence(ci.TestRun("demo", 0.0), steps, on_failure="destroy")
    assert statuses(run)[1] == ("up", "interrupted", 130)


def test_the_cli_writes_reports_and_exits_143_when_terminated_in_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labctl.cli.app import main
    from labctl.lab import teardown

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["init"])
    destroyed: list[str] = []
    monkeypatch.setattr(ci, "_preflight", lambda runtime: "host ok")
    monkeypatch.setattr(ci, "_up", lambda runtime: signal_self(signal.SIGTERM)())
    monkeypatch.setattr(teardown, "destroy_lab",
                        lambda plan, lab_dir: iter(destroyed.append(plan.name) or ()))  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main(["test", "--yes", "--json", "run.json", "--junit", "junit.xml"])
    err = capsys.readouterr().err
    assert exited.value.code == 143, err
    assert destroyed == ["demo"]
    document = json.loads((tmp_path / "run.json").read_text())
    assert [(s["name"], s["status"]) for s in document["steps"]][:2] == [
        ("preflight", "passed"), ("up", "interrupted")]  # fmt: skip
    assert document["exit_code"] == 143
    assert (tmp_path / "junit.xml").exists()
    assert (tmp_path / ".labctl" / "demo" / "test-report.html").exists()
    assert "labctl test failed at up: interrupted by SIGTERM" in err


def test_a_signal_while_an_old_lab_is_destroyed_stops_that_destroy_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labctl.cli.app import main
    from labctl.lab import teardown
    from labctl.lab.state import LabState, PhaseRecord, save_state

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["init"])
    lab_dir = tmp_path / ".labctl" / "demo"
    lab_dir.mkdir(parents=True, exist_ok=True)
    save_state(lab_dir, LabState("demo", "x", {"boot": PhaseRecord("done", 0.0, 1.0, "x")}))
    child: list[subprocess.Popen[bytes]] = []

    def slow_destroy(plan: object, lab_dir: Path) -> Iterator[str]:
        child.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        yield "destroyed"

    monkeypatch.setattr(teardown, "destroy_lab", slow_destroy)
    with pytest.raises(SystemExit) as exited:
        main(["test", "--yes", "--json", "run.json"])
    err = capsys.readouterr().err
    assert exited.value.code == 143, err
    assert "error: interrupted by SIGTERM" in err
    assert child[0].poll() is not None, "vagrant destroy (here: its stand-in) was orphaned"
    assert json.loads((tmp_path / "run.json").read_text())["steps"] == []
