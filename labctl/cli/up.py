"""`labctl up`: build the lab. With --dry-run, show the plan and render, and boot nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import (
    Format,
    FormatOption,
    OfflineOption,
    SkipPreflightOption,
    SpecArg,
    relative,
    render_lab,
    resolve,
    run_phases,
)
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.plan import Plan

PhaseOption = typer.Option(show_default=False, metavar="PHASE")


def show_plan(plan: Plan) -> None:
    """The machines table and the ordered phases."""
    title = (
        f"Lab {plan.name}: {plan.lab.provider}, {plan.network.cidr}, "
        f"K3s {plan.lab.k3s.version} ({plan.datastore})"
    )
    if plan.provider.boots_machines:
        rows = [
            (m.name, m.role.value, m.ip, str(m.cpus), f"{m.memory_mib} MiB", m.box)
            for m in plan.machines
        ]
        OUT.table(title, ("machine", "role", "ip", "cpus", "memory", "box"), rows)
    else:  # the user's own machines: how each is reached
        reach = {m.name: m for m in plan.lab.machines}
        own = [
            (m.name, m.role.value, m.ip, f"{reach[m.name].user}@{reach[m.name].address}:"
             f"{reach[m.name].port}", reach[m.name].jump or "")
            for m in plan.machines
        ]  # fmt: skip
        OUT.table(title, ("machine", "role", "node ip", "ssh", "jump"), own)
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
    from_: Annotated[
        str | None, typer.Option("--from", help="Run again from this phase on.", metavar="PHASE")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Stop after this phase.", metavar="PHASE")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to questions.")] = False,
    skip_preflight: SkipPreflightOption = None,
    offline: OfflineOption = None,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys",
            help="provider ssh: trust host keys your machines offer the first time (CI); "
            "without it they are shown and asked about on a terminal, refused elsewhere.",
        ),
    ] = False,
) -> None:
    """Build the lab: boot, install K3s, check.

    Resumes where it stopped; --dry-run shows the plan and boots nothing.
    """
    del yes  # `up` asks nothing today; accepted so scripts can pass it to every command
    resolved = resolve(file)
    if dry_run:
        written = render_lab(resolved)
        if output is Format.JSON:
            OUT.json(
                {
                    "dry_run": True,
                    "lab_dir": str(resolved.lab_dir),
                    "files": [str(path) for path, _ in written],
                    "plan": resolved.plan.to_dict(),
                }
            )
            return
        show_plan(resolved.plan)
        OUT.line(f"Rendered into {relative(resolved.lab_dir)}/ (dry run: nothing booted)")
        return
    run_phases(
        resolved,
        output,
        command="up",
        start=from_,
        until=until,
        skip_preflight=skip_preflight,
        offline=offline,
        accept_new_host_keys=accept_new_host_keys,
    )
