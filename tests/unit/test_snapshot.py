"""The pure part of lab snapshots: names, records, the manifest, what a restore warns about, and
the save/restore/delete bookkeeping driven through a recording backend (no Vagrant, no LXC)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.errors import ExitCode, SnapshotError, SnapshotNotFoundError, UsageError
from labctl.lab.snapshot import (
    BASELINE,
    Manifest,
    SnapshotRecord,
    delete_snapshot,
    each,
    forget_snapshots,
    list_snapshots,
    load_manifest,
    parse_rootfs,
    restore_snapshot,
    restore_warnings,
    save_baseline,
    save_snapshot,
    snapshot_machines,
    store_dir,
    validate_name,
)
from labctl.lab.state import LabState, PhaseRecord, load_state, save_state, spec_hash
from labctl.lab.workflow import Runtime
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.vagrant import parse_snapshot_list

if TYPE_CHECKING:
    from labctl.plan import Plan


def plan_of(text: str = "name: demo\n") -> Plan:
    return plan_lab(parse_lab(text).lab)


class RecordingBackend:
    """Stands in for Vagrant/LXC: records each call, can be told to fail."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, tuple[str, ...], str]] = []
        self.fail = fail

    def _call(self, action: str, machines: tuple[str, ...], name: str) -> None:
        self.calls.append((action, machines, name))
        if action == self.fail:
            raise SnapshotError(f"{action} broke", "fix it")

    def save(self, machines: tuple[str, ...], name: str, on_step: object) -> None:
        self._call("save", machines, name)

    def restore(self, machines: tuple[str, ...], name: str, on_step: object) -> None:
        self._call("restore", machines, name)

    def delete(self, machines: tuple[str, ...], name: str, on_step: object) -> None:
        self._call("delete", machines, name)


