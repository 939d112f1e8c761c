"""`labctl up`: build the lab. With --dry-run, show the plan and render, and boot nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, relative, render_lab, resolve
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.plan import Plan


def show_plan(plan: Plan) -> None:
    """The machines table and the ordered phases."""
    rows = [
        (m.name, m.role.value, m.ip, str(m.cpus), f"{m.memory_mib} MiB", m.box)
        for m in plan.machines
    ]
    OUT.table(
        f"Lab {plan.name}: {plan.lab.provider}, {plan.network.cidr}, "
        f"K3s {plan.lab.k3s.version} ({plan.datastore})",
        ("machine", "role", "ip", "cpus", "memory", "box"),
        rows,
    )
    OUT.line("Phases:")
    for number, phase in enumerate(plan.phases, start=1):
        OUT.line(f"  {number:>2}. {phase.name:<12} {phase.summary}")
    OUT.line(f"Checks: {', '.join(plan.checks) or 'none'}")


def up(
    file: SpecArg = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan and render the files; boot nothing.")
    ] = False,
    output: FormatOption = Format.TEXT,
) -> None:
    """Bring the lab up: boot the VMs, install K3s, prove it works."""
    from labctl.errors import ExitCode, LabctlError  # noqa: PLC0415 - lazy: keeps --help fast

    resolved = resolve(file)
    written = render_lab(resolved)
    if output is Format.JSON:
        OUT.json(
            {
                "dry_run": dry_run,
                "lab_dir": str(resolved.lab_dir),
                "files": [str(path) for path, _ in written],
                "plan": resolved.plan.to_dict(),
            }
        )
    else:
        show_plan(resolved.plan)
        OUT.line(f"Rendered into {relative(resolved.lab_dir)}/")
    if dry_run:
        return
    raise LabctlError(
        "booting machines is not part of this labctl build yet; the plan above is rendered",
        f"run `vagrant up` in {relative(resolved.lab_dir)} to boot it by hand, or use --dry-run",
        ExitCode.PREFLIGHT,
    )
