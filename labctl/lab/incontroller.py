"""`controller: lab` at work: the `controller` phase makes the controller on the lab's first
server, each Ansible phase runs there, and destroy takes it away (edges; what goes where is
labctl.lab.controller's).

A phase is one round trip of files each way around one streamed command: the project (Ansible
files with the controller's paths, the lab's secrets 0600, its pinned host keys, the playbooks)
goes up as one tar; the run prints its events as JSON lines, read as they come, so progress and
failures are the host mode's; the run's artifacts, the secrets and the kubeconfig come back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shlex
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from labctl.errors import ControllerError, ProvisionError
from labctl.lab.controller import (
    KEY_FILE,
    MIN_PYTHON,
    NOT_SENT,
    PROBE,
    STAMP,
    GuestPython,
    Layout,
    install_command,
    inventory,
    known_hosts,
    manifest,
    parse_probe,
    pick_requirements,
    pip_platforms,
    run_arguments,
    run_command,
    safe_member,
    stamp,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from labctl.lab.workflow import Runtime
    from labctl.plan import Phase, Plan
    from labctl.tools.ansible import PlaybookResult
    from labctl.tools.ssh import SshPool, SshTarget

RECORD = "controller.json"  # in the lab directory: where the controller is, once it is made
OFFLINE_MANIFEST = ".labctl-manifest"


def key_comment(lab: str, lab_dir: Path) -> str:
    digest = hashlib.sha256(str(lab_dir).encode()).hexdigest()[:12]
    return f"labctl-controller:{lab}:{digest}"


def controller_requirements() -> tuple[str, ...]:
    """ansible-core and ansible-runner exactly as labctl's own metadata requires them."""
    from importlib.metadata import requires  # noqa: PLC0415

    try:
        return pick_requirements(requires("labctl") or [])
    except ValueError as exc:
        raise ControllerError(f"{exc}", "reinstall labctl (pipx reinstall labctl)") from exc


def _check(
    pool: SshPool, target: SshTarget, command: str, what: str, timeout: float = 120.0
) -> str:
    result = pool.run(target, command, timeout=timeout)
    if not result.ok:
        said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ControllerError(
            f"{target.name}: {what} failed (exit {result.exit_status}): {said[:300]}",
            "`labctl ssh` to the machine to look; `labctl up` runs the controller phase again",
        )
    return result.stdout


def _tar(files: Mapping[str, tuple[bytes, int]], *, gzip: bool = True) -> bytes:
    """A tar of (data, mode) by path; directories 0700 for secrets, else 0755."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w") as tar:
        dirs = sorted({str(Path(p).parent.as_posix()) for p in files} - {"."})
        for folder in dirs:
            info = tarfile.TarInfo(folder)
            info.type, info.mtime = tarfile.DIRTYPE, now
            info.mode = 0o700 if folder.endswith("secrets") else 0o755
            tar.addfile(info)
        for path, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _guest_python(pool: SshPool, target: SshTarget) -> GuestPython:
    out = _check(pool, target, PROBE, "asking python3 for its version (python3 is needed)")
    try:
        python = parse_probe(out)
    except (ValueError, KeyError, IndexError) as exc:
        raise ControllerError(f"{target.name}: python3 said {out.strip()[:200]!r}",
                              "the controller machine needs python3") from exc  # fmt: skip
    if python.version < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        raise ControllerError(
            f"{target.name} has Python {python.version[0]}.{python.version[1]}; the controller's "
            f"ansible-core needs {need} or later",
            "use a newer box (Ubuntu 24.04, Debian 12), or controller: host (e.g. under WSL)",
        )
    return python


def _wheels(rt: Runtime, python: GuestPython, requirements: Sequence[str]) -> Path:
    from labctl.tools import wheels  # noqa: PLC0415

    if rt.offline_dir is not None:
        folder = rt.offline_dir / "controller" / python.tag
        if not wheels.complete(folder, requirements):
            raise ControllerError(
                f"the offline directory has no controller wheels for {python.tag} "
                f"({folder} is missing or made for other versions)",
                "add them: `labctl bundle fetch --dir DIR --controller-python "
                f"{python.version[0]}.{python.version[1]}`",
            )
        return folder
    return wheels.download(wheels.cache_root() / python.tag, requirements,
                           python=python.version, platforms=pip_platforms(python))  # fmt: skip


def bundle_wheels(directory: Path, version: tuple[int, int], arch: str | None) -> tuple[str, int]:
    """An offline bundle's controller wheels for machines with Python `version` and K3s arch
    `arch` (amd64, arm64; None: this host's): (wheel set name, number of wheels)."""
    import platform  # noqa: PLC0415

    from labctl.tools import wheels  # noqa: PLC0415

    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch or "")
    if machine is None:
        host = platform.machine().lower()
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(host, host)
    # Wheels for glibc 2.31 (Ubuntu 20.04) or older install on every newer machine.
    python = GuestPython(version, machine, (2, 31), "")
    folder = directory / "controller" / python.tag
    wheels.download(folder, controller_requirements(), python=python.version,
                    platforms=pip_platforms(python))  # fmt: skip
    return python.tag, len(list(folder.glob("*.whl")))


