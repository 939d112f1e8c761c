"""Lab snapshots: every machine of a lab saved, restored and deleted together, under one name.

A workshop student who breaks a cluster gets it back with `labctl reset` (restore `baseline`,
re-run the checks) instead of a rebuild. A snapshot is always of ALL the lab's machines, taken
while they are in one consistent state, so no etcd member or agent is ahead of another.

How each provider does it (decided here; only lxc is proven for real: the test bed has no
VirtualBox, and the libvirt path has not been run on it):

- virtualbox, libvirt: Vagrant's own `vagrant snapshot save|restore|delete`, one call per
  machine (labctl.tools.vagrant), the machines concurrently; each machine holds a provider snapshot
  with the lab's snapshot name. VirtualBox takes a live snapshot and, on restore, powers the VM
  off, restores it and starts it again; vagrant-libvirt makes an internal qcow2 snapshot and
  reverts with force, landing in the state it was saved in. A machine that is not running after
  the restore is booted with `vagrant up`. Vagrant's destroy removes these snapshots with the VM.
- lxc: vagrant-lxc has no snapshot support, and `lxc-snapshot` is no fit: it keeps snapshots
  inside the container's own directory, and `lxc-destroy` (what `vagrant destroy` runs) then
  refuses the container ("has snapshots"). labctl keeps its own store instead:
  `.labctl/<lab>/snapshots/<name>/<machine>/rootfs`. Save stops every container (`lxc-stop`,
  clean shutdown, killed after a timeout), copies each rootfs with `rsync -aHAX --numeric-ids`
  (hard links, ACLs, xattrs such as file capabilities kept), then starts the containers that were
  running. Restore stops them all, `rsync --delete`s the copy back over each rootfs (only what
  changed moves, which keeps a reset quick) and starts them all. The container config stays
  vagrant-lxc's (it rewrites its keys on every start) and the container keeps its name, so
  `vagrant status` and `vagrant ssh` work unchanged afterwards. A later save hard-links files
  unchanged since the newest snapshot (`rsync --link-dest`), so it costs only what changed.
  Measured on the test bed (3 containers of ~310 MB, Debian 12 minbase, 2 vCPU, other test
  runs sharing the host): first save 8-24 s, a second save 7 s, restore 5-7 s, `labctl reset`
  with one check 6.5 s. tests/integration/test_snapshot_lxc.py records them on every run.

Each snapshot is recorded in `.labctl/<lab>/snapshots.json` (name, time, machines, provider, the
spec hash, seconds taken, and the lab's state.json of that moment). Restore puts that state back,
so `labctl up` after restoring a snapshot taken half-way resumes from that point; restoring a
snapshot taken for another spec hash warns. The functions here do not take the lab lock: their
callers (the snapshot and reset commands, `up`'s workflow, `destroy`) hold it.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from labctl.errors import SnapshotError, SnapshotNotFoundError, UsageError
from labctl.lab.state import LabState
from labctl.messages import quoted

if TYPE_CHECKING:
    from labctl.lab.workflow import Runtime
    from labctl.plan import Phase, Plan

BASELINE = "baseline"
MANIFEST = "snapshots.json"
STORE = "snapshots"
MANIFEST_VERSION = 1
NAME_MAX = 63
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
SSH_WAIT_TIMEOUT = 60

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default step sink: say nothing."""


# --- the pure part: names, records, the manifest, validation ---------------------------------


def validate_name(name: str) -> str:
    """A snapshot name is a DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending in '-'.

    It becomes a directory name and a provider snapshot name, so nothing else is allowed.
    """
    if len(name) > NAME_MAX or not _NAME.match(name):
        raise UsageError(
            f"snapshot name {quoted(name)} is not valid",
            "use 1-63 lowercase letters, digits and '-', starting and ending with a letter or "
            "digit, e.g. baseline or before-upgrade",
        )
    return name