@pytest.mark.parametrize("name", ["baseline", "a", "before-upgrade", "v2", "x" * 63, "0day"])
def test_dns_label_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Baseline", "-x", "x-", "a_b", "a.b", "a/b", "..", "x" * 64, "ä", "a b"]
)
def test_other_names_are_refused_with_a_hint(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_name(name)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert "lowercase letters, digits and '-'" in caught.value.hint


def test_a_snapshot_covers_every_machine_of_the_lab_in_plan_order() -> None:
    plan = plan_of("name: demo\nservers: {count: 3}\nagents: {count: 2}\n")
    assert snapshot_machines(plan) == (
        "demo-server-1", "demo-server-2", "demo-server-3", "demo-agent-1", "demo-agent-2",
    )  # fmt: skip


def record(name: str, created: float, **changes: object) -> SnapshotRecord:
    plan = plan_of()
    fields: dict[str, object] = {
        "name": name,
        "created": created,
        "machines": snapshot_machines(plan),
        "provider": plan.lab.provider,
        "spec_hash": spec_hash(plan.lab),
        **changes,
    }
    return SnapshotRecord(**fields)  # type: ignore[arg-type]


def test_manifest_round_trips_with_the_lab_state_inside() -> None:
    state = LabState("demo", "abc", {"boot": PhaseRecord("done", 1.0, 2.0, "abc")})
    manifest = Manifest("demo", (record("one", 10.0, state=state, seconds=3.25),))
    again = Manifest.from_json(manifest.to_json())
    assert again == Manifest("demo", (record("one", 10.0, state=state, seconds=3.2),))
    raw = json.loads(manifest.to_json())
    assert raw["version"] == 1
    assert set(raw["snapshots"][0]) == {
        "name", "created", "machines", "provider", "spec_hash", "seconds", "state",
    }  # fmt: skip


def test_a_new_record_replaces_one_of_the_same_name_and_order_is_by_time() -> None:
    manifest = Manifest("demo").with_record(record("b", 20.0)).with_record(record("a", 10.0))
    assert [s.name for s in manifest.snapshots] == ["a", "b"]
    manifest = manifest.with_record(record("a", 30.0))
    assert [(s.name, s.created) for s in manifest.snapshots] == [("b", 20.0), ("a", 30.0)]
    assert [s.name for s in manifest.without("b").snapshots] == ["a"]


def test_an_unknown_snapshot_names_the_ones_there_are() -> None:
    manifest = Manifest("demo", (record("one", 1.0), record("two", 2.0)))
    with pytest.raises(SnapshotNotFoundError) as caught:
        manifest.require("three")
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert "this lab's snapshots: one, two" in caught.value.hint
    with pytest.raises(SnapshotNotFoundError) as none:
        Manifest("demo").require(BASELINE)
    assert "`labctl up` saves baseline" in none.value.hint


def test_restoring_for_another_spec_warns_and_new_machines_are_named() -> None:
    plan = plan_of("name: demo\nagents: {count: 3}\n")
    old = record("old", 1.0, spec_hash="0123456789abcdef")
    warnings = restore_warnings(old, plan, spec_hash(plan.lab))
    assert any("another version of lab.yaml (spec 0123456789abcdef" in w for w in warnings)
    assert any("does not hold demo-agent-3" in w for w in warnings)
    same = record("same", 1.0)
    assert restore_warnings(same, plan_of(), spec_hash(plan_of().lab)) == []


def test_a_snapshot_of_machines_the_lab_lost_or_another_provider_cannot_be_restored() -> None:
    fewer = plan_of("name: demo\nagents: {count: 1}\n")
    with pytest.raises(SnapshotError, match="no longer has: demo-agent-2"):
        restore_warnings(record("x", 1.0), fewer, spec_hash(fewer.lab))
    lxc = plan_of("name: demo\nprovider: lxc\n")
    with pytest.raises(SnapshotError, match="provider virtualbox, this lab now uses lxc"):
        restore_warnings(record("x", 1.0, provider="virtualbox"), lxc, spec_hash(lxc.lab))


def test_rootfs_from_lxc_info_only_for_the_dir_backing_store() -> None:
    text = "lxc.rootfs.path = dir:/var/lib/lxc/demo-server-1/rootfs\n"
    assert parse_rootfs(text, "m") == Path("/var/lib/lxc/demo-server-1/rootfs")
    assert parse_rootfs("lxc.rootfs.path = /srv/m/rootfs", "m") == Path("/srv/m/rootfs")
    for bad in ("lxc.rootfs.path = overlay:/a:/b", "lxc.rootfs.path = ", "lvm:/dev/vg/x"):
        with pytest.raises(SnapshotError, match="not a directory"):
            parse_rootfs(bad, "m")


def test_vagrant_snapshot_list_machine_readable() -> None:
    listed = (
        "1700000000,demo-server-1,ui,output,==> demo-server-1: \n"
        "1700000000,demo-server-1,ui,detail,before-upgrade\n"
        "1700000000,demo-server-1,ui,detail,baseline\n"
    )
    assert parse_snapshot_list(listed) == ["baseline", "before-upgrade"]
    none = (
        "1700000000,demo-server-1,ui,output,No snapshots have been taken yet!\n"
        "1700000000,demo-server-1,ui,detail,You can take a snapshot using `vagrant snapshot "
        "save`. Note that%!(VAGRANT_COMMA) not all providers support this yet.\n"
    )
    assert parse_snapshot_list(none) == []
    assert parse_snapshot_list("") == []


def test_save_records_the_set_and_the_lab_state_atomically(tmp_path: Path) -> None:
    plan = plan_of()
    state = LabState("demo", spec_hash(plan.lab), {"boot": PhaseRecord("done", 1, 1, "h")})
    save_state(tmp_path, state)
    backend = RecordingBackend()
    saved = save_snapshot(plan, tmp_path, "before", backend=backend)
    assert backend.calls == [("save", snapshot_machines(plan), "before")]
    assert saved.state == state
    assert saved.provider == "virtualbox"
    assert load_manifest(tmp_path, "demo").require("before") == saved
    assert not list(tmp_path.glob(".snapshots.json.*")), "no temp file left behind"
    with pytest.raises(UsageError, match="already has a snapshot 'before'"):
        save_snapshot(plan, tmp_path, "before", backend=backend)
    again = save_snapshot(plan, tmp_path, "before", backend=backend, replace_existing=True)
    assert list_snapshots(plan, tmp_path) == (again,)


def test_a_failed_save_records_nothing(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="save broke"):
        save_snapshot(plan_of(), tmp_path, "x", backend=RecordingBackend(fail="save"))
    assert list_snapshots(plan_of(), tmp_path) == ()


def test_restore_puts_the_lab_state_of_that_moment_back(tmp_path: Path) -> None:
    plan = plan_of()
    current = spec_hash(plan.lab)
    early = LabState("demo", current, {"boot": PhaseRecord("done", 1, 1, current)})
    save_state(tmp_path, early)
    backend = RecordingBackend()
    save_snapshot(plan, tmp_path, "early", backend=backend)
    later = early.with_phase("prepare", PhaseRecord("done", 2, 1, current))
    save_state(tmp_path, later)
    restored = restore_snapshot(plan, tmp_path, "early", backend=backend, wait_ssh=False)
    assert backend.calls[-1] == ("restore", snapshot_machines(plan), "early")
    assert restored.warnings == ()
    assert load_state(tmp_path, "demo") == early, "`up` resumes from where the snapshot was"


def test_restore_of_an_unknown_snapshot_touches_no_machine(tmp_path: Path) -> None:
    backend = RecordingBackend()
    with pytest.raises(SnapshotNotFoundError):
        restore_snapshot(plan_of(), tmp_path, BASELINE, backend=backend, wait_ssh=False)
    assert backend.calls == []


def test_restore_for_another_spec_warns_through_the_steps(tmp_path: Path) -> None:
    backend = RecordingBackend()
    save_snapshot(plan_of(), tmp_path, "x", backend=backend)
    changed = plan_of("name: demo\nservers: {memory: 4096}\n")
    steps: list[str] = []
    restored = restore_snapshot(
        changed, tmp_path, "x", backend=backend, wait_ssh=False, on_step=steps.append
    )
    assert len(restored.warnings) == 1
    assert steps[0].startswith("warning: snapshot 'x' was taken for another version")


def test_delete_removes_it_from_machines_and_manifest(tmp_path: Path) -> None:
    backend = RecordingBackend()
    save_snapshot(plan_of(), tmp_path, "a", backend=backend)
    save_snapshot(plan_of(), tmp_path, "b", backend=backend)
    delete_snapshot(plan_of(), tmp_path, "a", backend=backend)
    assert backend.calls[-1] == ("delete", snapshot_machines(plan_of()), "a")
    assert [s.name for s in list_snapshots(plan_of(), tmp_path)] == ["b"]
    with pytest.raises(SnapshotNotFoundError):
        delete_snapshot(plan_of(), tmp_path, "a", backend=backend)


def test_destroy_forgets_the_manifest_and_labctls_own_copies(tmp_path: Path) -> None:
    save_snapshot(plan_of(), tmp_path, "a", backend=RecordingBackend())
    (store_dir(tmp_path, "a") / "demo-server-1" / "rootfs").mkdir(parents=True)
    lines = list(forget_snapshots(plan_of(), tmp_path))
    assert lines == [
        f"removed the lab's lxc snapshots ({tmp_path / 'snapshots'})",
        "forgot 1 snapshot of the lab",
    ]
    assert not (tmp_path / "snapshots").exists()
    assert not (tmp_path / "snapshots.json").exists()
    assert list(forget_snapshots(plan_of(), tmp_path)) == []


def test_a_damaged_manifest_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "snapshots.json").write_text("{not json")
    with pytest.raises(SnapshotError, match="is damaged") as caught:
        list_snapshots(plan_of(), tmp_path)
    assert "mv " in caught.value.hint


