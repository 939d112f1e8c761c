"""Fixtures on labctl's own test bed: plain LXC hosts and vagrant-lxc labs on this machine.

They need root, lxc, vagrant with vagrant-lxc and debootstrap (tests/testbed/install-deps.sh).
Without them a test is skipped with the reason; under CI=true it fails instead, because .ci/run
provides them and a skipped end-to-end test must never pass for a green run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import filelock
import pytest

TESTBED_DIR = Path(__file__).resolve().parents[1] / "testbed"
# The test bed is a script of its own (runnable by hand), not a package: import it by path.
sys.path.insert(0, str(TESTBED_DIR))

import labctl_testbed as tb  # noqa: E402

from labctl.providers.lxc import network as lxcnet  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

VAGRANT_TIMEOUT = 600

# What both test-bed groups (tests/integration/groups.py) need once (the box, the rootfs cache,
# the module tree, the cleanup of a killed run's containers) is made under one file lock.
# One id per run, the same in every worker of it (xdist sets it); a run without xdist makes its own.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


@contextlib.contextmanager
def testbed_lock() -> Iterator[None]:
    """Held while one worker makes what every worker shares (box, caches, the cleanup)."""
    tb.STATE.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(tb.STATE / ".session.lock")):
        yield


def remove_stale_lab_containers_once() -> str:
    """Containers a killed earlier run left, removed by the first worker of this run only: a
    second worker doing it again would remove the labs the first has booted since."""
    marker = tb.STATE / ".session-run"
    if marker.exists() and marker.read_text() == RUN_ID:
        return ""
    removed = ", ".join(tb.remove_stale_lab_containers())
    marker.write_text(RUN_ID)
    return removed


def require_testbed() -> None:
    """Skip (fail under CI=true) when this machine cannot run the lxc test bed."""
    missing = tb.missing_prerequisites()
    if not missing:
        return
    reason = "lxc test bed unavailable: " + "; ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide the test bed)", pytrace=False)
    pytest.skip(reason)


# Measured seconds of this session, shown in the terminal summary (visible without -s).
TIMES: dict[str, float | str] = {}


@pytest.fixture(scope="session")
def testbed_times(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float | str]:
    """Measured seconds, filled by fixtures and tests, written to JSON by the tests."""
    TIMES["json"] = str(tmp_path_factory.mktemp("times") / "testbed-times.json")
    return TIMES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if len(TIMES) > 1:
        terminalreporter.section("lxc test bed: measured times (seconds)")
        for key, value in sorted(TIMES.items()):
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(scope="session")
def lxc_box(testbed_times: dict[str, float | str]) -> dict[str, object]:
    """The vagrant-lxc box labctl/debian-bookworm, built (or taken from the cache) and added."""
    require_testbed()
    with testbed_lock():
        tb.ensure_module_tree()
        testbed_times["stale_lab_containers_removed"] = remove_stale_lab_containers_once()
        built = tb.build_box()
    testbed_times["box_build"] = float(str(built["seconds"]))
    testbed_times["box_build_cache"] = (
        "box file"
        if built["box_from_cache"]
        else "rootfs"
        if built["rootfs_from_cache"]
        else "none (debootstrap)"
    )
    return built


@pytest.fixture(scope="session")
def lxc_host_factory(
    testbed_times: dict[str, float | str],
) -> Iterator[Callable[[int], list[tb.Host]]]:
    """A callable giving N running plain hosts (created once per session, torn down after)."""
    require_testbed()
    pool: list[tb.Host] = []

    def hosts(count: int) -> list[tb.Host]:
        if count > len(pool):
            start = time.monotonic()
            with testbed_lock():
                pool[:] = tb.hosts_up(count, keep=len(pool))
            testbed_times[f"lxc_hosts_create_{count}"] = round(time.monotonic() - start, 1)
        return pool[:count]

    yield hosts
    tb.hosts_down()


@pytest.fixture(scope="session")
def lxc_hosts(lxc_host_factory: Callable[[int], list[tb.Host]]) -> list[tb.Host]:
    """Three plain LXC hosts: name, ip, user `vagrant` (sudo) and root, the test bed's key."""
    return lxc_host_factory(3)


