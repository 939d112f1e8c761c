"""Putting a lab to work: the Runtime the phases need, walking them under the lab's lock, and
where things are afterwards. The CLI chooses how progress is shown and prints; this runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.lab.workflow import Progress, Runtime
    from labctl.plan import Phase, Plan


def make_runtime(
    plan: Plan,
    lab_dir: Path,
    progress: Progress,
    *,
    verbosity: int = 0,
    offline: Path | None = None,
    skip_preflight: frozenset[str] = frozenset(),
) -> Runtime:
    """What the phases need (an --offline directory must have been verified by then)."""
    from labctl.lab.workflow import Runtime  # noqa: PLC0415

    return Runtime(
        plan,
        lab_dir,
        progress,
        verbosity=verbosity,
        skip_preflight=skip_preflight,
        offline_dir=offline.resolve() if offline else None,
    )


def run_lab(
    runtime: Runtime, command: str, *, start: str | None = None, until: str | None = None
) -> None:
    """Walk the lab's phases (the --from/--until slice) holding its lock for `command`."""
    from labctl.lab.lock import lab_lock  # noqa: PLC0415
    from labctl.lab.workflow import walk  # noqa: PLC0415

    with lab_lock(runtime.lab_dir, command):
        walk(runtime, start=start, until=until)


def checks_runtime(plan: Plan, lab_dir: Path, progress: Progress) -> tuple[Runtime, Phase]:
    """A runtime for running the smoke checks alone, and the plan's checks phase."""
    from labctl.lab.workflow import Runtime  # noqa: PLC0415

    phase = next(p for p in plan.phases if p.name == "checks")
    return Runtime(plan, lab_dir, progress), phase


@dataclass(frozen=True)
class Summary:
    """Where things are after `up`: machines, kubeconfig, credentials (paths, never values)."""

    lab: str
    machines: list[dict[str, str]]
    kubeconfig: str | None
    context: str
    credentials: dict[str, str]


def summary_data(plan: Plan, lab_dir: Path) -> Summary:
    kubeconfig = lab_dir / "kubeconfig"
    secrets = sorted(p.name for p in (lab_dir / "secrets").glob("*")) if lab_dir.exists() else []
    return Summary(
        lab=plan.name,
        machines=[{"name": m.name, "role": m.role.value, "ip": m.ip} for m in plan.machines],
        kubeconfig=str(kubeconfig) if kubeconfig.exists() else None,
        context=plan.context,
        credentials={name: str(lab_dir / "secrets" / name) for name in secrets},
    )