def setup_controller(rt: Runtime, phase: Phase) -> None:
    """The phase: controller key on every machine, then the venv on the first server (made
    only when what it was made from changed), then controller.json."""
    from labctl.lab.keys import authorize_command, keypair  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415
    from labctl.tools.ssh import SshPool  # noqa: PLC0415

    plan = rt.plan
    targets = load_targets(rt.lab_dir)
    primary = targets[plan.primary.name]
    _, public = keypair(rt.lab_dir / KEY_FILE)
    comment = key_comment(plan.name, rt.lab_dir)
    with SshPool(rt.known_hosts) as pool:
        for machine in plan.machines:
            _check(pool, targets[machine.name], authorize_command(public, comment),
                   "adding the controller key to authorized_keys")  # fmt: skip
        rt.progress.step(phase, f"{len(plan.machines)} machines accept the controller key")
        python = _guest_python(pool, primary)
        layout = Layout.for_lab(python.home, plan.name)
        requirements = controller_requirements()
        wanted = stamp(requirements, python)
        venv_stamp = shlex.quote(f"{layout.venv}/{STAMP}")
        current = pool.run(primary, f"cat {venv_stamp} 2>/dev/null").stdout
        if current == wanted:
            rt.progress.step(phase, f"{primary.name}: the venv holds {', '.join(requirements)}")
            made = "up to date"
        else:
            folder = _wheels(rt, python, requirements)
            rt.progress.step(phase, f"{primary.name}: copying {len(list(folder.glob('*.whl')))} "
                                    f"wheels for {python.tag}")  # fmt: skip
            files = {p.name: (p.read_bytes(), 0o644) for p in sorted(folder.glob("*.whl"))}
            wheels_dir = shlex.quote(str(layout.wheels))
            result = pool.run(primary, f"rm -rf {wheels_dir} && mkdir -p {wheels_dir} && "
                              f"tar --no-same-owner -xf - -C {wheels_dir}",
                              timeout=300, stdin=_tar(files, gzip=False))  # fmt: skip
            if not result.ok:
                raise ControllerError(f"{primary.name}: copying the wheels failed: "
                                      f"{result.stderr.strip()[:300]}",
                                      "is there room in the login user's home?")  # fmt: skip
            pip = next(folder.glob("pip-*.whl")).name
            rt.progress.step(phase, f"{primary.name}: python3 -m venv, pip install "
                                    f"{' '.join(requirements)} (no index)")  # fmt: skip
            _check(pool, primary, install_command(layout, pip, requirements, wanted),
                   "making the controller's venv", timeout=900)  # fmt: skip
            made = "made"
    record = {"machine": primary.name, "root": str(layout.root), "python": python.tag}
    write_atomic(rt.lab_dir / RECORD, json.dumps(record, indent=2) + "\n", mode=0o600)
    rt.notes[phase.name] = f"{primary.name}: venv {made}, Python {python.tag}"


