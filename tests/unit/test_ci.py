"""`labctl test`'s sequence and reports: failure policy, exit codes, JUnit against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.checks import CheckResult, Status
from labctl.errors import BootError, ChecksFailedError, ProvisionError
from labctl.lab import nightly as ci
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab

XSD = Path(__file__).parent / "fixtures" / "checks" / "junit.xsd"


def steps(fail: str | None = None, error: type[Exception] = BootError):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def make(name: str):  # type: ignore[no-untyped-def]
        def step() -> str:
            calls.append(name)
            if name == fail:
                raise error(f"{name} broke")  # type: ignore[call-arg]
            return f"{name} ok"

        return step

    return {name: make(name) for name in ci.STEPS}, calls


def test_a_clean_run_passes_every_step() -> None:
    table, calls = steps()
    run = ci.run_sequence(ci.TestRun("demo", 0.0), table, on_failure="destroy")
    assert calls == list(ci.STEPS)
    assert run.ok
    assert run.exit_code == 0


def test_a_failure_skips_the_rest_but_still_destroys() -> None:
    table, calls = steps(fail="up", error=ProvisionError)
    run = ci.run_sequence(ci.TestRun("demo", 0.0), table, on_failure="destroy")
    assert calls == ["preflight", "up", "destroy"]
    assert [(s.name, s.status) for s in run.steps] == [
        ("preflight", "passed"), ("up", "failed"), ("idempotence", "skipped"),
        ("checks", "skipped"), ("destroy", "passed"),
    ]  # fmt: skip
    assert run.exit_code == 5
    assert not run.kept


def test_keep_on_failure_leaves_the_lab_and_says_so() -> None:
    table, calls = steps(fail="checks", error=ChecksFailedError)
    run = ci.run_sequence(ci.TestRun("demo", 0.0), table, on_failure="keep")
    assert "destroy" not in calls
    assert run.kept
    assert run.exit_code == 6
    assert run.steps[-1].message == "kept for debugging (--on-failure keep)"


def test_keep_does_not_keep_a_lab_that_passed() -> None:
    table, calls = steps()
    run = ci.run_sequence(ci.TestRun("demo", 0.0), table, on_failure="keep")
    assert calls[-1] == "destroy"
    assert not run.kept


def test_idempotence_names_the_hosts_that_changed() -> None:
    assert ci.idempotence_problem({"a": 0, "b": 0}) is None
    problem = ci.idempotence_problem({"demo-agent-1": 2, "demo-server-1": 0, "demo-agent-2": 1})
    assert problem == (
        "a second run changed 3 tasks (demo-agent-1: 2, demo-agent-2: 1); roles must be idempotent"
    )


def test_ansible_tags_cover_every_ansible_phase_in_order() -> None:
    plan = plan_lab(parse_lab("name: d\naddons: {argocd: {enabled: true}}\n").lab)
    assert ci.ansible_tags(plan) == (
        "prepare", "k3s_server", "k3s_agent", "kubeconfig", "argocd", "gitops",
    )  # fmt: skip


def sample_run() -> ci.TestRun:
    run = ci.TestRun("demo", 0.0)
    run.steps = [
        ci.StepResult("preflight", "passed", 1.0, "9 host checks"),
        ci.StepResult("up", "passed", 80.0, "3 machines up"),
        ci.StepResult("idempotence", "passed", 20.0, "changed=0 on every host"),
        ci.StepResult("checks", "failed", 9.0, "1 of 2 checks failed: dns", 6),
        ci.StepResult("destroy", "passed", 8.0, "3 things removed"),
    ]
    run.phases = [
        ci.PhaseTiming("render", "done", 0.1),
        ci.PhaseTiming("boot", "done", 30.0),
        ci.PhaseTiming("prepare", "done", 40.0),
    ]
    run.checks = (
        CheckResult("nodes-ready", Status.PASSED, "3/3 nodes Ready", 0.5),
        CheckResult("dns", Status.FAILED, "kubernetes.default did not resolve <&>", 8.5),
    )
    return run


def test_junit_has_a_case_per_step_phase_and_check_and_validates() -> None:
    lxml_etree = pytest.importorskip("lxml.etree")
    xml = ci.render_junit(sample_run(), timestamp="2026-11-27T05:00:00", hostname="ci-1")
    schema = lxml_etree.XMLSchema(lxml_etree.parse(str(XSD)))
    document = lxml_etree.fromstring(xml.encode())
    assert schema.validate(document), schema.error_log
    names = [c.get("name") for c in document.iter("testcase")]
    assert names == ["preflight", "render", "boot", "prepare", "idempotence", "destroy",
                     "nodes-ready", "dns"]  # fmt: skip
    (failure,) = document.iter("failure")
    assert failure.get("message") == "kubernetes.default did not resolve <&>"


def test_json_report_carries_the_verdict_and_every_part() -> None:
    document = json.loads(ci.render_json(sample_run()))
    assert document["schema"] == "labctl.test/v1"
    assert (document["ok"], document["exit_code"]) == (False, 6)
    assert [s["name"] for s in document["steps"]] == list(ci.STEPS)
    assert document["checks"][1]["status"] == "failed"


def test_html_report_is_self_contained_with_a_timing_chart_and_escapes() -> None:
    page = ci.render_html(sample_run(), generated="2026-11-27 05:00")
    assert "<svg" in page
    assert page.count("<rect") == 3
    assert "FAILED" in page
    assert "exit code 6 (checks_failed)" in page
    assert "did not resolve &lt;&amp;&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page
