"""`labctl lesson` as a learner meets it: JSON, Korean by flag or locale, documented exit codes
and one-line errors before any lab exists. Checks against a live lab are in the integration
tests (tests/integration/test_lessons_lxc.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.cli.app import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    (tmp_path / "lab.yaml").write_text("name: demo\n")
    return tmp_path


def test_list_as_json_names_needs_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["lesson", "list", "-o", "json"], capsys)
    assert code == 0
    lessons = {row["name"]: row for row in json.loads(out)}
    assert lessons["gitops"]["fits"] is False
    assert lessons["gitops"]["missing"] == [
        "addons.argocd.enabled: true",
        "addons.gitlab.enabled: true",
    ]
    assert lessons["deployments"]["step_reached"] is None


def test_korean_by_flag_and_by_locale(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(["lesson", "start", "deployments", "--lang", "ko"], capsys)
    assert code == 0
    assert out.startswith("# 디플로이먼트: 개수 유지, 스케일, 자동 복구, 롤아웃, 롤백")
    assert "## 5단계 중 1단계: 레플리카 3개짜리 디플로이먼트 만들기" in out
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    code, out, _ = run(["lesson", "hint"], capsys)
    assert out.startswith("힌트 1/2: ")
    code, out, _ = run(["lesson", "hint", "--lang", "en"], capsys)
    assert out.startswith("Hint 2 of 2: ")


def test_check_before_the_lab_is_up_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    run(["lesson", "start", "deployments"], capsys)
    code, _, err = run(["lesson", "check"], capsys)
    assert code == 3
    assert err.splitlines() == [
        "error: lab demo has no running K3s yet (phase k3s-servers not done)",
        "hint: run `labctl up` first; lessons check the live cluster",
    ]


def test_solution_prints_the_commands_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    run(["lesson", "start", "pods-and-nodes"], capsys)
    code, out, _ = run(["lesson", "solution", "-o", "json"], capsys)
    assert code == 0
    assert json.loads(out)["commands"][1] == (
        "kubectl run hello --image=busybox:1.36.1 -n lesson-pods -- sleep 3600"
    )


@pytest.mark.parametrize(
    ("argv", "code", "first"),
    [
        (["lesson", "hint"], 2, "error: no lesson is started in this lab"),
        (["lesson", "start", "deploy"], 2, "error: there is no lesson 'deploy'"),
        (["lesson", "list", "--lang", "fr"], 2, "error: --lang 'fr': lessons are written in en"),
        (["lesson", "start", "gitops"], 3, "error: lesson gitops needs addons.argocd.enabled"),
    ],
)
def test_bad_input_is_one_line_and_a_documented_code(
    argv: list[str], code: int, first: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _, err = run(argv, capsys)
    assert got == code
    assert err.splitlines()[0].startswith(first)
    assert "Traceback" not in err


def test_a_done_check_prints_the_finding_and_the_next_step(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's own printing around a check that passes; the probe is answered by a replay
    standing in for SSH (the lab is not real: unit tests prove printing, not the lab)."""
    from labctl.checks.replay import RecordedOutputReplay, Recording, result
    from labctl.lab.state import LabState, PhaseRecord, save_state
    from labctl.lab.targets import save_targets
    from labctl.registry import plan_lab
    from labctl.spec.loader import parse_lab
    from labctl.tools import ssh

    fixture = Path(__file__).parent / "fixtures" / "lessons" / "deployment-3-ready.json"
    replay = RecordedOutputReplay(
        [Recording("demo-server-1", "get deployment web", (result(fixture.read_text()),))]
    )

    class ReplayPool:
        def __init__(self, known_hosts: Path) -> None:
            del known_hosts

        def __enter__(self) -> RecordedOutputReplay:
            return replay

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(ssh, "SshPool", ReplayPool)
    lab_dir = in_tmp / ".labctl" / "demo"
    save_state(lab_dir, LabState("demo", phases={"k3s-servers": PhaseRecord("done", 0, 1, "x")}))
    plan = plan_lab(parse_lab("name: demo\n").lab)
    save_targets(
        lab_dir,
        {m.name: ssh.SshTarget(m.name, m.ip, 22, "vagrant", in_tmp / "k") for m in plan.machines},
    )
    run(["lesson", "start", "deployments"], capsys)
    code, out, _ = run(["lesson", "check"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [
        "Done: deployments Step 1 of 5",
        "  ✓ Deployment web has 3 of 3 replicas ready",
    ]
    assert "## Step 2 of 5: Scale to five" in out
    code, out, _ = run(["lesson", "check", "--lang", "ko"], capsys)
    assert code == 6
    assert out.splitlines()[:2] == [
        "아직 완료되지 않았습니다: deployments 5단계 중 2단계",
        "  ✗ web 디플로이먼트의 replicas는 3개입니다. 이 단계에서는 5개가 필요합니다",
    ]
