"""`labctl status`: the lab's machines, their states and addresses, and each phase's result."""

from __future__ import annotations

from labctl.cli.common import Format, FormatOption, SpecArg, resolve
from labctl.cli.output import OUT


def status(file: SpecArg = None, output: FormatOption = Format.TEXT) -> None:
    """Show machines, addresses and phase results.

    Machines as Vagrant sees them, their planned addresses, and the phases `up` has done.
    """
    from labctl.lab.machines import machine_states  # noqa: PLC0415
    from labctl.lab.state import first_pending, load_state, spec_hash  # noqa: PLC0415

    resolved = resolve(file)
    plan, lab_dir = resolved.plan, resolved.lab_dir
    state = load_state(lab_dir, plan.name)
    current = spec_hash(plan.lab)
    # The user's own machines are not labctl's to start or stop: what it knows is whether it
    # has reached them (`up` saved how, in ssh.json).
    states = (
        machine_states(plan, lab_dir)
        if plan.provider.boots_machines
        else dict.fromkeys(
            (m.name for m in plan.machines),
            "reached" if (lab_dir / "ssh.json").exists() else "not reached yet",
        )
    )
    machines = [
        {
            "name": m.name,
            "role": m.role.value,
            "ip": m.ip,
            "state": states.get(m.name, "not rendered"),
        }
        for m in plan.machines
    ]
    phases = [
        {
            "name": p.name,
            "status": state.phases[p.name].status if p.name in state.phases else "pending",
            "elapsed": round(state.phases[p.name].elapsed, 3) if p.name in state.phases else None,
            "current_spec": state.done(p.name, current) or p.name not in state.phases,
            "error": state.phases[p.name].error if p.name in state.phases else None,
        }
        for p in plan.phases
    ]
    pending = first_pending(plan, state, current)
    if output is Format.JSON:
        OUT.json({"lab": plan.name, "lab_dir": str(lab_dir), "machines": machines,
                  "phases": phases, "next_phase": pending,
                  "interrupted": state.interrupted})  # fmt: skip
        return
    OUT.table(f"Lab {plan.name} ({plan.lab.provider})", ("machine", "role", "ip", "state"),
              [(m["name"], m["role"], m["ip"], m["state"]) for m in machines])  # fmt: skip
    rows = []
    for p in phases:
        elapsed = f"{p['elapsed']:.1f}s" if p["elapsed"] is not None else ""
        note = p["error"] or ("" if p["current_spec"] else "spec changed since")
        rows.append((str(p["name"]), str(p["status"]), elapsed, str(note or "")))
    OUT.table("Phases", ("phase", "status", "time", "note"), rows)
    OUT.line("Complete." if pending is None else f"Next: `labctl up` resumes at {pending}.")