@dataclass(frozen=True)
class SnapshotRecord:
    """One snapshot of a lab: what was saved, when, for which spec, and the lab's state then."""

    name: str
    created: float
    machines: tuple[str, ...]
    provider: str
    spec_hash: str
    seconds: float = 0.0
    state: LabState | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": round(self.created, 3),
            "machines": list(self.machines),
            "provider": self.provider,
            "spec_hash": self.spec_hash,
            "seconds": round(self.seconds, 1),
            "state": json.loads(self.state.to_json()) if self.state else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SnapshotRecord:
        state = raw.get("state")
        return cls(
            name=str(raw["name"]),
            created=float(raw["created"]),
            machines=tuple(str(m) for m in raw["machines"]),
            provider=str(raw["provider"]),
            spec_hash=str(raw["spec_hash"]),
            seconds=float(raw.get("seconds", 0.0)),
            state=LabState.from_json(json.dumps(state)) if state else None,
        )


@dataclass(frozen=True)
class Manifest:
    """Every snapshot of one lab, oldest first (`snapshots.json`)."""

    lab: str
    snapshots: tuple[SnapshotRecord, ...] = ()

    def get(self, name: str) -> SnapshotRecord | None:
        return next((s for s in self.snapshots if s.name == name), None)

    def require(self, name: str) -> SnapshotRecord:
        """The named snapshot, or an error that lists the ones there are."""
        found = self.get(name)
        if found is not None:
            return found
        known = ", ".join(s.name for s in self.snapshots)
        hint = f"this lab's snapshots: {known}" if known else "this lab has no snapshots yet"
        if name == BASELINE:
            hint += "; `labctl up` saves baseline after a successful run, or save it yourself"
        raise SnapshotNotFoundError(
            f"lab {quoted(self.lab)} has no snapshot {quoted(name)}",
            f"{hint} (`labctl snapshot save {name}`)",
        )

    def with_record(self, record: SnapshotRecord) -> Manifest:
        """This manifest with `record` added, replacing a snapshot of the same name."""
        kept = tuple(s for s in self.snapshots if s.name != record.name)
        return replace(self, snapshots=tuple(sorted((*kept, record), key=lambda s: s.created)))

    def without(self, name: str) -> Manifest:
        return replace(self, snapshots=tuple(s for s in self.snapshots if s.name != name))

    def to_json(self) -> str:
        data = {
            "version": MANIFEST_VERSION,
            "lab": self.lab,
            "snapshots": [s.to_dict() for s in self.snapshots],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            lab=str(raw["lab"]),
            snapshots=tuple(SnapshotRecord.from_dict(s) for s in raw.get("snapshots", [])),
        )


def snapshot_machines(plan: Plan) -> tuple[str, ...]:
    """The machines a snapshot covers: all of the lab's, in plan order."""
    return tuple(m.name for m in plan.machines)


def restore_warnings(record: SnapshotRecord, plan: Plan, current_hash: str) -> list[str]:
    """What a user should know before `record` is restored into this plan; raises when it
    cannot be restored at all (another provider, or machines the lab no longer has)."""
    if record.provider != plan.lab.provider:
        raise SnapshotError(
            f"snapshot {record.name!r} was taken with provider {record.provider}, "
            f"this lab now uses {plan.lab.provider}",
            f"delete it (`labctl snapshot delete {record.name}`) and save a new one",
        )
    current = snapshot_machines(plan)
    gone = [m for m in record.machines if m not in current]
    if gone:
        raise SnapshotError(
            f"snapshot {record.name!r} holds machines this lab no longer has: {', '.join(gone)}",
            "restore it with the lab.yaml it was taken with, or delete it",
        )
    warnings = []
    if record.spec_hash != current_hash:
        warnings.append(
            f"snapshot {record.name!r} was taken for another version of lab.yaml "
            f"(spec {record.spec_hash}, now {current_hash}); the machines return to that "
            "version and `labctl up` applies the changes again"
        )
    new = [m for m in current if m not in record.machines]
    if new:
        warnings.append(
            f"snapshot {record.name!r} does not hold {', '.join(new)}: they are left as they are"
        )
    return warnings


def store_dir(lab_dir: Path, name: str) -> Path:
    """Where the lxc provider keeps the copies of snapshot `name`."""
    return lab_dir / STORE / name


