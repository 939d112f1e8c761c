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
    unknown = sorted(set(skip) - set(FINDING_IDS))
    if unknown:
        raise UsageError(
            f"--skip-preflight: no check named {', '.join(repr(u) for u in unknown)}",
            f"the checks are: {', '.join(FINDING_IDS)}",
        )
    findings = judge(plan, facts)
    failed = {f.id: _line(f) for f in findings if f.status == "fail" and f.id not in skip}
    if failed:
        example = next(iter(failed))
        hint = (
            "fix what each line says, or skip a check you accept with "
            f"`--skip-preflight ID` (e.g. `--skip-preflight {example}`)"
        )
        if set(failed) - HOST_WIDE - VAGRANT_IDS:  # the provider itself cannot run here as it is
            others = _alternatives(plan)
            if others:
                hint += "; or use a provider that can work on this host: " + "; ".join(others)
        raise PreflightFailedError(failed, hint)
    return findings


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
