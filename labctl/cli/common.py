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
    from collections.abc import Callable, Sequence

    from labctl.checks import CheckResult
    from labctl.lab.workflow import Progress, Runtime
    from labctl.plan import Phase, Plan
    from labctl.spec.loader import LoadedLab

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
    from labctl import registry  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.doctor.host import free_memory_mib  # noqa: PLC0415
    from labctl.spec.advisories import advisories  # noqa: PLC0415
    from labctl.spec.loader import default_lab, load_lab  # noqa: PLC0415

    if file is None and not DEFAULT_SPEC.exists():
        OUT.note("no lab.yaml here: using the built-in default lab (1 server, 2 agents)")
        loaded = default_lab()
    else:
        loaded = load_lab(file or DEFAULT_SPEC)
    loaded = resolve_provider(loaded)
    if warn:
        provider = registry.get(loaded.lab.provider)
        # Machines on another host do not take this host's memory.
        free = None if provider.machines_remote(loaded.lab) else free_memory_mib()
        for warning in advisories(loaded, free, provider.spec_warnings(loaded.lab)):
            OUT.warn(str(warning))
    return loaded


def resolve_provider(loaded: LoadedLab) -> LoadedLab:
    """`provider: auto` becomes the provider this lab was first set up with (pinned in its lab
    directory), else the one doctor finds ready here; a note says which and why."""
    import dataclasses  # noqa: PLC0415

    from labctl.spec.model import AUTO_PROVIDER  # noqa: PLC0415

    if loaded.lab.provider != AUTO_PROVIDER:
        return loaded  # before the imports below: doctor and the renderer cost ~0.1 s
    from labctl import registry  # noqa: PLC0415
    from labctl.doctor.survey import resolve_auto  # noqa: PLC0415
    from labctl.lab.labdir import AUTO_PIN, lab_dir_for, read_auto_pin  # noqa: PLC0415

    lab_dir = lab_dir_for(loaded.path, loaded.lab.name)
    pinned = read_auto_pin(lab_dir)
    if pinned in registry.names():
        OUT.note(
            f"provider auto: {pinned}, as this lab was set up ({relative(lab_dir / AUTO_PIN)})"
        )
        lab = loaded.lab.model_copy(update={"provider": pinned})
    else:
        lab, choice = resolve_auto(loaded.lab)
        if choice is not None:
            OUT.note(choice.reason)
    return dataclasses.replace(loaded, lab=lab, auto_provider=True)


def pin_auto_provider(resolved: Resolved) -> None:
    """Keep the provider auto chose once the lab gets files (render, up): see resolve_provider."""
    from labctl.lab.labdir import write_auto_pin  # noqa: PLC0415

    if resolved.loaded.auto_provider:
        write_auto_pin(resolved.lab_dir, resolved.plan.provider.name)


def resolve(file: Path | None) -> Resolved:
    """Spec -> plan -> lab directory, the common start of render, up and friends."""
    from labctl.lab.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.registry import plan_lab  # noqa: PLC0415

    loaded = load_spec(file)
    plan = plan_lab(loaded.lab)
    return Resolved(loaded, plan, lab_dir_for(loaded.path, plan.name))


def render_lab(resolved: Resolved) -> list[tuple[Path, bool]]:
    """Render the plan into the lab directory; returns each file and whether it changed."""
    from labctl.lab.labdir import render_into  # noqa: PLC0415

    pin_auto_provider(resolved)
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


def _boot_settled(resolved: Resolved) -> bool:
    """Whether preflight and boot are done for this spec and every machine runs, as the provider
    tells without Vagrant: then no phase that needs the box will run (unless --from says so)."""
    from labctl.lab.state import load_state, spec_hash  # noqa: PLC0415

    plan, lab_dir = resolved.plan, resolved.lab_dir
    state, current = load_state(lab_dir, plan.name), spec_hash(plan.lab)
    if not (state.done("preflight", current) and state.done("boot", current)):
        return False
    states = plan.provider.machine_states(lab_dir, [m.name for m in plan.machines])
    return states is not None and all(states.get(m.name) == "running" for m in plan.machines)


