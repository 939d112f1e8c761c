"""`labctl snapshot save|restore|list|delete NAME`: all of a lab's machines, together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, refuse_own_machines, resolve
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.cli.common import Resolved

app = typer.Typer(
    help="Save and restore every machine of a lab together (reset a broken lab in seconds).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="Snapshot name: lowercase letters, digits and '-', e.g. baseline.")
]


def _step(text: str) -> None:
    if text.startswith("warning: "):
        OUT.warn(text.removeprefix("warning: "))
    elif OUT.verbosity:
        OUT.line(f"  {text}")


def restore_lab(resolved: Resolved, name: str) -> float:
    """Restore snapshot `name`, saying what happens; returns seconds. The caller holds the lock."""
    from labctl.lab.snapshot import restore_snapshot  # noqa: PLC0415 - lazy: keeps --help fast

    plan = resolved.plan
    OUT.line(f"Restoring snapshot {name} of lab {plan.name} ({plan.lab.provider})...")
    restored = restore_snapshot(plan, resolved.lab_dir, name, on_step=_step)
    count = len(restored.record.machines)
    OUT.line(f"Restored snapshot {name}: {count} machines in {restored.seconds:.1f}s; "
             "every machine answers over SSH.")  # fmt: skip
    return restored.seconds


@app.command("save")
def save(
    name: NameArg,
    file: SpecArg = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace a snapshot of the same name.")
    ] = False,
) -> None:
    """Snapshot every machine of the lab as NAME.

    lxc machines are stopped for the copy and started again.
    """
    from labctl.lab.lock import lab_lock  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.snapshot import save_snapshot, validate_name  # noqa: PLC0415

    validate_name(name)
    resolved = resolve(file)
    refuse_own_machines(resolved, "snapshot", "since snapshots need a hypervisor")
    plan = resolved.plan
    OUT.line(f"Saving snapshot {name} of lab {plan.name} ({plan.lab.provider})...")
    with lab_lock(resolved.lab_dir, "snapshot save"):
        record = save_snapshot(plan, resolved.lab_dir, name, replace_existing=force, on_step=_step)
    OUT.line(f"Saved snapshot {name}: {len(record.machines)} machines in {record.seconds:.1f}s.")
    OUT.line(f"`labctl snapshot restore {name}` goes back to it.")


@app.command("restore")
def restore(name: NameArg, file: SpecArg = None) -> None:
    """Put every machine of the lab back to snapshot NAME.

    Running machines are stopped, restored and started; returns when SSH answers.
    """
    from labctl.lab.lock import lab_lock  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.snapshot import validate_name  # noqa: PLC0415

    validate_name(name)
    resolved = resolve(file)
    refuse_own_machines(resolved, "snapshot", "since snapshots need a hypervisor")
    with lab_lock(resolved.lab_dir, "snapshot restore"):
        restore_lab(resolved, name)


@app.command("list")
def list_(file: SpecArg = None, output: FormatOption = Format.TEXT) -> None:
    """List the lab's snapshots, oldest first."""
    import time  # noqa: PLC0415

    from labctl.lab.snapshot import list_snapshots  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.state import spec_hash  # noqa: PLC0415

    resolved = resolve(file)
    refuse_own_machines(resolved, "snapshot", "since snapshots need a hypervisor")
    records = list_snapshots(resolved.plan, resolved.lab_dir)
    if output is Format.JSON:
        OUT.json([{k: v for k, v in r.to_dict().items() if k != "state"} for r in records])
        return
    if not records:
        OUT.line(
            f"Lab {resolved.plan.name} has no snapshots. `labctl snapshot save NAME` takes one."
        )
        return
    current = spec_hash(resolved.plan.lab)
    rows = [
        (
            r.name,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created)),
            str(len(r.machines)),
            r.provider,
            r.spec_hash + ("" if r.spec_hash == current else " (other spec)"),
            f"{r.seconds:.1f}s",
        )
        for r in records
    ]
    OUT.table(f"Snapshots of lab {resolved.plan.name}",
              ("name", "taken", "machines", "provider", "spec", "save took"), rows)  # fmt: skip


@app.command("delete")
def delete(name: NameArg, file: SpecArg = None) -> None:
    """Delete snapshot NAME from every machine of the lab."""
    from labctl.lab.lock import lab_lock  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.lab.snapshot import delete_snapshot, validate_name  # noqa: PLC0415

    validate_name(name)
    resolved = resolve(file)
    refuse_own_machines(resolved, "snapshot", "since snapshots need a hypervisor")
    with lab_lock(resolved.lab_dir, "snapshot delete"):
        record = delete_snapshot(resolved.plan, resolved.lab_dir, name, on_step=_step)
    OUT.line(f"Deleted snapshot {name} of lab {resolved.plan.name} "
             f"({len(record.machines)} machines).")  # fmt: skip
