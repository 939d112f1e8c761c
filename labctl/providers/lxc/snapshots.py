"""lxc snapshots: every container stopped, its rootfs copied into labctl's own store.

Vagrant has no snapshot support for vagrant-lxc, so labctl keeps the copies itself under the
lab directory; `labctl destroy` removes them with the lab.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.errors import SnapshotError
from labctl.lab.snapshot import STORE, Step, each, parse_rootfs, store_dir
from labctl.messages import quoted

if TYPE_CHECKING:
    from pathlib import Path

LXC_STOP_TIMEOUT = 30  # seconds of clean shutdown before lxc-stop kills the container
LXC_START_TIMEOUT = 30


@dataclass(frozen=True)
class LxcBackend:
    """lxc: every container stopped, its rootfs copied with rsync into labctl's own store."""

    lab_dir: Path
    stop_timeout: int = LXC_STOP_TIMEOUT

    def _rootfs(self, machine: str) -> Path:
        from labctl.providers.lxc._run import run  # noqa: PLC0415 - the lxc edge's one runner

        proc = run(
            ["lxc-info", "--name", machine, "-c", "lxc.rootfs.path"],
            error=SnapshotError,
            hint=f"{machine} is not an LXC container on this host: run `labctl up` first",
        )
        rootfs = parse_rootfs(proc.stdout, machine)
        if not rootfs.is_dir():
            raise SnapshotError(f"{machine}: its rootfs {rootfs} is missing", "run `labctl up`")
        return rootfs

    def _running(self, machine: str) -> bool:
        from labctl.providers.lxc._run import probe  # noqa: PLC0415

        return "RUNNING" in probe(["lxc-info", "--name", machine, "--state"]).stdout

    def _stop(self, machine: str) -> None:
        from labctl.providers.lxc._run import probe, stderr_tail  # noqa: PLC0415

        # Clean shutdown first (the halt signal), killed after the timeout; 2 = was not running.
        proc = probe(["lxc-stop", "--name", machine, "--timeout", str(self.stop_timeout)])
        if proc.returncode not in (0, 2):
            raise SnapshotError(
                f"lxc-stop {machine} failed ({proc.returncode}): "
                f"{stderr_tail(proc.stderr or proc.stdout, 4)}",
                f"`sudo lxc-info --name {machine}` shows the container; `labctl status` the lab",
            )

    def _start(self, machine: str) -> None:
        from labctl.providers.lxc._run import run  # noqa: PLC0415

        hint = (
            f"start it by hand to see why: sudo lxc-start --foreground --name {machine}; "
            "`labctl up` boots the lab through Vagrant again"
        )
        run(["lxc-start", "--daemon", "--name", machine], error=SnapshotError, hint=hint)
        run(
            ["lxc-wait", "--name", machine, "--state", "RUNNING",
             "--timeout", str(LXC_START_TIMEOUT)],
            error=SnapshotError,
            hint=hint,
        )  # fmt: skip

    @staticmethod
    def _copy(source: Path, target: Path, link_dest: Path | None = None) -> None:
        from labctl.providers.lxc._run import run  # noqa: PLC0415

        target.mkdir(parents=True, exist_ok=True)
        # --link-dest: files unchanged since an older snapshot become hard links to it, so a
        # second snapshot costs only what changed. Stored files are never written in place.
        link = [f"--link-dest={link_dest.resolve()}/"] if link_dest and link_dest.is_dir() else []
        run(
            ["rsync", "-aHAXx", "--numeric-ids", "--delete", *link, f"{source}/", f"{target}/"],
            error=SnapshotError,
            hint="lxc snapshots need rsync (apt-get install rsync) and free disk space "
            f"beside {target}",
        )

    def _newest(self) -> Path | None:
        """The most recent complete snapshot in the store (a replaced one too: it is removed
        only after the new copy is complete), to hard-link unchanged files to."""
        root = self.lab_dir / STORE
        done = [d for d in root.glob("*") if d.is_dir() and "." not in d.name]
        return max(done, key=lambda d: d.stat().st_mtime, default=None)

    def save(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        from labctl.providers.lxc._run import require_root  # noqa: PLC0415

        require_root("an lxc snapshot")
        rootfs = {m: self._rootfs(m) for m in machines}
        older = self._newest()
        running = [m for m in machines if self._running(m)]
        final = store_dir(self.lab_dir, name)
        partial = final.with_name(f"{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        on_step(f"stopping {len(running)} containers so the copies are one point in time")
        each(running, self._stop)
        try:

            def copy(machine: str) -> None:
                on_step(f"{machine}: copying its rootfs")
                link = older / machine / "rootfs" if older else None
                self._copy(rootfs[machine], partial / machine / "rootfs", link)

            each(machines, copy)
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
        finally:
            on_step(f"starting {', '.join(running) or 'none'} again")
            each(running, self._start)

    def restore(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        from labctl.providers.lxc._run import require_root  # noqa: PLC0415

        require_root("restoring an lxc snapshot")
        saved = store_dir(self.lab_dir, name)
        missing = [m for m in machines if not (saved / m / "rootfs").is_dir()]
        if missing:
            raise SnapshotError(
                f"snapshot {quoted(name)} has no files for {', '.join(missing)} under {saved}",
                f"they were removed outside labctl; `labctl snapshot delete {name}` forgets it",
            )
        rootfs = {m: self._rootfs(m) for m in machines}
        on_step(f"stopping {len(machines)} containers")
        each(machines, self._stop)

        def copy_back(machine: str) -> None:
            on_step(f"{machine}: restoring its rootfs")
            self._copy(saved / machine / "rootfs", rootfs[machine])

        each(machines, copy_back)
        on_step(f"starting {len(machines)} containers")
        each(machines, self._start)

    def delete(self, machines: tuple[str, ...], name: str, on_step: Step) -> None:
        del machines
        on_step(f"removing {store_dir(self.lab_dir, name)}")
        shutil.rmtree(store_dir(self.lab_dir, name), ignore_errors=True)
        shutil.rmtree(store_dir(self.lab_dir, f"{name}.partial"), ignore_errors=True)