def _layout(lab_dir: Path) -> tuple[str, Layout] | None:
    """(controller machine, its layout) from controller.json; None before the phase ran."""
    try:
        record = json.loads((lab_dir / RECORD).read_text(encoding="utf-8"))
        return str(record["machine"]), Layout(PurePosixPath(str(record["root"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _project(plan: Plan, lab_dir: Path, layout: Layout) -> dict[str, tuple[bytes, int]]:
    """The files a phase needs on the controller, by path under its root."""
    from labctl import resources  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415
    from labctl.render import LabPaths, render  # noqa: PLC0415
    from labctl.tools import ansible_remote  # noqa: PLC0415
    from labctl.tools.hostkeys import pinned_keys  # noqa: PLC0415

    users = {name: target.user for name, target in load_targets(lab_dir).items()}
    rendered = render(plan, LabPaths(layout.project))
    pinned = [(machine.name, key.get_name(), key.get_base64())
              for machine in plan.machines
              for key in pinned_keys(lab_dir / "known_hosts", machine.name).values()]  # fmt: skip
    if len({name for name, _, _ in pinned}) < len(plan.machines):
        raise ControllerError("the lab's known_hosts lacks a machine's host key",
                              "run `labctl up --from wait-ssh`")  # fmt: skip
    project: dict[str, tuple[bytes, int]] = {
        "ansible.cfg": (rendered["ansible.cfg"].encode(), 0o644),
        "inventory/hosts.yml": (rendered["inventory/hosts.yml"].encode(), 0o644),
        "inventory/group_vars/all.yml": (
            rendered["inventory/group_vars/all.yml"].encode(), 0o644),
        "inventory/ssh.yml": (inventory(plan, users, layout).encode(), 0o644),
        "known_hosts": (known_hosts(pinned).encode(), 0o644),
    }  # fmt: skip
    secrets = lab_dir / "secrets"
    for path in sorted(secrets.iterdir()) if secrets.is_dir() else []:
        if path.is_file() and path.name not in NOT_SENT:
            project[f"secrets/{path.name}"] = (path.read_bytes(), 0o600)
    files = {f"project/{rel}": item for rel, item in project.items()}
    playbooks = resources.playbooks_dir()
    for path in sorted(playbooks.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(playbooks).as_posix()
            files[f"playbooks/{rel}"] = (path.read_bytes(), 0o644)
    files["run-phase.py"] = (Path(ansible_remote.__file__).read_bytes(), 0o644)
    return files


def _push_offline(pool: SshPool, target: SshTarget, offline: Path, layout: Layout) -> bool:
    """The --offline directory's files to the controller, once: again only when they changed."""
    entries = [(p.relative_to(offline).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
               for p in sorted(offline.rglob("*")) if p.is_file()]  # fmt: skip
    digest = manifest(entries)
    folder = shlex.quote(str(layout.offline))
    there = pool.run(target, f"cat {folder}/{OFFLINE_MANIFEST} 2>/dev/null").stdout.strip()
    if there == digest:
        return False
    size = sum(size for _, size, _ in entries)
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w") as tar:
            for rel, _, _ in entries:
                info = tar.gettarinfo(str(offline / rel), arcname=rel)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                with (offline / rel).open("rb") as handle:
                    tar.addfile(info, handle)
        spool.seek(0)
        result = pool.run(
            target,
            f"rm -rf {folder} && mkdir -p {folder} && tar --no-same-owner -xf - -C {folder} && "
            f"printf %s {digest} > {folder}/{OFFLINE_MANIFEST}",
            timeout=120 + size / 5e6,
            stdin=spool,
        )
    if not result.ok:
        raise ControllerError(f"{target.name}: copying the offline directory failed: "
                              f"{result.stderr.strip()[:300]}",
                              "is there room in the login user's home?")  # fmt: skip
    return True


def _bring_back(pool: SshPool, target: SshTarget, layout: Layout, lab_dir: Path,
                ident: str) -> None:  # fmt: skip
    """The run's artifacts, the secrets and the kubeconfig, into the lab directory."""
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    project = shlex.quote(str(layout.project))
    out = pool.run(
        target,
        f"cd {project} && tar -czf - runs/{shlex.quote(ident)} "
        "$(ls -d secrets kubeconfig 2>/dev/null) | base64 -w0",
        timeout=120,
    ).stdout
    try:
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(out)), mode="r:gz") as archive:
            for member in archive.getmembers():
                if not member.isfile() or not safe_member(member.name, ident):
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    write_atomic(lab_dir / member.name, handle.read(), mode=0o600)
    except (tarfile.TarError, ValueError, EOFError):
        return  # nothing came back (the run never started); the phase's error says why


def run_in_lab(
    plan: Plan,
    lab_dir: Path,
    *,
    tags: Sequence[str],
    ident: str,
    on_task: Callable[[str], None] | None = None,
    offline: Path | None = None,
    verbosity: int = 0,
    playbook: str = "site.yml",
    on_event: Callable[[Mapping[str, Any]], None] | None = None,
) -> PlaybookResult:
    """One Ansible run on the controller, as labctl.tools.ansible.run_playbook does it here."""
    from labctl.lab.targets import load_targets  # noqa: PLC0415
    from labctl.tools.ansible import HostFailure, PlaybookResult, failure_from_event  # noqa: PLC0415
    from labctl.tools.ssh import SshPool  # noqa: PLC0415

    found = _layout(lab_dir)
    if found is None:
        raise ControllerError("the lab has no controller yet (controller.json is missing)",
                              "run `labctl up --from controller`")  # fmt: skip
    machine, layout = found
    target = load_targets(lab_dir)[machine]
    failures: list[HostFailure] = []
    outcome: dict[str, Any] = {}

    def on_line(line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return  # not ours (a warning a library printed)
        if "labctl_result" in event:
            outcome.update(event["labctl_result"])
            return
        failure = failure_from_event(event)
        if failure:
            failures.append(failure)
        if on_task and event.get("event") == "playbook_on_task_start":
            on_task(str(event.get("event_data", {}).get("task", "")))
        if on_event:
            on_event(event)

    extravars = {"labctl_offline_dir": str(layout.offline)} if offline else {}
    arguments = run_arguments(layout, ident=ident, tags=tags, playbook=playbook,
                              verbosity=verbosity, limit=None, extravars=extravars)  # fmt: skip
    started = time.monotonic()
    with SshPool(lab_dir / "known_hosts") as pool:
        root = shlex.quote(str(layout.root))
        result = pool.run(target, f"rm -rf {root}/playbooks && mkdir -p {root} && "
                          f"tar --no-same-owner -xzf - -C {root}", timeout=120,
                          stdin=_tar(_project(plan, lab_dir, layout)))  # fmt: skip
        if not result.ok:
            raise ControllerError(
                f"{machine}: copying the project failed: {result.stderr.strip()[:300]}",
                "`labctl up --from controller` makes the controller again",
            )
        if offline is not None and _push_offline(pool, target, offline, layout) and on_task:
            on_task(f"copied {offline.name} to {machine}")
        try:
            ran = pool.stream(target, run_command(layout, arguments), on_line,
                              on_interrupt=b"cancel\n")  # fmt: skip
        except KeyboardInterrupt:
            try:
                _bring_back(pool, target, layout, lab_dir, ident)
            finally:
                raise
        _bring_back(pool, target, layout, lab_dir, ident)
    if not outcome:
        said = (ran.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProvisionError(
            f"the controller on {machine} ended the run without a result "
            f"(exit {ran.exit_status}): {said[:300]}",
            "`labctl up --from controller` makes the controller again",
        )
    return PlaybookResult(
        status=str(outcome.get("status")),
        rc=int(outcome.get("rc", -1)),
        artifacts=lab_dir / "runs" / ident,
        elapsed=time.monotonic() - started,
        changed={str(k): int(v) for k, v in (outcome.get("changed") or {}).items()},
        failures=tuple(failures),
    )


def remove_controller(plan: Plan, lab_dir: Path) -> Iterator[str]:
    """Destroy's part: on machines that outlive the lab (provider ssh) the controller's
    directory and its key lines go; the key pair and controller.json go in any case."""
    from labctl.lab.keys import deauthorize_command, forget_keypair  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415
    from labctl.tools.ssh import SshPool  # noqa: PLC0415

    found = _layout(lab_dir)
    if found is not None and not plan.provider.boots_machines:
        machine, layout = found
        targets = load_targets(lab_dir)
        comment = key_comment(plan.name, lab_dir)
        with SshPool(lab_dir / "known_hosts") as pool:
            # The folder of all labs' controllers goes too once this was the last one in it.
            parent = shlex.quote(str(layout.root.parent))
            pool.run(targets[machine], f"rm -rf {shlex.quote(str(layout.root))} && "
                     f"{{ rmdir {parent} 2>/dev/null || true; }}")  # fmt: skip
            yield f"{machine}: removed {layout.root}"
            for name in sorted(targets):
                pool.run(targets[name], deauthorize_command(comment))
            yield f"removed the controller key from {len(targets)} machines"
    if forget_keypair(lab_dir / KEY_FILE):
        yield "removed the controller key pair"
    if (lab_dir / RECORD).exists():
        (lab_dir / RECORD).unlink()


def run_lab_playbook(
    plan: Plan,
    lab_dir: Path,
    *,
    tags: Sequence[str],
    ident: str,
    on_task: Callable[[str], None] | None = None,
    offline: Path | None = None,
    verbosity: int = 0,
    playbook: str = "site.yml",
    on_event: Callable[[Mapping[str, Any]], None] | None = None,
) -> PlaybookResult:
    """A playbook across the lab, wherever its plan says Ansible runs: the one way phases, the
    nightly's idempotence re-run and the ssh provider's uninstall run one."""
    if plan.controller == "lab":
        return run_in_lab(plan, lab_dir, tags=tags, ident=ident, on_task=on_task,
                          offline=offline, verbosity=verbosity, playbook=playbook,
                          on_event=on_event)  # fmt: skip
    from labctl.tools.ansible import run_playbook  # noqa: PLC0415

    return run_playbook(lab_dir, tags=tags, ident=ident, verbosity=verbosity, on_task=on_task,
                        extravars={"labctl_offline_dir": str(offline)} if offline else None,
                        playbook=playbook, on_event=on_event)  # fmt: skip
