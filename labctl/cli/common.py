"""What several commands share: finding the spec, loading it with its warnings, the lab dir."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.output import OUT
from labctl.messages import quoted

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labctl.checks import CheckResult
    from labctl.plan import Phase, Plan
    from labctl.specfile import LoadedLab
    from labctl.workflow import Progress, Runtime

DEFAULT_SPEC = Path("lab.yaml")


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    Format, typer.Option("--output", "-o", help="text for people, json for scripts and CI.")
]

SpecArg = Annotated[
    Path | None,
    typer.Argument(
        help="Lab spec file. Default: ./lab.yaml, or the built-in default lab if there is none.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Resolved:
    """A loaded spec, its plan, and the lab directory its files belong in."""

    loaded: LoadedLab
    plan: Plan
    lab_dir: Path


def load_spec(file: Path | None, *, warn: bool = True) -> LoadedLab:
    """Load FILE, ./lab.yaml, or the built-in default lab (saying so), printing warnings."""
    from labctl.advisories import advisories  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.host import free_memory_mib  # noqa: PLC0415
    from labctl.specfile import default_lab, load_lab  # noqa: PLC0415

    if file is None and not DEFAULT_SPEC.exists():
        OUT.line("No lab.yaml here: using the built-in default lab (1 server, 2 agents).")
        loaded = default_lab()
    else:
        loaded = load_lab(file or DEFAULT_SPEC)
    if warn:
        for warning in advisories(loaded, free_memory_mib()):
            OUT.warn(str(warning))
    return loaded


def resolve(file: Path | None) -> Resolved:
    """Spec -> plan -> lab directory, the common start of render, up and friends."""
    from labctl.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.plan import make_plan  # noqa: PLC0415

    loaded = load_spec(file)
    plan = make_plan(loaded.lab)
    return Resolved(loaded, plan, lab_dir_for(loaded.path, plan.name))


def render_lab(resolved: Resolved) -> list[tuple[Path, bool]]:
    """Render the plan into the lab directory; returns each file and whether it changed."""
    from labctl.labdir import render_into  # noqa: PLC0415

    return [(w.path, w.changed) for w in render_into(resolved.plan, resolved.lab_dir)]


def relative(path: Path) -> str:
    """A path as the user would type it from here."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


OfflineOption = Annotated[
    Path | None,
    typer.Option(
        "--offline",
        help="Install K3s (and addons) from this directory instead of downloading.",
        show_default=False,
        metavar="DIR",
    ),
]

SkipPreflightOption = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-preflight",
        help="Preflight finding id to accept anyway (repeatable); `labctl doctor` lists them.",
        metavar="ID",
        show_default=False,
    ),
]


def lab_runtime(
    resolved: Resolved,
    progress: Progress,
    offline: Path | None = None,
    skip_preflight: list[str] | None = None,
) -> Runtime:
    """What the phases need; an --offline directory is checked here, before anything boots."""
    from labctl.workflow import Runtime  # noqa: PLC0415

    if offline is not None:
        from labctl.bundle import require_offline_ready  # noqa: PLC0415

        spec = str(resolved.loaded.path) if resolved.loaded.path else None
        require_offline_ready(resolved.plan, offline, spec=spec)
    return Runtime(
        resolved.plan,
        resolved.lab_dir,
        progress,
        verbosity=OUT.verbosity,
        skip_preflight=frozenset(skip_preflight or ()),
        offline_dir=offline.resolve() if offline else None,
    )


def run_phases(
    resolved: Resolved,
    output: Format,
    *,
    command: str,
    start: str | None = None,
    until: str | None = None,
    skip_preflight: list[str] | None = None,
    offline: Path | None = None,
) -> None:
    """Walk the lab's phases under its lock with the right progress view, then summarise."""
    import time  # noqa: PLC0415

    from labctl.cli.progress import JsonProgress, LiveProgress, PlainProgress  # noqa: PLC0415
    from labctl.errors import LabctlError  # noqa: PLC0415
    from labctl.lock import lab_lock  # noqa: PLC0415
    from labctl.workflow import walk  # noqa: PLC0415

    progress: JsonProgress | LiveProgress | PlainProgress
    if output is Format.JSON:
        progress = JsonProgress()
    elif OUT.tty and not OUT.quiet:
        progress = LiveProgress()
    else:
        progress = PlainProgress(quiet=OUT.quiet)
    runtime = lab_runtime(resolved, progress, offline, skip_preflight)
    started = time.monotonic()
    try:
        with lab_lock(resolved.lab_dir, command):
            if isinstance(progress, LiveProgress):
                with progress:
                    walk(runtime, start=start, until=until)
            else:
                walk(runtime, start=start, until=until)
    except LabctlError as exc:
        if isinstance(progress, JsonProgress):
            progress.emit({"event": "result", "status": "failed", "exit_code": int(exc.exit_code),
                           "error": exc.message,
                           "details": [x for x in exc.lines() if x != exc.message]})  # fmt: skip
        raise
    elapsed = time.monotonic() - started
    if isinstance(progress, JsonProgress):
        from dataclasses import asdict  # noqa: PLC0415

        progress.emit({"event": "result", "status": "ok", "exit_code": 0,
                       "elapsed": round(elapsed, 3), **asdict(summary_data(resolved))})  # fmt: skip
    else:
        print_summary(resolved, progress.timings, elapsed)