def parse_rootfs(text: str, machine: str) -> Path:
    """`lxc-info -c lxc.rootfs.path` output -> the container's rootfs directory.

    Only the `dir` backing store (what labctl's Vagrantfile sets) is a plain directory to copy.
    """
    _, _, value = text.strip().partition("=")
    value = value.strip()
    kind, sep, path = value.partition(":")
    if not sep:
        kind, path = "dir", value
    if kind != "dir" or not path.startswith("/"):
        raise SnapshotError(
            f"{machine}: its rootfs is {value or 'not set'!r}, not a directory",
            "labctl snapshots lxc containers with the `dir` backing store, which labctl's "
            "Vagrantfile sets (lxc.backingstore = dir); recreate the lab with `labctl up`",
        )
    return Path(path)


def load_manifest(lab_dir: Path, lab: str) -> Manifest:
    """The lab's snapshots.json, or an empty manifest; a damaged file is an error."""
    from labctl.lab.readback import read_json  # noqa: PLC0415

    path = lab_dir / MANIFEST
    manifest = read_json(
        path,
        Manifest.from_json,
        lambda reason: SnapshotError(
            f"{path} is damaged ({reason})",
            f"move it aside (mv {path} {path}.bad); the snapshots it listed stay on disk",
            exit_code=SnapshotNotFoundError.exit_code,
        ),
    )
    return manifest if manifest is not None else Manifest(lab=lab)


def save_manifest(lab_dir: Path, manifest: Manifest) -> None:
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    write_atomic(lab_dir / MANIFEST, manifest.to_json())


# --- the providers ---------------------------------------------------------------------------


class Backend(Protocol):
    """How one provider saves, restores and deletes a snapshot of the given machines."""

    def save(self, machines: tuple[str, ...], name: str, on_step: Step) -> None: ...

    def restore(self, machines: tuple[str, ...], name: str, on_step: Step) -> None: ...

    def delete(self, machines: tuple[str, ...], name: str, on_step: Step) -> None: ...


def each(names: Iterable[str], action: Callable[[str], None]) -> None:
    """Run `action` for every machine concurrently; all finish, then the first error is raised."""
    names = list(names)
    if not names:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        futures = [pool.submit(action, name) for name in names]
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error


def backend_for(plan: Plan, lab_dir: Path) -> Backend:
    """The lab's provider decides how its machines are snapshotted."""
    return plan.provider.snapshot_backend(plan, lab_dir)


# --- what the commands call ------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """A restore done: the snapshot, what the user should be warned of, and seconds taken."""

    record: SnapshotRecord
    warnings: tuple[str, ...]
    seconds: float


def _require_rendered(plan: Plan, lab_dir: Path) -> None:
    if not (lab_dir / "Vagrantfile").exists() or not (lab_dir / ".vagrant").exists():
        raise SnapshotError(
            f"lab {plan.name} has no machines yet", "run `labctl up` first, then snapshot it"
        )


def save_snapshot(
    plan: Plan,
    lab_dir: Path,
    name: str,
    *,
    replace_existing: bool = False,
    on_step: Step = _quiet,
    backend: Backend | None = None,
    done_phase: str | None = None,
) -> SnapshotRecord:
    """Snapshot every machine of the lab as `name` and record it; `replace_existing` overwrites.

    `done_phase` is the workflow phase taking the snapshot: the recorded state counts it as
    done, so a restore does not make the next `up` snapshot the lab again.
    """
    from labctl.lab.state import PhaseRecord, load_state, spec_hash  # noqa: PLC0415

    validate_name(name)
    manifest = load_manifest(lab_dir, plan.name)
    if manifest.get(name) is not None and not replace_existing:
        raise UsageError(
            f"lab {plan.name} already has a snapshot {quoted(name)}",
            "pass --force to replace it, or choose another name",
        )
    if backend is None:
        _require_rendered(plan, lab_dir)
    machines = snapshot_machines(plan)
    started, clock = time.time(), time.monotonic()
    (backend or backend_for(plan, lab_dir)).save(machines, name, on_step)
    elapsed = time.monotonic() - clock
    current = spec_hash(plan.lab)
    state = load_state(lab_dir, plan.name)
    if done_phase is not None:
        state = state.with_phase(done_phase, PhaseRecord("done", started, elapsed, current))
    record = SnapshotRecord(
        name=name,
        created=round(started, 3),  # as the manifest keeps them, so the record equals its copy
        machines=machines,
        provider=plan.lab.provider,
        spec_hash=current,
        seconds=round(elapsed, 1),
        state=state,
    )
    save_manifest(lab_dir, load_manifest(lab_dir, plan.name).with_record(record))
    return record


