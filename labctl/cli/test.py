"""`labctl test`: preflight, up, idempotence re-run, checks, destroy; reports for CI."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path  # noqa: TC003 - typer resolves annotations at run time
from typing import Annotated

import typer

from labctl.cli.common import (
    Format,
    FormatOption,
    OfflineOption,
    SkipPreflightOption,
    SpecArg,
    confirm_or_refuse,
    lab_runtime,
    relative,
    resolve,
)
from labctl.cli.output import OUT


class OnFailure(StrEnum):
    DESTROY = "destroy"
    KEEP = "keep"


def run_test(
    file: SpecArg = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="JUnit XML: a testcase per phase and check.")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="The whole run as JSON (labctl.test/v1).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="HTML report (default: in the lab directory).")
    ] = None,
    on_failure: Annotated[
        OnFailure, typer.Option("--on-failure", help="destroy (default) or keep a failed lab.")
    ] = OnFailure.DESTROY,
    offline: OfflineOption = None,
    skip_preflight: SkipPreflightOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Replace an existing lab of this name.")
    ] = False,
    output: FormatOption = Format.TEXT,
) -> None:
    """Build, prove, tear down: the CI nightly.

    Steps: preflight, up, an idempotence re-run (must change nothing), the smoke checks, then
    destroy (always, unless --on-failure keep). The exit code is the first failed step's.
    """
    import socket  # noqa: PLC0415 - lazy: keeps --help fast
    import time  # noqa: PLC0415

    from labctl.cli.progress import JsonProgress, PlainProgress  # noqa: PLC0415
    from labctl.lab import nightly as ci  # noqa: PLC0415 - the module at run time, types above
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415
    from labctl.lab.state import load_state  # noqa: PLC0415

    resolved = resolve(file)
    plan, lab_dir = resolved.plan, resolved.lab_dir
    if load_state(lab_dir, plan.name).phases.get("boot"):
        confirm_or_refuse(f"Lab {plan.name} exists; `labctl test` destroys and rebuilds it. Go on?",
                          yes)  # fmt: skip
    visible = JsonProgress() if output is Format.JSON else PlainProgress(quiet=OUT.quiet)
    recorder = ci.Recorder(visible)
    run = ci.TestRun(lab=plan.name, started=time.time())
    run.phases = recorder.phases  # the same list: reports written mid-run show phases so far
    runtime = lab_runtime(resolved, recorder, offline, skip_preflight)  # checks --offline first
    report = html or lab_dir / "test-report.html"

    def write_reports(current: ci.TestRun) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_atomic(report, ci.render_html(current, generated=stamp))
        if junit:
            write_atomic(junit, ci.render_junit(current, timestamp=stamp,
                                                hostname=socket.gethostname()))  # fmt: skip
        if json_file:
            write_atomic(json_file, ci.render_json(current))

    try:
        ci.run_test(runtime, run, on_failure=on_failure.value, on_record=write_reports,
                    on_step=lambda name: OUT.line(f"== {name}"), on_note=OUT.line)  # fmt: skip
    finally:  # an interrupt before the first step (the lock, the old lab's destroy) too
        write_reports(run)
    if output is Format.JSON and isinstance(visible, JsonProgress):
        visible.emit({"event": "test", "ok": run.ok, "exit_code": run.exit_code,
                      "steps": [s.name + ":" + s.status for s in run.steps]})  # fmt: skip
    else:
        OUT.line("")
        for step in run.steps:
            note = f"  {step.message}" if step.message else ""
            OUT.line(f"{step.name:<12} {step.status:<8} {step.elapsed:6.1f}s{note}")
        OUT.line(f"Report: {relative(report)}")
    if not run.ok:
        failed = next(s for s in run.steps if s.status in {"failed", "interrupted"})
        OUT.error(f"labctl test failed at {failed.name}: {failed.message}")
        raise typer.Exit(run.exit_code)