@dataclass(frozen=True)
class Summary:
    """Where things are after `up`: machines, kubeconfig, credentials (paths, never values)."""

    lab: str
    machines: list[dict[str, str]]
    kubeconfig: str | None
    context: str
    credentials: dict[str, str]


def summary_data(resolved: Resolved) -> Summary:
    lab_dir = resolved.lab_dir
    kubeconfig = lab_dir / "kubeconfig"
    secrets = sorted(p.name for p in (lab_dir / "secrets").glob("*")) if lab_dir.exists() else []
    return Summary(
        lab=resolved.plan.name,
        machines=[
            {"name": m.name, "role": m.role.value, "ip": m.ip} for m in resolved.plan.machines
        ],
        kubeconfig=str(kubeconfig) if kubeconfig.exists() else None,
        context=resolved.plan.context,
        credentials={name: str(lab_dir / "secrets" / name) for name in secrets},
    )


def print_summary(
    resolved: Resolved, timings: dict[str, tuple[str, float]], elapsed: float
) -> None:
    summary = summary_data(resolved)
    plan = resolved.plan
    OUT.line("")
    OUT.line(f"Lab {plan.name} is up: {len(plan.machines)} machines in {elapsed:.0f}s.")
    for m in plan.machines:
        OUT.line(f"  {m.name:<24} {m.role.value:<7} {m.ip}")
    if summary.kubeconfig:
        OUT.line(
            f"Kubeconfig: {relative(resolved.lab_dir / 'kubeconfig')} (context {plan.context})"
        )
        OUT.line(f"  export KUBECONFIG={summary.kubeconfig}")
    ran = [f"{name} {secs:.1f}s" for name, (status, secs) in timings.items() if status == "done"]
    if ran:
        OUT.line("Phase timings: " + ", ".join(ran))
    if summary.credentials:
        names = ", ".join(sorted(summary.credentials))
        OUT.line(f"Credentials (mode 0600): {relative(resolved.lab_dir / 'secrets')}/ ({names})")


def lab_names(resolved: Resolved) -> list[str]:
    return [m.name for m in resolved.plan.machines]


def find_machine(resolved: Resolved, node: str) -> str:
    """A machine by full name (demo-server-1) or short name (server-1)."""
    from labctl.errors import UsageError  # noqa: PLC0415

    names = lab_names(resolved)
    for candidate in (node, f"{resolved.plan.name}-{node}"):
        if candidate in names:
            return candidate
    raise UsageError(
        f"lab {quoted(resolved.plan.name)} has no machine {quoted(node)}",
        f"its machines are: {', '.join(names)}",
    )


def confirm_or_refuse(question: str, yes: bool) -> None:
    """Ask on a terminal; refuse without one unless --yes (CI must say it on purpose)."""
    import sys  # noqa: PLC0415

    from labctl.errors import UsageError  # noqa: PLC0415

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation and there is no terminal to ask",
                         "pass --yes to confirm")  # fmt: skip
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def show_check_results(results: Sequence[CheckResult], lab: str, output: Format) -> int:
    """Check results as JSON, a table on a terminal, or plain lines; returns the exit code."""
    from labctl import checks  # noqa: PLC0415

    if output is Format.JSON:
        OUT.data(checks.render_json(results, lab))
    elif OUT.tty:
        OUT.data(checks.render_table(results))
    else:
        OUT.data(checks.render_plain(results))
    return int(checks.exit_code(results))


def checks_runtime(resolved: Resolved, output: Format) -> tuple[Runtime, Phase]:
    """A runtime whose progress stays quiet unless -v, and the plan's checks phase."""
    from labctl.cli.progress import PlainProgress  # noqa: PLC0415
    from labctl.workflow import Runtime  # noqa: PLC0415

    phase = next(p for p in resolved.plan.phases if p.name == "checks")
    quiet = output is Format.JSON or OUT.quiet or not OUT.verbosity
    return Runtime(resolved.plan, resolved.lab_dir, PlainProgress(quiet=quiet)), phase
