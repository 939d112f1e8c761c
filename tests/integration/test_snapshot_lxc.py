"""Snapshots for real on the lxc test bed: a vagrant-lxc lab brought up through the CLI, saved,
changed on every machine, restored (the change is gone everywhere, SSH and vagrant-lxc still
work), reset with the checks, listed, deleted, and destroyed with its snapshot copies.

The lab stops after wait-ssh (no K3s is needed to prove the machines go back in time); the
`clock` check is the one that can pass without K3s, `nodes-ready` the one that must fail.
Save and restore seconds land in the `testbed_times` summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli import labctl
from tests.integration.test_ansible_roles import make_offline_dir

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAB = "lcsnap"
CIDR = "192.168.59.0/24"
SPEC = f"""\
name: {LAB}
provider: lxc
box: labctl/debian-bookworm
network: {{cidr: {CIDR}}}
servers: {{count: 1, cpus: 1, memory: 1024}}
agents: {{count: 2, cpus: 1, memory: 768}}
"""
NODES = ["server-1", "agent-1", "agent-2"]
MACHINES = [f"{LAB}-{n}" for n in NODES]
MARK = "/root/after-snapshot"


def timed(times: dict[str, float | str], key: str, workdir: Path, *args: str) -> str:
    started = time.monotonic()
    out = labctl(workdir, *args).stdout
    times[key] = round(time.monotonic() - started, 1)
    return out


def containers() -> set[str]:
    out = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=False).stdout
    return {name for name in out.split() if name.startswith(f"{LAB}-")}


def vagrant(lab_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["vagrant", *args], cwd=lab_dir, capture_output=True, text=True, check=False,
        timeout=300, env={**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def lab(  # type: ignore[no-untyped-def]
    lxc_box: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
    testbed_times: dict[str, float | str],
):
    del lxc_box  # built and added to Vagrant; the spec names it
    workdir = tmp_path_factory.mktemp("snapshot")
    (workdir / "lab.yaml").write_text(SPEC)
    offline = make_offline_dir(workdir / "offline")
    started = time.monotonic()
    labctl(workdir, "up", "--offline", str(offline), "--until", "wait-ssh")
    testbed_times["snapshot 00 up --until wait-ssh (3 machines)"] = round(
        time.monotonic() - started, 1
    )
    yield workdir
    labctl(workdir, "destroy", "--yes", check=False)


# The tests below run in file order on one lab, each starting where the previous one left it.


def test_bad_names_and_a_missing_baseline_are_refused(lab) -> None:  # type: ignore[no-untyped-def]
    workdir = lab
    assert containers() == set(MACHINES)
    assert "has no snapshots" in labctl(workdir, "snapshot", "list").stdout
    bad = labctl(workdir, "snapshot", "save", "Not_Valid", check=False)
    assert bad.returncode == 2, bad.stderr
    assert "snapshot name 'Not_Valid' is not valid" in bad.stderr
    missing = labctl(workdir, "reset", check=False)
    assert missing.returncode == 2, missing.stderr
    assert f"lab '{LAB}' has no snapshot 'baseline'" in missing.stderr


def test_restore_undoes_a_change_on_every_machine(  # type: ignore[no-untyped-def]
    lab, testbed_times: dict[str, float | str]
) -> None:
    workdir = lab
    lab_dir = workdir / ".labctl" / LAB
    saved = timed(testbed_times, "snapshot 01 save baseline (3 machines)", workdir,
                  "snapshot", "save", "baseline")  # fmt: skip
    assert "Saved snapshot baseline: 3 machines in" in saved
    for machine in MACHINES:
        hostname = lab_dir / "snapshots" / "baseline" / machine / "rootfs" / "etc" / "hostname"
        assert hostname.read_text().strip() == machine
    assert containers() == set(MACHINES)
    again = labctl(workdir, "snapshot", "save", "baseline", check=False)
    assert again.returncode == 2
    assert "pass --force to replace it" in again.stderr

    for node in NODES:  # a change after the snapshot, on every machine
        labctl(workdir, "ssh", node, "--", "sudo", "touch", MARK)
        assert labctl(workdir, "ssh", node, "--", "sudo", "test", "-e", MARK).returncode == 0

    restored = timed(testbed_times, "snapshot 02 restore baseline (3 machines)", workdir,
                     "snapshot", "restore", "baseline")  # fmt: skip
    assert "Restored snapshot baseline: 3 machines in" in restored
    for node in NODES:
        gone = labctl(workdir, "ssh", node, "--", "sudo", "test", "!", "-e", MARK, check=False)
        assert gone.returncode == 0, f"{node}: {MARK} survived the restore"
        name = labctl(workdir, "ssh", node, "--", "hostname").stdout.strip()
        assert name == f"{LAB}-{node}"


def test_vagrant_lxc_still_knows_the_restored_machines(lab) -> None:  # type: ignore[no-untyped-def]
    lab_dir = lab / ".labctl" / LAB
    status = vagrant(lab_dir, "status", "--machine-readable")
    assert status.returncode == 0, status.stderr
    states = {
        parts[1]: parts[3]
        for parts in (line.split(",", 3) for line in status.stdout.splitlines())
        if len(parts) == 4 and parts[2] == "state"
    }
    assert states == dict.fromkeys(MACHINES, "running")
    via_vagrant = vagrant(lab_dir, "ssh", MACHINES[1], "-c", f"sudo test ! -e {MARK} && hostname")
    assert via_vagrant.returncode == 0, via_vagrant.stderr
    assert via_vagrant.stdout.strip().endswith(MACHINES[1])


def test_reset_restores_baseline_then_runs_the_checks(  # type: ignore[no-untyped-def]
    lab, testbed_times: dict[str, float | str]
) -> None:
    workdir = lab
    for node in NODES:
        labctl(workdir, "ssh", node, "--", "sudo", "touch", MARK)
    # The clock check needs no K3s: it passes, and the reset exits 0.
    reset = timed(testbed_times, "snapshot 03 reset --only clock (3 machines)", workdir,
                  "reset", "--only", "clock")  # fmt: skip
    assert "PASS clock" in reset, reset
    assert "all checks passed" in reset
    for node in NODES:
        gone = labctl(workdir, "ssh", node, "--", "sudo", "test", "!", "-e", MARK, check=False)
        assert gone.returncode == 0, f"{node}: reset left {MARK}"
    # Without K3s the nodes cannot be Ready: a failing check makes reset exit 6, after it was
    # retried for --settle seconds (the default three minutes would only wait longer here).
    started = time.monotonic()
    failing = labctl(workdir, "reset", "--only", "nodes-ready", "--settle", "15", check=False,
                     timeout=600)  # fmt: skip
    testbed_times["snapshot 04 reset --only nodes-ready, failing"] = round(
        time.monotonic() - started, 1
    )
    assert failing.returncode == 6, failing.stdout + failing.stderr
    assert "checks failed" in failing.stdout


def test_list_delete_and_destroy_removes_the_copies(  # type: ignore[no-untyped-def]
    lab, testbed_times: dict[str, float | str]
) -> None:
    workdir = lab
    lab_dir = workdir / ".labctl" / LAB
    listed = json.loads(labctl(workdir, "snapshot", "list", "-o", "json").stdout)
    assert [(s["name"], s["provider"], s["machines"]) for s in listed] == [
        ("baseline", "lxc", MACHINES)
    ]
    manifest = json.loads((lab_dir / "snapshots.json").read_text())
    assert manifest["snapshots"][0]["state"]["phases"]["wait-ssh"]["status"] == "done"

    second = timed(testbed_times, "snapshot 05 save second (hard links to baseline)", workdir,
                   "snapshot", "save", "second")  # fmt: skip
    assert "Saved snapshot second: 3 machines" in second
    shell = lab_dir / "snapshots" / "second" / MACHINES[0] / "rootfs" / "usr" / "bin" / "bash"
    assert shell.stat().st_nlink >= 2, "unchanged files are hard links to the older snapshot"
    labctl(workdir, "snapshot", "delete", "baseline")
    assert not (lab_dir / "snapshots" / "baseline").exists()
    listed = json.loads(labctl(workdir, "snapshot", "list", "-o", "json").stdout)
    assert [s["name"] for s in listed] == ["second"]
    unknown = labctl(workdir, "snapshot", "restore", "baseline", check=False)
    assert unknown.returncode == 2
    assert "this lab's snapshots: second" in unknown.stderr

    destroyed = labctl(workdir, "destroy", "--yes").stdout
    assert "removed the lab's lxc snapshots" in destroyed
    assert containers() == set()
    assert not (lab_dir / "snapshots").exists()
    assert not (lab_dir / "snapshots.json").exists()
