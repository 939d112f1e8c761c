"""`labctl validate`: check a spec and say what lab it describes."""

from __future__ import annotations

from labctl.cli.common import Format, FormatOption, SpecArg, load_spec
from labctl.cli.output import OUT


def validate(
    file: SpecArg = None,
    output: FormatOption = Format.TEXT,
) -> None:
    """Validate a lab spec: one line per problem, exit code 2 if any."""
    from labctl.registry import plan_lab  # noqa: PLC0415 - lazy: keeps --help fast

    loaded = load_spec(file)
    plan = plan_lab(loaded.lab)
    if output is Format.JSON:
        OUT.json({"valid": True, "source": loaded.source, "plan": plan.to_dict()})
        return
    servers, agents = len(plan.servers), len(plan.agents)
    extra = " + GitLab" if plan.gitlab else ""
    # The user's own machines have the memory they have (preflight judges it), not the spec's.
    memory = f"{plan.total_memory_mib} MiB RAM, " if plan.provider.boots_machines else ""
    OUT.line(
        f"{loaded.source}: valid. Lab {plan.name!r}: {servers} server(s), {agents} agent(s)"
        f"{extra}, {memory}{plan.datastore} datastore, "
        f"K3s {plan.lab.k3s.version} on {plan.lab.provider}."
    )
