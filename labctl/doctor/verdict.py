"""What `labctl up` runs first: judge the host, and stop with every failing check (and, when the
provider itself cannot run here, the providers that can) unless the user skips it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.doctor.gather import gather_facts
from labctl.doctor.judges import FINDING_IDS, judge
from labctl.doctor.survey import HOST_WIDE
from labctl.errors import PreflightFailedError, UsageError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from labctl.doctor.facts import HostFacts
    from labctl.doctor.findings import Finding
    from labctl.plan import Plan

# Vagrant itself is missing or too old: no other provider helps with that.
VAGRANT_IDS = frozenset({"vagrant", "vagrant-version", "box", "arch"})


def preflight(plan: Plan, facts: HostFacts, skip: Collection[str] = ()) -> list[Finding]:
    """Judge the host for `up`: return every finding, or raise if any not skipped failed.

    Raises UsageError for a skip id that names no check (a typo must not silently skip
    nothing), and PreflightFailedError listing every failing finding not in `skip`.
    """
    check_skip_ids(skip, FINDING_IDS)
    return settle(plan, judge(plan, facts), skip)


def check_skip_ids(skip: Collection[str], known: Collection[str]) -> None:
    """A `--skip-preflight` id that names no check is a typo, not a skip."""
    unknown = sorted(set(skip) - set(known))
    if unknown:
        raise UsageError(
            f"--skip-preflight: no check named {', '.join(repr(u) for u in unknown)}",
            f"the checks are: {', '.join(known)}",
        )


def settle(plan: Plan, findings: list[Finding], skip: Collection[str] = ()) -> list[Finding]:
    """The findings, or PreflightFailedError listing every failing one not in `skip`."""
    failed: dict[str, str] = {}
    for finding in findings:
        if finding.status == "fail" and finding.id not in skip:
            # One line per id; the same check failing on several machines shares it.
            seen = failed.get(finding.id)
            failed[finding.id] = f"{seen}; {_line(finding)}" if seen else _line(finding)
    if not failed:
        return findings
    example = next(iter(failed))
    hint = (
        "fix what each line says, or skip a check you accept with "
        f"`--skip-preflight ID` (e.g. `--skip-preflight {example}`)"
    )
    if plan.provider.boots_machines and set(failed) - HOST_WIDE - VAGRANT_IDS:
        # The provider itself cannot run here as it is: name the ones that can.
        others = _alternatives(plan)
        if others:
            hint += "; or use a provider that can work on this host: " + "; ".join(others)
    raise PreflightFailedError(failed, hint)


def _alternatives(plan: Plan) -> list[str]:
    """Other providers that can work here (probing for all of them: only on this failure)."""
    from labctl import registry  # noqa: PLC0415
    from labctl.doctor.survey import alternatives  # noqa: PLC0415

    everyone = [registry.get(name) for name in registry.names()]
    return alternatives(plan.lab, gather_facts(plan, also=everyone))


def _line(finding: Finding) -> str:
    return f"{finding.message} (fix: {finding.fix})" if finding.fix else finding.message


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """The findings with status fail, in order."""
    return [f for f in findings if f.status == "fail"]
