"""`labctl reset`: put the lab back to its baseline snapshot and prove it with the checks."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.common import (
    Format,
    FormatOption,
    SpecArg,
    checks_runtime,
    refuse_own_machines,
    resolve,
    show_check_results,
)
from labctl.cli.output import OUT


def reset(
    file: SpecArg = None,
    snapshot: Annotated[
        str, typer.Option("--snapshot", "-s", help="Snapshot to go back to.")
    ] = "baseline",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run just this check (repeatable).")
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help="Skip this check (repeatable).")
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            "--settle",
            min=0,
            max=3600,
            help="Seconds a failing check is retried while K3s starts after the restore.",
        ),
    ] = 180.0,
    output: FormatOption = Format.TEXT,
) -> None:
    """Restore the baseline snapshot, then run the smoke checks.

    Exit code 6 when a check fails after the restore; `labctl up` saves baseline. A check that
    fails right after the restore is tried again every 5 s for up to --settle seconds, since K3s
    cold-starts with the machines.
    """
    import time  # noqa: PLC0415 - lazy: keeps --help fast

    from labctl.cli.snapshot import restore_lab  # noqa: PLC0415
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lab.snapshot import validate_name  # noqa: PLC0415
    from labctl.lab.workflow import check_lab  # noqa: PLC0415

    validate_name(snapshot)
    resolved = resolve(file)
    refuse_own_machines(
        resolved, "reset", "since only a hypervisor can put a machine back to a snapshot"
    )
    started = time.monotonic()
    runtime, phase = checks_runtime(resolved, output)
    with lab_lock(resolved.lab_dir, "reset"):  # one hold: nothing may change the lab in between
        restored_in = restore_lab(resolved, snapshot)
        # K3s cold-starts after the restore: nodes, pods and clocks get time to settle.
        results = check_lab(runtime, phase, only=only or (), skip=skip or (), settle=settle)
    code = show_check_results(results, resolved.plan.name, output)
    total = time.monotonic() - started
    verdict = "checks failed" if code else "all checks passed"
    OUT.line(f"Reset of lab {resolved.plan.name}: restore {restored_in:.1f}s, "
             f"{total:.1f}s with the checks; {verdict}.")  # fmt: skip
    if code:
        raise typer.Exit(code)
