"""`labctl reset`: put the lab back to its baseline snapshot and prove it with the checks."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, resolve
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
    output: FormatOption = Format.TEXT,
) -> None:
    """Restore the baseline snapshot, then run the smoke checks.

    Exit code 6 when a check fails after the restore; `labctl up` saves baseline.
    """
    import time  # noqa: PLC0415 - lazy: keeps --help fast

    from labctl import checks  # noqa: PLC0415
    from labctl.cli.progress import PlainProgress  # noqa: PLC0415
    from labctl.cli.snapshot import restore_lab  # noqa: PLC0415
    from labctl.lock import lab_lock  # noqa: PLC0415
    from labctl.snapshot import validate_name  # noqa: PLC0415
    from labctl.workflow import Runtime, check_lab  # noqa: PLC0415

    validate_name(snapshot)
    resolved = resolve(file)
    started = time.monotonic()
    phase = next(p for p in resolved.plan.phases if p.name == "checks")
    quiet = output is Format.JSON or OUT.quiet or not OUT.verbosity
    runtime = Runtime(resolved.plan, resolved.lab_dir, PlainProgress(quiet=quiet))
    with lab_lock(resolved.lab_dir, "reset"):  # one hold: nothing may change the lab in between
        restored_in = restore_lab(resolved, snapshot)
        results = check_lab(runtime, phase, only=only or (), skip=skip or ())
    if output is Format.JSON:
        OUT.data(checks.render_json(results, resolved.plan.name))
    elif OUT.tty:
        OUT.data(checks.render_table(results))
    else:
        OUT.data(checks.render_plain(results))
    code = checks.exit_code(results)
    total = time.monotonic() - started
    verdict = "checks failed" if code else "all checks passed"
    OUT.line(f"Reset of lab {resolved.plan.name}: restore {restored_in:.1f}s, "
             f"{total:.1f}s with the checks; {verdict}.")  # fmt: skip
    if code:
        raise typer.Exit(int(code))
