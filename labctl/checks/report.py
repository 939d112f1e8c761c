"""Check results as text: a rich table, plain lines, JSON and JUnit XML (pure functions).

JSON report (`render_json`), schema "labctl.checks/v1":

    {
      "schema": "labctl.checks/v1",
      "lab": "demo",
      "ok": false,                       # no check failed or errored (skips are fine)
      "summary": {"total": 14, "passed": 11, "failed": 1, "error": 0, "skipped": 2,
                  "elapsed": 48.31},     # seconds, sum of the checks' times
      "checks": [                        # catalogue order
        {"name": "nodes-ready", "status": "passed",   # passed|failed|error|skipped
         "message": "3/3 nodes Ready (1 server, 2 agents)", "elapsed": 0.41,
         "proves": "every node is Ready and the count matches the plan", "needs": []}
      ]
    }

A sample lives in tests/unit/fixtures/checks/report-broken.json.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from labctl.catalogue import CATALOGUE
from labctl.checks.model import CheckResult, Status

if TYPE_CHECKING:
    from collections.abc import Sequence

JSON_SCHEMA = "labctl.checks/v1"
_INFO = {c.name: c for c in CATALOGUE}
_STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "red",
    Status.ERROR: "magenta",
    Status.SKIPPED: "yellow",
}
_WORD = {
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.ERROR: "ERROR",
    Status.SKIPPED: "SKIP",
}


def counts(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many checks ended in each status, plus the total."""
    tally = {
        status.value: 0 for status in (Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED)
    }
    for result in results:
        tally[result.status.value] += 1
    return {"total": len(results), **tally}


def all_ok(results: Sequence[CheckResult]) -> bool:
    return not any(r.status in (Status.FAILED, Status.ERROR) for r in results)


def summary_line(results: Sequence[CheckResult]) -> str:
    """`11 passed, 1 failed, 2 skipped in 48.3 s`."""
    tally = counts(results)
    parts = [f"{tally[s]} {s}" for s in ("passed", "failed", "error", "skipped") if tally[s]]
    total = sum(r.elapsed for r in results)
    return f"{', '.join(parts) or 'no checks'} in {total:.1f} s"


def render_table(results: Sequence[CheckResult], *, color: bool = True, width: int = 100) -> str:
    """A rich table (check, status, time, message) for a terminal, ending with the summary."""
    from rich.console import Console  # noqa: PLC0415 - rich only when a table is printed
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Smoke checks", title_justify="left", expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold")
    for result in results:
        style = _STYLE[result.status]
        table.add_row(
            result.name,
            f"[{style}]{result.status.value}[/{style}]",
            f"{result.elapsed:.1f} s",
            result.message,
        )
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False
    )
    console.print(table)
    console.print(summary_line(results), highlight=False)
    return buffer.getvalue()


def render_plain(results: Sequence[CheckResult]) -> str:
    """One line per check for logs and pipes: `PASS nodes-ready (0.4 s): 3/3 nodes Ready`."""
    lines = [f"{_WORD[r.status]} {r.name} ({r.elapsed:.1f} s): {r.message}" for r in results]
    lines.append(summary_line(results))
    return "\n".join(lines) + "\n"


def render_json(results: Sequence[CheckResult], lab: str) -> str:
    """The JSON report documented in this module's docstring."""
    document = {
        "schema": JSON_SCHEMA,
        "lab": lab,
        "ok": all_ok(results),
        "summary": {**counts(results), "elapsed": round(sum(r.elapsed for r in results), 2)},
        "checks": [
            {
                "name": r.name,
                "status": r.status.value,
                "message": r.message,
                "elapsed": round(r.elapsed, 2),
                "proves": _INFO[r.name].proves if r.name in _INFO else "",
                "needs": list(_INFO[r.name].needs) if r.name in _INFO else [],
            }
            for r in results
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def render_junit(
    results: Sequence[CheckResult],
    lab: str,
    *,
    timestamp: str | None = None,
    hostname: str | None = None,
) -> str:
    """JUnit XML: one <testsuite> for the lab, one <testcase> per check.

    A failed check carries <failure>, a check that could not run <error>, a skipped one
    <skipped>, each with the message; `timestamp` (ISO 8601, no zone) and `hostname` are passed
    in so the function stays pure. Validates against the common Jenkins/Ant JUnit schema.
    """
    return render_junit_suites(
        "labctl check", [(f"labctl.{lab}", results)], timestamp=timestamp, hostname=hostname
    )


def render_junit_suites(
    title: str,
    suites: Sequence[tuple[str, Sequence[CheckResult]]],
    *,
    timestamp: str | None = None,
    hostname: str | None = None,
) -> str:
    """JUnit XML with one <testsuite> per (name, results) pair, e.g. `labctl test`'s phases and
    checks; each result becomes a <testcase> as in render_junit."""
    every = [r for _, results in suites for r in results]
    tally = counts(every)
    root = ET.Element(
        "testsuites",
        {
            "name": title,
            "tests": str(tally["total"]),
            "failures": str(tally["failed"]),
            "errors": str(tally["error"]),
            "time": f"{sum(r.elapsed for r in every):.3f}",
        },
    )
    for suite_name, results in suites:
        part = counts(results)
        suite_attrs = {
            "name": suite_name,
            "tests": str(part["total"]),
            "failures": str(part["failed"]),
            "errors": str(part["error"]),
            "skipped": str(part["skipped"]),
            "time": f"{sum(r.elapsed for r in results):.3f}",
        }
        if timestamp:
            suite_attrs["timestamp"] = timestamp
        if hostname:
            suite_attrs["hostname"] = hostname
        suite = ET.SubElement(root, "testsuite", suite_attrs)
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": suite_name, "name": result.name, "time": f"{result.elapsed:.3f}"},
            )
            if result.status is Status.FAILED:
                ET.SubElement(
                    case, "failure", {"message": result.message, "type": "CheckFailed"}
                ).text = result.message
            elif result.status is Status.ERROR:
                ET.SubElement(
                    case, "error", {"message": result.message, "type": "CheckError"}
                ).text = result.message
            elif result.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", {"message": result.message})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