def lab_runtime(
    resolved: Resolved,
    progress: Progress,
    offline: Path | None = None,
    skip_preflight: list[str] | None = None,
    *,
    forced: bool = True,
) -> Runtime:
    """The lab's Runtime with the global verbosity; --offline is checked before anything boots.
    `forced`: phases may run although done (`--from`), so the box is checked in any case."""
    from labctl.lab.runtime import make_runtime  # noqa: PLC0415

    pin_auto_provider(resolved)

    if offline is not None:
        from labctl.workshop.bundle import (  # noqa: PLC0415
            add_box_from_bundle,
            require_offline_ready,
        )

        spec = str(resolved.loaded.path) if resolved.loaded.path else None
        require_offline_ready(resolved.plan, offline, spec=spec)
        # Without this, boot would dial the Vagrant registry for a box the store lacks. Asking
        # the store is a `vagrant box list` (~1.2 s): not when nothing will boot.
        if resolved.plan.provider.boots_machines and (forced or not _boot_settled(resolved)):
            add_box_from_bundle(resolved.plan, offline, on_line=OUT.note, spec=spec)
    return make_runtime(
        resolved.plan,
        resolved.lab_dir,
        progress,
        verbosity=OUT.verbosity,
        offline=offline,
        skip_preflight=frozenset(skip_preflight or ()),
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
    accept_new_host_keys: bool = False,
) -> None:
    """Walk the lab's phases under its lock with the right progress view, then summarise."""
    import time  # noqa: PLC0415

    from labctl.cli.progress import JsonProgress, LiveProgress, PlainProgress  # noqa: PLC0415
    from labctl.errors import LabctlError  # noqa: PLC0415
    from labctl.lab.runtime import run_lab, summary_data  # noqa: PLC0415

    progress: JsonProgress | LiveProgress | PlainProgress
    if output is Format.JSON:
        progress = JsonProgress()
    elif OUT.tty and not OUT.quiet:
        progress = LiveProgress()
    else:
        progress = PlainProgress(quiet=OUT.quiet)
    runtime = lab_runtime(resolved, progress, offline, skip_preflight, forced=start is not None)
    runtime.trust_new_key = host_key_trust(progress, accept=accept_new_host_keys)
    started = time.monotonic()
    try:
        if isinstance(progress, LiveProgress):
            with progress:
                run_lab(runtime, command, start=start, until=until)
        else:
            run_lab(runtime, command, start=start, until=until)
    except LabctlError as exc:
        if isinstance(progress, JsonProgress):
            progress.emit({"event": "result", "status": "failed", "exit_code": int(exc.exit_code),
                           "error": exc.message,
                           "details": [x for x in exc.lines() if x != exc.message]})  # fmt: skip
        raise
    elapsed = time.monotonic() - started
    if isinstance(progress, JsonProgress):
        from dataclasses import asdict  # noqa: PLC0415

        where = asdict(summary_data(resolved.plan, resolved.lab_dir))
        progress.emit({"event": "result", "status": "ok", "exit_code": 0,
                       "elapsed": round(elapsed, 3), **where})  # fmt: skip
    else:
        print_summary(resolved, progress.timings, elapsed, until=until)


def host_key_trust(progress: object, *, accept: bool) -> Callable[[str, str, str], bool]:
    """Whether to trust a host key a user's own machine offers the lab for the first time:
    shown and asked on a terminal, accepted (and shown) with --accept-new-host-keys, refused
    otherwise (CI must say it on purpose, as with `ssh -o StrictHostKeyChecking`)."""
    import sys  # noqa: PLC0415

    def trust(name: str, address: str, key: str) -> bool:
        line = f"{name} ({address}) offers the host key {key}"
        if accept:
            OUT.note(f"{line}: trusted (--accept-new-host-keys)")
            return True
        if not (sys.stdin.isatty() and OUT.tty):
            return False
        live = getattr(progress, "live", None)
        if live is not None:
            live.stop()  # the question needs the terminal to itself
        try:
            return typer.confirm(f"{line}. Trust it for this lab?", default=False)
        finally:
            if live is not None:
                live.start()

    return trust


def print_summary(
    resolved: Resolved,
    timings: dict[str, tuple[str, float]],
    elapsed: float,
    *,
    until: str | None = None,
) -> None:
    from labctl.lab.runtime import summary_data  # noqa: PLC0415

    summary = summary_data(resolved.plan, resolved.lab_dir)
    plan = resolved.plan
    OUT.line("")
    if until is not None and until != plan.phases[-1].name:
        # --until stopped early: the lab is not up, and saying so would send the learner to a
        # kubeconfig that does not work yet.
        OUT.line(
            f"Lab {plan.name} stopped after {until} as asked (--until), in {elapsed:.0f}s; "
            f"`labctl up` goes on from there."
        )
    else:
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


def refuse_own_machines(resolved: Resolved, action: str, why: str) -> None:
    """halt/snapshot/reset need a hypervisor; the machines of a `provider: ssh` lab are the
    user's own, so these are refused with the reason and what to do instead."""
    from labctl.errors import UsageError  # noqa: PLC0415

    if not resolved.plan.provider.boots_machines:
        raise UsageError(
            f"lab {resolved.plan.name} runs on your own machines (provider "
            f"{resolved.plan.lab.provider}): labctl cannot {action} them, {why}",
            "`labctl destroy` uninstalls what labctl installed and `labctl up` installs it "
            "again; stop or snapshot the machines with your own tools",
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
    from labctl.lab import runtime  # noqa: PLC0415

    quiet = output is Format.JSON or OUT.quiet or not OUT.verbosity
    return runtime.checks_runtime(resolved.plan, resolved.lab_dir, PlainProgress(quiet=quiet))
