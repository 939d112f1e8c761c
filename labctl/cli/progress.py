"""How `up` shows its progress: a live view on a terminal, plain lines in logs, JSON for CI.

All three take the same calls from the workflow (labctl.lab.workflow.Progress). Only task names and
Vagrant's status lines pass through here, never command output, so no secret can.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.live import Live

    from labctl.plan import Phase

SYMBOLS = {"done": "✓", "failed": "✗", "interrupted": "!", "skipped": "·", "running": "…"}


@dataclass
class PlainProgress:
    """One line per phase start and end, and one per step: readable in a CI log."""

    quiet: bool = False
    timings: dict[str, tuple[str, float]] = field(default_factory=dict)

    def _write(self, text: str) -> None:
        if not self.quiet:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        self._write(f"[{number}/{total}] {phase.name}: {phase.summary}")

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.timings[phase.name] = (status, elapsed)
        detail = f" ({error})" if error else ""
        if status == "skipped":
            self._write(f"      {phase.name}: already done for this spec, skipped")
        else:
            self._write(f"      {phase.name}: {status} in {elapsed:.1f}s{detail}")

    def step(self, phase: Phase, text: str) -> None:
        if text.strip():
            self._write(f"      {phase.name}: {text.strip()}")


@dataclass
class JsonProgress:
    """One JSON object per line on stdout: {"event", "phase", "status", "elapsed", ...}."""

    started: float = field(default_factory=time.monotonic)
    timings: dict[str, tuple[str, float]] = field(default_factory=dict)

    def emit(self, event: dict[str, Any]) -> None:
        event = {"time": round(time.monotonic() - self.started, 3), **event}
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
        sys.stdout.flush()

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        self.emit({"event": "phase", "phase": phase.name, "status": "started",
                   "number": number, "total": total})  # fmt: skip

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.timings[phase.name] = (status, elapsed)
        failed = status in {"failed", "interrupted"}
        self.emit({"event": "phase", "phase": phase.name, "status": status,
                   "elapsed": round(elapsed, 3), "error": error if failed else None,
                   "note": None if failed else error})  # fmt: skip

    def step(self, phase: Phase, text: str) -> None:
        self.emit({"event": "step", "phase": phase.name, "text": text.strip()})


@dataclass
class LiveProgress:
    """A rich live table of phases with timings and the step under way."""

    live: Live | None = None
    rows: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    current: str = ""
    phase_clock: float = 0.0
    timings: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __enter__(self) -> LiveProgress:
        from rich.live import Live  # noqa: PLC0415 - only on a terminal

        self.live = Live(self._table(), refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.update(self._table(final=True))
            self.live.__exit__(None, None, None)

    def _table(self, *, final: bool = False) -> Any:
        from rich.table import Table  # noqa: PLC0415

        table = Table(box=None, show_header=False, padding=(0, 1))
        for name in self.order:
            symbol, status, elapsed, detail = self.rows[name]
            if status == "running":
                elapsed = f"{time.monotonic() - self.phase_clock:.0f}s"
                detail = "" if final else self.current
            style = {"failed": "red", "interrupted": "yellow", "done": "green"}.get(status, "")
            table.add_row(f"[{style}]{symbol}[/]" if style else symbol, name, elapsed,
                          f"[dim]{detail}[/dim]")  # fmt: skip
        return table

    def _refresh(self) -> None:
        if self.live:
            self.live.update(self._table())

    def phase_started(self, phase: Phase, number: int, total: int) -> None:
        del number, total
        if phase.name not in self.rows:
            self.order.append(phase.name)
        self.rows[phase.name] = [SYMBOLS["running"], "running", "", ""]
        self.current, self.phase_clock = phase.summary, time.monotonic()
        self._refresh()

    def phase_finished(
        self, phase: Phase, status: str, elapsed: float, error: str | None = None
    ) -> None:
        self.timings[phase.name] = (status, elapsed)
        if phase.name not in self.rows:
            self.order.append(phase.name)
        shown = "already done" if status == "skipped" else (error or "")
        clock = "" if status == "skipped" else f"{elapsed:.1f}s"
        self.rows[phase.name] = [SYMBOLS.get(status, "?"), status, clock, shown[:70]]
        self._refresh()

    def step(self, phase: Phase, text: str) -> None:
        del phase
        self.current = text.strip()[:70]
        self._refresh()