@dataclass(frozen=True)
class Machine:
    """A machine of a Vagrant lab as `vagrant ssh-config` describes it."""

    name: str
    host: str
    user: str
    port: int
    key_path: Path


def parse_ssh_config(text: str) -> dict[str, Machine]:
    """Machines from `vagrant ssh-config` output."""
    machines: dict[str, Machine] = {}
    blocks = re.split(r"^Host\s+", text, flags=re.MULTILINE)
    for block in blocks[1:]:
        lines = block.splitlines()
        name = lines[0].strip()
        opts = {}
        for line in lines[1:]:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                opts[parts[0]] = parts[1].strip('"')
        machines[name] = Machine(
            name, opts["HostName"], opts["User"], int(opts["Port"]), Path(opts["IdentityFile"])
        )
    return machines


@dataclass
class VagrantLab:
    """A lab directory with a Vagrantfile for provider lxc, and the host network it needs."""

    directory: Path
    lab: str
    cidr: str
    env: dict[str, str] = field(default_factory=dict)

    def vagrant(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["vagrant", *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=VAGRANT_TIMEOUT,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"vagrant {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}",
                pytrace=False,
            )
        return proc

    def machine_names(self) -> list[str]:
        out = self.vagrant("status", "--machine-readable").stdout
        names = []
        for line in out.splitlines():
            parts = line.split(",")
            if len(parts) > 3 and parts[2] == "state" and parts[1] not in names:
                names.append(parts[1])
        return names

    def up(self, *names: str) -> float:
        """`vagrant up` (all machines, one after another); returns seconds."""
        lxcnet.ensure_lab_network(self.lab, self.cidr)
        start = time.monotonic()
        self.vagrant("up", "--provider", "lxc", *names)
        return time.monotonic() - start

    def up_parallel(self) -> float:
        """One `vagrant up NAME` process per machine, all at once; returns seconds."""
        lxcnet.ensure_lab_network(self.lab, self.cidr)
        names = self.machine_names()
        start = time.monotonic()
        procs = [
            subprocess.Popen(
                ["vagrant", "up", "--provider", "lxc", name],
                cwd=self.directory,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name in names
        ]
        outputs = [p.communicate(timeout=VAGRANT_TIMEOUT)[0] for p in procs]
        elapsed = time.monotonic() - start
        failed = [
            (n, p.returncode, o)
            for n, p, o in zip(names, procs, outputs, strict=True)
            if p.returncode != 0
        ]
        if failed:
            pytest.fail(f"parallel vagrant up failed: {failed}", pytrace=False)
        return elapsed

    def ssh_config(self) -> dict[str, Machine]:
        return parse_ssh_config(self.vagrant("ssh-config").stdout)

    def destroy(self) -> float:
        """`vagrant destroy -f` and removal of the lab's bridge and NAT rules; returns seconds."""
        start = time.monotonic()
        if (self.directory / ".vagrant").exists():
            self.vagrant("destroy", "-f")
        lxcnet.remove_lab_network(self.lab)
        return time.monotonic() - start


@pytest.fixture(scope="session")
def vagrant_lxc_lab(
    lxc_box: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., VagrantLab]]:
    """Make labs from a directory holding a Vagrantfile (later: a labctl spec); destroyed after.

    Call it as `vagrant_lxc_lab(source_dir, lab="demo", cidr="192.168.56.0/24")`: the directory
    is copied into the session's tmp dir, nothing is booted until the test calls `up()`.
    """
    labs: list[VagrantLab] = []
    env = dict(os.environ, VAGRANT_DEFAULT_PROVIDER="lxc", VAGRANT_CHECKPOINT_DISABLE="1")

    def make(source: Path, *, lab: str, cidr: str) -> VagrantLab:
        target = tmp_path_factory.mktemp(f"lab-{lab}")
        shutil.copytree(source, target, dirs_exist_ok=True)
        made = VagrantLab(target, lab, cidr, env)
        labs.append(made)
        return made

    yield make
    for lab in labs:
        lab.destroy()
