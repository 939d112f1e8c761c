"""`labctl fleet up|status|check|lessons|destroy|handout`: many identical labs from one spec."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import Format, FormatOption, OfflineOption, SpecArg, confirm_or_refuse
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.spec.access import Access
    from labctl.workshop.fleetrun import LabRun

app = typer.Typer(help="Many identical labs from one spec (workshops).", no_args_is_help=True)

PrefixOption = Annotated[
    str | None,
    typer.Option("--prefix", help="Lab names: <prefix>-01, ... (default: the lab's name)."),
]


def _prefix(file: Path | None, prefix: str | None) -> str:
    from labctl.cli.common import load_spec  # noqa: PLC0415 - lazy: keeps --help fast

    return prefix or load_spec(file, warn=False).lab.name


def _directory(file: Path | None, prefix: str | None) -> Path:
    from labctl.workshop.fleetrun import fleet_dir  # noqa: PLC0415

    return fleet_dir(file if file else None, _prefix(file, prefix))


def _progress(lab: LabRun) -> None:
    if lab.status == "running":
        OUT.line(f"{lab.name}: {lab.phase}")
    elif lab.status == "ok":
        OUT.line(f"{lab.name}: ready in {lab.elapsed:.0f}s")
    elif lab.status == "failed" and lab.exit_code is not None:
        where = f" in {lab.failed_phase}" if lab.failed_phase else ""
        OUT.line(f"{lab.name}: FAILED{where} (exit {lab.exit_code}): {lab.error}")


@app.command("up")
def up(
    file: SpecArg = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=99, help="How many labs.")] = 2,
    prefix: PrefixOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the fleet plan only.")] = False,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", min=1, help="Labs booting at once.")
    ] = None,
    offline: OfflineOption = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Stop each lab after this phase.", metavar="PHASE")
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            metavar="HOST[:PORT]",
            help="Attendees reach their own lab from their laptops through this host's "
            "sshd at HOST[:PORT] (sets access.gateway of every lab).",
        ),
    ] = None,
    output: FormatOption = Format.TEXT,
) -> None:
    """Plan N labs (own subnets, tokens, contexts) and bring them up side by side."""
    from labctl.cli.common import load_spec  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.workshop import fleetrun  # noqa: PLC0415

    loaded = load_spec(file)
    lab = loaded.lab if gateway is None else fleetrun.with_gateway(loaded.lab, gateway)
    directory = fleetrun.fleet_dir(loaded.path, prefix or lab.name)
    plan = fleetrun.plan_here(lab, count, prefix, directory, max_parallel=max_parallel)
    for warning in plan.warnings:
        OUT.warn(warning)
    if dry_run:
        if output is Format.JSON:
            OUT.json(plan.to_dict())
        else:
            OUT.table(f"Fleet {plan.prefix}: {plan.count} labs, {plan.concurrency.value} at once",
                      ("lab", "network", "machines", "memory"),
                      [(lab.name, lab.cidr, str(len(lab.plan.machines)), f"{lab.memory_mib} MiB")
                       for lab in plan.labs])  # fmt: skip
        return
    specs = fleetrun.write_fleet(directory, plan, str(loaded.path or "the built-in default lab"))
    runs = [fleetrun.LabRun(spec.stem, spec) for spec in specs]
    command = ["up", *(["--offline", str(offline.resolve())] if offline else []),
               *(["--until", until] if until else [])]  # fmt: skip
    OUT.line(f"Fleet {plan.prefix}: {plan.count} labs in {directory}, "
             f"{plan.concurrency.value} at a time")  # fmt: skip
    first_alone = bool(plan.labs) and not plan.labs[0].plan.provider.labs_boot_together
    fleetrun.FleetRunner(
        runs, plan.concurrency.value, on_change=_progress, first_alone=first_alone
    ).run(command)
    if lab.access is not None and output is Format.TEXT:
        _show_gateway(lab.access)
    _finish(runs, output)


def _show_gateway(access: Access) -> None:
    """What this host's sshd now has for the attendees (each lab's log says what it changed)."""
    from labctl.lab.access import GatewayPaths, labctl_entries  # noqa: PLC0415

    paths = GatewayPaths(PurePosixPath(access.sshd_config), access.account)
    try:
        dropin = Path(str(paths.dropin)).read_text(encoding="utf-8")
        entries = labctl_entries(Path(str(paths.keys)).read_text(encoding="utf-8"))
    except OSError as exc:
        OUT.line(f"Gateway: {exc.strerror or exc}: {exc.filename}")
        return
    OUT.line(f"Gateway {access.gateway}: {len(entries)} lab keys in {paths.keys}; "
             f"{paths.dropin} says:")  # fmt: skip
    for text in dropin.splitlines():
        OUT.line("  " + text.replace("\t", "    "))


def _finish(runs: list[LabRun], output: Format) -> None:
    from labctl.workshop.fleetrun import fleet_exit_code  # noqa: PLC0415

    if output is Format.JSON:
        OUT.json([{"name": r.name, "status": r.status, "exit_code": r.exit_code,
                   "failed_phase": r.failed_phase, "error": r.error,
                   "elapsed": round(r.elapsed, 1), "log": str(r.log)} for r in runs])  # fmt: skip
    ok = sum(r.status == "ok" for r in runs)
    OUT.line(f"{ok} of {len(runs)} labs succeeded.")
    code = fleet_exit_code(runs)
    if code:
        raise typer.Exit(code)


@app.command("status")
def status(
    file: SpecArg = None, prefix: PrefixOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Which labs are ready, which failed in which phase, time to ready."""
    from labctl.workshop.fleetrun import member_specs, readiness  # noqa: PLC0415

    labs = [readiness(spec) for spec in member_specs(_directory(file, prefix))]
    if output is Format.JSON:
        OUT.json([lab.to_dict() for lab in labs])
        return
    rows = [
        (lab.name, lab.cidr,
         "ready" if lab.ready else (f"failed in {lab.failed_phase}" if lab.failed_phase
                                    else f"next: {lab.next_phase}"),
         f"{lab.time_to_ready:.0f}s" if lab.time_to_ready is not None else "-", lab.checks)
        for lab in labs
    ]  # fmt: skip
    OUT.table("Fleet", ("lab", "network", "state", "time to ready", "checks"), rows)
    OUT.line(f"{sum(lab.ready for lab in labs)} of {len(labs)} labs ready.")


