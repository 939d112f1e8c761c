"""`labctl doctor`: can this host run the lab? One line per finding, each with its fix."""

from __future__ import annotations

from labctl.cli.common import Format, FormatOption, SpecArg, resolve
from labctl.cli.output import OUT


def doctor(file: SpecArg = None, output: FormatOption = Format.TEXT) -> None:
    """Check this host can run the lab.

    Vagrant, the provider, CPU, memory, disk, network and box, each with a fix.
    """
    import dataclasses  # noqa: PLC0415 - lazy: keeps --help fast

    from labctl import doctor as checkup  # noqa: PLC0415
    from labctl.errors import PreflightError  # noqa: PLC0415

    resolved = resolve(file)
    if resolved.plan.provider.boots_machines:
        facts = checkup.gather_facts(resolved.plan)
        findings = checkup.judge(resolved.plan, facts)
        known_facts = facts.to_dict()
    else:  # the user's own machines: asked over SSH; a key not yet trusted is a finding
        from labctl.lab.workflow import machine_findings  # noqa: PLC0415

        known = resolved.lab_dir / "known_hosts"
        findings = machine_findings(resolved.plan, known, lambda *_: False)
        known_facts = {}
    failing = [f for f in findings if f.status == "fail"]
    if output is Format.JSON:
        OUT.json({"lab": resolved.plan.name, "ok": not failing, "facts": known_facts,
                  "findings": [dataclasses.asdict(f) for f in findings]})  # fmt: skip
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for finding in findings:
            OUT.line(f"{marks[finding.status]}  {finding.id:<19} {finding.message}")
            if finding.status != "ok" and finding.fix:
                OUT.line(f"      {'':<19} fix: {finding.fix}")
    if failing:
        raise PreflightError(
            f"{len(failing)} of {len(findings)} checks failed: " + ", ".join(f.id for f in failing),
            "fix them, or pass `--skip-preflight ID` to `labctl up` for one you accept",
        )
