"""Reports: JUnit XML valid against the Jenkins JUnit schema, the documented JSON shape (a golden
sample), the table and plain lines."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labctl.checks import (
    CheckResult,
    Status,
    render_json,
    render_junit,
    render_plain,
    render_table,
    run_checks,
)
from labctl.checks.replay import RecordedOutputReplay
from tests.unit.test_checks_runner import FakeClocks, plan_of, targets

lxml_etree = pytest.importorskip("lxml.etree", reason="lxml validates JUnit XML (test extra)")

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
XSD = FIXTURES / "junit.xsd"
GOLDEN_JSON = FIXTURES / "report-broken.json"


@pytest.fixture(scope="module")
def broken_results() -> tuple[CheckResult, ...]:
    """The broken recording's results, plus one check that could not run (an error)."""
    plan = plan_of("name: demo\n")
    replay = RecordedOutputReplay.from_file(FIXTURES / "recording-broken.json")
    results = run_checks(
        plan, targets(plan), Path("/lab/kh"), executor=replay, clocks=FakeClocks().clocks()
    )
    unreachable = CheckResult(
        "nodes-ready", Status.ERROR, "demo-server-1 (127.0.0.1:2200) is not reachable", 30.5
    )
    return (unreachable, *results[1:])


def schema() -> object:
    return lxml_etree.XMLSchema(lxml_etree.parse(str(XSD)))


def test_junit_validates_against_the_jenkins_schema(
    broken_results: tuple[CheckResult, ...],
) -> None:
    xml = render_junit(
        broken_results, "demo", timestamp="2026-11-27T09:45:00", hostname="ci-runner-3"
    )
    document = lxml_etree.fromstring(xml.encode())
    validator = schema()
    assert validator.validate(document), validator.error_log  # type: ignore[attr-defined]


def test_the_schema_rejects_what_ci_would_reject() -> None:
    bad = b'<testsuites><testsuite name="x" tests="1"><testcase time="1"/></testsuite></testsuites>'
    assert not schema().validate(lxml_etree.fromstring(bad))  # type: ignore[attr-defined]


def test_junit_has_one_testcase_per_check_with_failure_error_skipped(
    broken_results: tuple[CheckResult, ...],
) -> None:
    root = ET.fromstring(render_junit(broken_results, "demo"))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [r.name for r in broken_results]
    assert suite.get("tests") == str(len(broken_results))
    assert suite.get("failures") == "10"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "3"
    failure = cases["node-ips"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("demo-agent-1 advertises 10.0.2.15")
    error = cases["nodes-ready"].find("error")
    assert error is not None
    assert error.get("message") == "demo-server-1 (127.0.0.1:2200) is not reachable"
    skipped = cases["gitops"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "needs argocd and gitlab, not enabled in the lab spec"
    assert cases["nodes-ready"].get("time") == "30.500"
    assert cases["nodes-ready"].get("classname") == "labctl.demo"


def test_json_report_matches_the_documented_sample(
    broken_results: tuple[CheckResult, ...], update_golden: bool
) -> None:
    text = render_json(broken_results, "demo")
    if update_golden:
        GOLDEN_JSON.write_text(text)
    assert text == GOLDEN_JSON.read_text()
    document = json.loads(text)
    assert document["schema"] == "labctl.checks/v1"
    assert document["ok"] is False
    assert document["summary"] == {
        "total": 14,
        "passed": 0,
        "failed": 10,
        "error": 1,
        "skipped": 3,
        "elapsed": 150.5,
    }
    first = document["checks"][0]
    assert set(first) == {"name", "status", "message", "elapsed", "proves", "needs"}
    assert document["checks"][12]["needs"] == ["argocd", "gitlab"]


def test_plain_lines_one_per_check_and_a_summary(broken_results: tuple[CheckResult, ...]) -> None:
    lines = render_plain(broken_results).splitlines()
    assert lines[0] == (
        "ERROR nodes-ready (30.5 s): demo-server-1 (127.0.0.1:2200) is not reachable"
    )
    assert lines[1].startswith("FAIL node-ips (0.0 s): demo-agent-1 advertises 10.0.2.15")
    assert lines[-1] == "10 failed, 1 error, 3 skipped in 150.5 s"
    assert len(lines) == len(broken_results) + 1


def test_table_shows_name_status_time_and_message(
    broken_results: tuple[CheckResult, ...],
) -> None:
    text = render_table(broken_results, color=False, width=160)
    assert "\x1b[" not in text
    header = next(line for line in text.splitlines() if "check" in line and "status" in line)
    assert [word for word in ("check", "status", "time", "message") if word in header] == [
        "check",
        "status",
        "time",
        "message",
    ]
    assert "replicaset-self-heal" in text
    assert "120.0 s" in text
    assert text.rstrip().endswith("10 failed, 1 error, 3 skipped in 150.5 s")
    colored = render_table(broken_results, color=True)
    assert "\x1b[" in colored