@app.command("check")
def check(
    file: SpecArg = None,
    prefix: PrefixOption = None,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1)] = 4,
    output: FormatOption = Format.TEXT,
) -> None:
    """Run the smoke checks on every lab of the fleet."""
    from labctl.workshop import fleetrun  # noqa: PLC0415

    specs = fleetrun.member_specs(_directory(file, prefix))
    runs = [fleetrun.LabRun(spec.stem, spec) for spec in specs]
    fleetrun.FleetRunner(runs, max_parallel, on_change=_progress).run(["check"], json_events=False)
    _finish(runs, output)


@app.command("lessons")
def lessons(
    file: SpecArg = None, prefix: PrefixOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Every lab x lesson: steps done of all, hints used (h), from each lab's lessons.json."""
    from labctl.lessons.fleet import fleet_lessons  # noqa: PLC0415
    from labctl.lessons.loader import all_lessons  # noqa: PLC0415
    from labctl.workshop.fleetrun import member_specs  # noqa: PLC0415

    labs = fleet_lessons(member_specs(_directory(file, prefix)))
    if output is Format.JSON:
        OUT.json([lab.to_dict() for lab in labs])
        return
    names = [lesson.name for lesson in all_lessons()]
    rows = [
        (lab.lab, lab.problem, *[""] * (len(names) - 1)) if lab.problem
        else (lab.lab, *(lab.cells[n].text() if n in lab.cells else "-" for n in names))
        for lab in labs
    ]  # fmt: skip
    OUT.table("Fleet lessons (steps done/all, h = hints used)", ("lab", *names), rows)


@app.command("destroy")
def destroy(
    file: SpecArg = None,
    prefix: PrefixOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask; needed without a TTY.")
    ] = False,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1)] = 4,
) -> None:
    """Destroy every lab of the fleet."""
    from labctl.workshop import fleetrun  # noqa: PLC0415

    directory = _directory(file, prefix)
    specs = fleetrun.member_specs(directory)
    confirm_or_refuse(f"Destroy all {len(specs)} labs of {directory.name}?", yes)
    runs = [fleetrun.LabRun(spec.stem, spec) for spec in specs]
    fleetrun.FleetRunner(runs, max_parallel, on_change=_progress).run(
        ["destroy", "--yes"], json_events=False
    )
    _finish(runs, Format.TEXT)


access_app = typer.Typer(
    help="Attendees on their own laptops: the gateway into each lab.", no_args_is_help=True
)
app.add_typer(access_app, name="access")


@access_app.command("check")
def access_check(
    file: SpecArg = None, prefix: PrefixOption = None, output: FormatOption = Format.TEXT
) -> None:
    """Through the gateway with each lab's attendee key: its machines and API reached, every
    other lab's addresses, other ports and a shell on the gateway refused."""
    from labctl.workshop.access_check import check_fleet  # noqa: PLC0415
    from labctl.workshop.fleetrun import member_specs  # noqa: PLC0415

    results = check_fleet(member_specs(_directory(file, prefix)))
    if output is Format.JSON:
        OUT.json([r.to_dict() for r in results])
    else:
        rows = [(r.lab, r.what, "ok" if r.ok else "FAILED", r.detail) for r in results]
        OUT.table("Attendee access through the gateway", ("lab", "what", "result", "detail"), rows)
    failed = [r for r in results if not r.ok]
    OUT.line(f"{len(results) - len(failed)} of {len(results)} access checks passed.")
    if failed:
        from labctl.errors import ExitCode  # noqa: PLC0415

        raise typer.Exit(int(ExitCode.CHECKS_FAILED))


@app.command("handout")
def handout(
    file: SpecArg = None,
    prefix: PrefixOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the pages.")] = None,
) -> None:
    """A handout page per lab and a facilitator index listing them all."""
    import dataclasses  # noqa: PLC0415

    from labctl.lab.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.lessons.fleet import summary as lesson_summary  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415
    from labctl.spec.loader import load_lab  # noqa: PLC0415
    from labctl.workshop import handout as pages  # noqa: PLC0415
    from labctl.workshop.fleetrun import member_specs  # noqa: PLC0415

    directory = _directory(file, prefix)
    target = out or directory / "handouts"
    entries = []
    for spec in member_specs(directory):
        plan = plan_lab(load_lab(spec).lab)
        lab_dir = lab_dir_for(spec, plan.name)
        facts = pages.gather_facts(plan, lab_dir, workdir=str(directory), spec_arg=spec.name)
        pages.write_handout(pages.render_handout(plan, facts), target)
        summary, _, _ = pages.read_checks(lab_dir)
        entry = pages.IndexEntry.from_plan(plan, summary)
        entries.append(dataclasses.replace(entry, lessons=lesson_summary(facts.lessons)))
    index = pages.write_index(
        entries, target, title=f"Fleet {directory.name.removeprefix('fleet-')}"
    )
    OUT.line(f"Wrote {len(entries)} handouts and the index: {index}")
