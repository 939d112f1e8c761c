"""A libvirt fleet boots its first lab alone, then the rest (issue 17 item 5).

vagrant-libvirt's box-upload and bridge-name locks hold only inside one Vagrant process; no
libvirt can run here, so only the scheduling is shown: `RecordingRunner` replaces the labctl
subprocess each lab runs with a recorded sleep.
"""

from __future__ import annotations

import time
from pathlib import Path

from labctl.registry import get
from labctl.workshop.fleetrun import FleetRunner, LabRun


class RecordingRunner(FleetRunner):
    """FleetRunner whose per-lab command is a 50 ms sleep, with start and end times kept."""

    spans: dict[str, tuple[float, float]]

    def _one(self, lab: LabRun, command: list[str], json_events: bool) -> None:
        del command, json_events
        start = time.monotonic()
        time.sleep(0.05)
        self.spans[lab.name] = (start, time.monotonic())  # one key per thread: no lock needed


def _run(first_alone: bool) -> dict[str, tuple[float, float]]:
    runs = [LabRun(f"lab-{i}", Path(f"/f/lab-{i}.yaml")) for i in range(4)]
    runner = RecordingRunner(runs, concurrency=4, first_alone=first_alone)
    runner.spans = {}
    runner.run(["up"])
    return runner.spans


def test_first_lab_finishes_before_any_other_starts() -> None:
    spans = _run(first_alone=True)
    first_end = spans["lab-0"][1]
    assert all(spans[f"lab-{i}"][0] >= first_end for i in (1, 2, 3))
    starts = sorted(spans[f"lab-{i}"][0] for i in (1, 2, 3))
    assert starts[-1] < min(spans[f"lab-{i}"][1] for i in (1, 2, 3))  # the rest in parallel


def test_without_it_all_labs_start_together() -> None:
    spans = _run(first_alone=False)
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())


def test_libvirt_labs_do_not_boot_together_but_virtualbox_and_lxc_do() -> None:
    assert not get("libvirt").labs_boot_together
    assert get("virtualbox").labs_boot_together
    assert get("lxc").labs_boot_together
