"""`controller: lab` on the lxc test bed (issue 20): Ansible runs on the lab's first server, and
labctl on this host runs in a Python where what Windows lacks cannot be imported (ansible,
ansible_runner, pexpect, pty, termios, fcntl, resource, tty, pwd, grp: the blocker of
tests/unit/test_host_without_posix.py). No Windows machine runs here; this proves the host side
needs none of them and that the in-lab controller does all the Ansible work.

Real: vagrant-lxc machines, SSH, the controller's venv made from wheels pip downloaded for the
machine's Python and installed there with no index, ansible-runner on the controller. K3s is
tests/fakes/k3s-fake through the roles' offline path, so the run stops at kubeconfig.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from labctl.lab.controller import GuestPython, pip_platforms
from labctl.lab.incontroller import controller_requirements
from labctl.tools import wheels
from tests.integration.test_ansible_roles import make_offline_dir
from tests.unit.test_host_without_posix import SITECUSTOMIZE

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAB = "ctlab"
CIDR = "192.168.62.0/24"
SPEC = f"""\
name: {LAB}
provider: lxc
box: labctl/debian-bookworm
controller: lab
network: {{cidr: {CIDR}}}
servers: {{count: 1, cpus: 1, memory: 1024}}
agents: {{count: 2, cpus: 1, memory: 768}}
"""
SERVER, AGENT = f"{LAB}-server-1", f"{LAB}-agent-1"
ROOT = f"/home/vagrant/.labctl-controller/{LAB}"
# The box's python3 (Debian 12): the wheel set an offline bundle carries for it.
BOX_PYTHON = GuestPython((3, 11), "x86_64", (2, 36), "/home/vagrant")


def run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """labctl as on Windows: the blocker's sitecustomize first on the path."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(workdir / "as-on-windows")}
    result = subprocess.run([sys.executable, "-m", "labctl", *args], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=900, check=False,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def on(machine: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["lxc-attach", "--name", machine, "--", "sh", "-c", command],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip


def phase_events(stdout: str) -> list[dict[str, object]]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [e for e in events if e.get("event") == "phase"]


@pytest.fixture(scope="module")
def lab(lxc_box: dict[str, object], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    del lxc_box
    workdir = tmp_path_factory.mktemp("controller-lab")
    (workdir / "lab.yaml").write_text(SPEC)
    (workdir / "as-on-windows").mkdir()
    (workdir / "as-on-windows" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    offline = make_offline_dir(workdir / "offline")
    # What `labctl bundle fetch --controller-python cp311-x86_64` puts into a bundle.
    wheels.download(offline / "controller" / BOX_PYTHON.tag, controller_requirements(),
                    python=BOX_PYTHON.version, platforms=pip_platforms(BOX_PYTHON))  # fmt: skip
    yield workdir, offline
    run(workdir, "destroy", "--yes", check=False)


def test_up_to_kubeconfig_with_the_controller_in_the_lab(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    lab_dir = workdir / ".labctl" / LAB
    doctor = run(workdir, "doctor", check=False)
    assert "controller" in doctor.stdout, doctor.stdout

    import labctl_testbed as tb  # on sys.path through tests/integration/conftest.py

    # As at a venue without internet: the controller's venv comes from the bundle's wheels alone.
    with tb.cut_off(CIDR):
        first = run(workdir, "up", "--offline", str(offline), "--until", "kubeconfig", "-o", "json")
        pypi = on(SERVER, "python3 -c 'import urllib.request as u; "
                  "u.urlopen(\"https://pypi.org/simple/\", timeout=5)'")  # fmt: skip
        assert pypi.returncode != 0, "the machines must be cut off from PyPI"
    phases = phase_events(first.stdout)
    done = [e["phase"] for e in phases if e["status"] == "done"]
    assert done == ["preflight", "render", "boot", "wait-ssh", "controller", "prepare",
                    "k3s-servers", "k3s-agents", "kubeconfig"], done  # fmt: skip
    # The same events as host mode: one started and one finished event per phase, same keys.
    for event in phases:
        keys = set(event)
        assert keys in (
            {"event", "phase", "status", "number", "total", "time"},
            {"event", "phase", "status", "elapsed", "error", "note", "time"},
        ), keys
    assert (lab_dir / "kubeconfig").stat().st_mode & 0o777 == 0o600
    assert "server: https://192.168.62.10:6443" in (lab_dir / "kubeconfig").read_text()
    assert (lab_dir / "secrets" / "k3s-token").exists()
    # The four Ansible phases were one run there (labctl.lab.phasebatch), under one name.
    runs = sorted(p.name for p in (lab_dir / "runs").iterdir()
                  if p.name.endswith("-prepare..kubeconfig"))  # fmt: skip
    assert runs
    assert (lab_dir / "runs" / runs[-1] / "job_events").is_dir()
    assert (lab_dir / "runs" / runs[-1] / "status").read_text() == "successful"
    # Ansible ran there, not here: the venv and the project are on the server.
    assert on(SERVER, f"{ROOT}/venv/bin/ansible-playbook --version").returncode == 0
    assert on(SERVER, f"test -d {ROOT}/project/runs/{runs[-1]}").returncode == 0

    # Again through the same controller: the venv is kept and a role run there changes nothing.
    # (Every role's own idempotence is test_ansible_roles'; here one phase shows the path.)
    again = run(workdir, "up", "--offline", str(offline), "--from", "controller",
                "--until", "prepare", "-o", "json")  # fmt: skip
    notes = {e["phase"]: e["note"] for e in phase_events(again.stdout) if e["status"] == "done"}
    assert notes["controller"].endswith("venv up to date, Python cp311-x86_64"), notes
    assert notes["prepare"] == "0 changed", notes


def test_a_role_failure_names_host_and_task_and_ctrl_c_exits_130(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    # No Python Ansible can run on the agent (interpreter discovery would find python3.11 behind
    # a removed python3 link, so the interpreter itself loses its x bit).
    on(AGENT, "chmod a-x /usr/bin/python3.11")
    try:
        failed = run(workdir, "up", "--offline", str(offline), "--from", "prepare",
                     "--until", "prepare", check=False)  # fmt: skip
    finally:
        on(AGENT, "chmod a+x /usr/bin/python3.11")
    assert failed.returncode == 5, failed.stderr
    assert f"{AGENT}: failed at task " in failed.stderr, failed.stderr

    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(workdir / "as-on-windows")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl", "up", "--offline", str(offline), "--from", "prepare",
         "--until", "k3s-servers"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("prepare: "):  # its first task has started (facts cached)
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted during prepare" in err
    # (The brackets keep pgrep from finding the shell that runs it.)
    left = on(SERVER, "pgrep -af '[a]nsible-playbook|[r]un-phase.py'").stdout.strip()
    assert left == "", f"the controller still runs: {left}"
    resumed = run(workdir, "up", "--offline", str(offline), "--until", "kubeconfig")
    assert "prepare: done in" in resumed.stdout


def test_destroy_leaves_nothing_of_the_controller(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, _ = lab
    lab_dir = workdir / ".labctl" / LAB
    assert (lab_dir / "controller.json").exists()
    assert "labctl-controller:" in on(AGENT, "cat /home/vagrant/.ssh/authorized_keys").stdout
    run(workdir, "destroy", "--yes")
    assert not (lab_dir / "controller.json").exists()
    assert not (lab_dir / "secrets" / "controller-ed25519").exists()
    assert not (lab_dir / "secrets" / "controller-ed25519.pub").exists()
    listed = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=False)
    assert not [n for n in listed.stdout.split() if n.startswith(LAB)]
