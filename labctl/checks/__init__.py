"""Smoke checks over SSH: the catalogue's steps and pure judges, the runner and the reports.

The CLI and the lifecycle call:
    run_checks(plan, targets, known_hosts, only=..., skip=..., credentials=...) -> results
    exit_code(results); render_table/render_plain/render_json/render_junit(results, ...)
Importing this package does not import paramiko (labctl.tools.ssh defers it to the first connect).
"""

from __future__ import annotations

from labctl.checks.model import Check, CheckResult, Credentials, Status, Target
from labctl.checks.registry import BY_NAME, CHECKS
from labctl.checks.report import (
    render_json,
    render_junit,
    render_junit_suites,
    render_plain,
    render_table,
    summary_line,
)
from labctl.checks.runner import (
    Clocks,
    Executor,
    exit_code,
    load_credentials,
    run_checks,
    select_checks,
)

__all__ = [
    "BY_NAME",
    "CHECKS",
    "Check",
    "CheckResult",
    "Clocks",
    "Credentials",
    "Executor",
    "Status",
    "Target",
    "exit_code",
    "load_credentials",
    "render_json",
    "render_junit",
    "render_junit_suites",
    "render_plain",
    "render_table",
    "run_checks",
    "select_checks",
    "summary_line",
]
