"""`labctl check`: prove the lab works, as a table, JSON or JUnit; `--list` shows the catalogue."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - typer resolves annotations at run time
from typing import Annotated

import typer

from labctl.cli.common import (
    Format,
    FormatOption,
    SpecArg,
    checks_runtime,
    resolve,
    show_check_results,
)
from labctl.cli.output import OUT


def check(
    file: SpecArg = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run just this check (repeatable).")
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help="Skip this check (repeatable).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the checks: name, what it proves, needs.")
    ] = False,
    output: FormatOption = Format.TEXT,
) -> None:
    """Run the smoke checks on the lab.

    Exit code 6 when any check fails or cannot run; skipped checks do not count.
    """
    from labctl.catalogue import CATALOGUE  # noqa: PLC0415 - lazy: keeps --help fast

    if list_:
        if output is Format.JSON:
            OUT.json([{"name": c.name, "proves": c.proves, "needs": list(c.needs)}
                      for c in CATALOGUE])  # fmt: skip
        else:
            OUT.table("Smoke checks", ("name", "proves", "needs"),
                      [(c.name, c.proves, ", ".join(c.needs)) for c in CATALOGUE])  # fmt: skip
        return
    _run(file, only or [], skip or [], junit, output)


def _run(file: Path | None, only: list[str], skip: list[str], junit: Path | None,
         output: Format) -> None:  # fmt: skip
    import socket  # noqa: PLC0415
    import time  # noqa: PLC0415

    from labctl import checks  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lab.workflow import check_lab  # noqa: PLC0415

    resolved = resolve(file)
    runtime, phase = checks_runtime(resolved, output)
    with lab_lock(resolved.lab_dir, "check"):
        results = check_lab(runtime, phase, only=only, skip=skip)
    if junit is not None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        report = checks.render_junit(results, resolved.plan.name, timestamp=stamp,
                                     hostname=socket.gethostname())  # fmt: skip
        write_atomic(junit, report)
    code = show_check_results(results, resolved.plan.name, output)
    if code:
        raise typer.Exit(code)