class Steps:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.timings: dict[str, tuple[str, float]] = {}

    def phase_started(self, phase: object, number: int, total: int) -> None: ...

    def phase_finished(self, phase: object, status: str, elapsed: float,
                       error: str | None = None) -> None: ...  # fmt: skip

    def step(self, phase: object, text: str) -> None:
        self.lines.append(text)


def test_the_baseline_step_counts_itself_done_in_the_recorded_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.lab import snapshot

    backend = RecordingBackend()
    monkeypatch.setattr(snapshot, "backend_for", lambda plan, lab_dir: backend)
    monkeypatch.setattr(snapshot, "_require_rendered", lambda plan, lab_dir: None)
    plan = plan_of()
    rt = Runtime(plan, tmp_path, Steps())
    phase = plan.phases[-1]
    save_baseline(rt, phase)
    saved = load_manifest(tmp_path, "demo").require(BASELINE)
    assert saved.state is not None
    assert saved.state.done(phase.name, spec_hash(plan.lab)), "a restore must not re-snapshot"
    assert rt.notes[phase.name].startswith("3 machines in")
    save_baseline(rt, phase)  # a later `up` replaces the baseline without asking
    assert len(list_snapshots(plan, tmp_path)) == 1


def test_each_runs_all_machines_concurrently_and_raises_the_first_error() -> None:
    seen: list[str] = []
    barrier = threading.Barrier(3, timeout=5)

    def act(name: str) -> None:
        barrier.wait()  # only passes when all three run at once
        seen.append(name)
        if name != "a":
            raise SnapshotError(f"{name} failed")

    with pytest.raises(SnapshotError, match="b failed"):
        each(["a", "b", "c"], act)
    assert sorted(seen) == ["a", "b", "c"], "every machine finished before the error surfaced"


def test_the_commands_load_no_core_or_edge_until_they_run() -> None:
    import os
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import labctl.cli.snapshot, labctl.cli.reset\n"
        "heavy = ['labctl.lab.snapshot', 'labctl.tools.vagrant', 'labctl.lab.workflow', "
        "'paramiko', "
        "'vagrant', 'pydantic', 'rich']\n"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert proc.stdout.splitlines()[-1] == "HEAVY=", proc.stdout