def restore_snapshot(
    plan: Plan,
    lab_dir: Path,
    name: str,
    *,
    on_step: Step = _quiet,
    backend: Backend | None = None,
    wait_ssh: bool = True,
) -> Restored:
    """Put every machine back to snapshot `name`, refresh how to reach them, wait for SSH."""
    from labctl.lab.state import save_state, spec_hash  # noqa: PLC0415

    validate_name(name)
    record = load_manifest(lab_dir, plan.name).require(name)
    warnings = restore_warnings(record, plan, spec_hash(plan.lab))
    for warning in warnings:
        on_step(f"warning: {warning}")
    if backend is None:
        _require_rendered(plan, lab_dir)
    clock = time.monotonic()
    (backend or backend_for(plan, lab_dir)).restore(record.machines, name, on_step)
    if record.state is not None:
        save_state(lab_dir, record.state)
    if wait_ssh:
        _refresh_and_wait(plan, lab_dir, record.machines, on_step)
    return Restored(record, tuple(warnings), time.monotonic() - clock)


def _refresh_and_wait(plan: Plan, lab_dir: Path, machines: tuple[str, ...], on_step: Step) -> None:
    """Ask Vagrant again how to reach the machines (a restored VM may get new ports), save it
    for `ssh` and `check`, and return once every machine answers over SSH."""
    from labctl.lab.targets import save_targets  # noqa: PLC0415
    from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415

    targets = VagrantLab.for_lab(lab_dir).ssh_targets()
    missing = [m for m in machines if m not in targets]
    if missing:
        raise SnapshotError(
            f"after the restore, vagrant ssh-config has no entry for {', '.join(missing)}",
            "`labctl status` shows the machines' state; `labctl up` boots them",
        )
    save_targets(lab_dir, targets)
    with plan.provider.command_executor(lab_dir / "known_hosts") as pool:

        def answer(machine: str) -> None:
            on_step(f"{machine}: waiting for SSH")
            pool.run(targets[machine], "true", timeout=SSH_WAIT_TIMEOUT)

        each(machines, answer)


def delete_snapshot(
    plan: Plan,
    lab_dir: Path,
    name: str,
    *,
    on_step: Step = _quiet,
    backend: Backend | None = None,
) -> SnapshotRecord:
    """Delete snapshot `name` from every machine (or labctl's store) and from the manifest."""
    validate_name(name)
    manifest = load_manifest(lab_dir, plan.name)
    record = manifest.require(name)
    chosen = backend
    if chosen is None:
        chosen = backend_for(plan, lab_dir) if record.provider == plan.lab.provider else None
    if chosen is not None:
        chosen.delete(record.machines, name, on_step)
    save_manifest(lab_dir, manifest.without(name))
    return record


def list_snapshots(plan: Plan, lab_dir: Path) -> tuple[SnapshotRecord, ...]:
    """The lab's snapshots, oldest first."""
    return load_manifest(lab_dir, plan.name).snapshots


def forget_snapshots(plan: Plan, lab_dir: Path) -> Iterator[str]:
    """For `destroy`, after the machines are gone: labctl's lxc copies and the manifest.

    Vagrant providers' snapshots went with their VMs (VirtualBox unregisters with the VM's
    snapshots, vagrant-libvirt deletes a domain's snapshots before undefining it).
    """
    store = lab_dir / STORE
    if store.exists():
        shutil.rmtree(store)
        yield f"removed the lab's lxc snapshots ({store})"
    manifest = lab_dir / MANIFEST
    if manifest.exists():
        count = len(load_manifest(lab_dir, plan.name).snapshots)
        manifest.unlink()
        yield f"forgot {count} snapshot{'s' if count != 1 else ''} of the lab"


def save_baseline(rt: Runtime, phase: Phase) -> None:
    """Workflow handler: after a successful `up`, snapshot every machine as `baseline`.

    Replaces an older baseline, so the baseline is always of the lab the spec last built.
    """
    record = save_snapshot(
        rt.plan,
        rt.lab_dir,
        BASELINE,
        replace_existing=True,
        on_step=lambda text: rt.progress.step(phase, text),
        done_phase=phase.name,
    )
    rt.notes[phase.name] = f"{len(record.machines)} machines in {record.seconds:.0f}s"
