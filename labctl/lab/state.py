"""`.labctl/<lab>/state.json`: what `up` has done, saved after every phase so a re-run resumes.

A phase counts as done only for the spec it ran with: the spec hash covers the validated model
(comments and key order do not count), so editing lab.yaml re-runs from `render` on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.plan import Plan
    from labctl.spec.model import Lab

PhaseStatus = Literal["done", "failed", "interrupted", "skipped"]
STATE_VERSION = 1


def spec_hash(lab: Lab) -> str:
    """A digest of the validated spec: the same lab, however it is written, hashes the same."""
    canonical = json.dumps(lab.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PhaseRecord:
    """One phase's last run."""

    status: PhaseStatus
    started: float
    elapsed: float
    spec_hash: str
    error: str | None = None
    artifacts: str | None = None


@dataclass(frozen=True)
class LabState:
    """The lab's progress and the machines Vagrant created, as last saved."""

    lab: str
    spec_hash: str = ""
    phases: dict[str, PhaseRecord] = field(default_factory=dict)
    machines: dict[str, str] = field(default_factory=dict)  # name -> provider id
    interrupted: bool = False
    version: int = STATE_VERSION

    def done(self, phase: str, current_hash: str) -> bool:
        """Whether `phase` finished for this very spec."""
        record = self.phases.get(phase)
        return record is not None and record.status == "done" and record.spec_hash == current_hash

    def with_phase(self, name: str, record: PhaseRecord) -> LabState:
        return replace(self, phases={**self.phases, name: record})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        raw: dict[str, Any] = json.loads(text)
        phases = {name: PhaseRecord(**record) for name, record in raw.get("phases", {}).items()}
        return cls(
            lab=raw["lab"],
            spec_hash=raw.get("spec_hash", ""),
            phases=phases,
            machines=dict(raw.get("machines", {})),
            interrupted=bool(raw.get("interrupted", False)),
            version=int(raw.get("version", STATE_VERSION)),
        )


def first_pending(plan: Plan, state: LabState, current_hash: str) -> str | None:
    """The first phase of the plan not done for this spec; None when the lab is complete."""
    return next((p.name for p in plan.phases if not state.done(p.name, current_hash)), None)


def load_state(lab_dir: Path, lab: str) -> LabState:
    """The saved state, or a fresh one; a corrupt file is an error, never silently reset."""
    from labctl.errors import StateError  # noqa: PLC0415 - avoids an import cycle at load
    from labctl.lab.readback import read_json  # noqa: PLC0415

    path = lab_dir / "state.json"
    state = read_json(
        path,
        LabState.from_json,
        lambda reason: StateError(
            f"{path} is damaged ({reason})",
            f"move it aside (mv {path} {path}.bad) and run the command again",
        ),
    )
    return state if state is not None else LabState(lab=lab)


def save_state(lab_dir: Path, state: LabState) -> None:
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    write_atomic(lab_dir / "state.json", state.to_json())
