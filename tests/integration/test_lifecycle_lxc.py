"""The whole lifecycle through the real CLI on the lxc test bed: up, status, ssh, kubeconfig,
halt, up again, destroy; and faults caused for real (a held lock, Ctrl-C during boot).

Vagrant (vagrant-lxc), the lab bridge, SSH and Ansible are all real. K3s cannot be downloaded
here, so the K3s phases install tests/fakes/k3s-fake through the roles' offline path: config,
token, units, waits and the kubeconfig fetch are real, and no claim that K3s works rests on it.
The addons phase (kubectl apply of the demo app) and the smoke checks need a real K3s API, so
the run stops after the kubeconfig phase (`--until kubeconfig`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl.workshop import bundle
from tests.integration.cli import CALLS, labctl
from tests.integration.test_ansible_roles import make_offline_dir

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAB = "lce2e"
CIDR = "192.168.58.0/24"
SPEC = f"""\
name: {LAB}
provider: lxc
box: labctl/debian-bookworm
network: {{cidr: {CIDR}}}
servers: {{count: 1, cpus: 1, memory: 1024}}
agents: {{count: 2, cpus: 1, memory: 768}}
"""
MACHINES = [f"{LAB}-server-1", f"{LAB}-agent-1", f"{LAB}-agent-2"]


def containers() -> set[str]:
    out = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=False).stdout
    return {name for name in out.split() if name.startswith(LAB)}


def states_agree_with_vagrant(workdir: Path) -> dict[str, str]:
    """`labctl status` reads machine states from LXC directly (labctl.providers.machine_states);
    they must be what `vagrant status` says. Returns them."""
    machines = json.loads(labctl(workdir, "status", "-o", "json").stdout)["machines"]
    ours = {m["name"]: m["state"] for m in machines}
    lab_dir = workdir / ".labctl" / LAB
    argv = ["vagrant", "status", "--machine-readable"]
    text = subprocess.run(argv, cwd=lab_dir, capture_output=True, text=True, check=True,
                          timeout=300).stdout  # fmt: skip
    vagrants = {p[1]: p[3] for p in (line.split(",") for line in text.splitlines())
                if len(p) > 3 and p[2] == "state"}  # fmt: skip
    assert ours == vagrants, (ours, vagrants)
    return ours


def bridge_exists() -> bool:
    from labctl.providers.lxc.network import bridge_name

    return Path(f"/sys/class/net/{bridge_name(LAB)}").exists()


def fetched_bundle(workdir: Path) -> Path:
    """The lab's offline bundle as a facilitator makes it: `labctl bundle fetch` (real CLI, real
    skopeo, the box exported from Vagrant's store) against local stand-ins of the K3s release
    host (serving k3s-fake as the release's binary) and of a registry holding the demo image."""
    from tests.integration.test_bundle_fetch import push_image, serving

    def lay(root: Path, _base: str) -> None:
        (root / "k3s").mkdir(parents=True)
        stand_in = make_offline_dir(root / "k3s" / "v1.31.12+k3s1")  # the spec's default K3s
        for image in stand_in.glob("*-image-*.tar"):
            image.unlink()  # the demo image comes from the registry stand-in instead
        push_image(root / "registry", bundle.DEMO_IMAGE)

    offline = workdir / "offline"
    with serving(workdir / "upstream", lay) as upstream:
        labctl(workdir, "bundle", "fetch", "--dir", str(offline), "--image-tool", "skopeo",
               "--base-url", f"k3s={upstream.url('k3s')}",
               "--base-url", f"registry={upstream.base}")  # fmt: skip
    return offline


@pytest.fixture(scope="module")
def lab(  # type: ignore[no-untyped-def]
    lxc_box: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
    testbed_times: dict[str, float | str],
):
    del lxc_box  # built and added to Vagrant; the spec names it
    first_call = len(CALLS)  # other tests' calls are in CALLS too
    workdir = tmp_path_factory.mktemp("lifecycle")
    (workdir / "lab.yaml").write_text(SPEC)
    offline = fetched_bundle(workdir)
    yield workdir, offline
    labctl(workdir, "destroy", "--yes", check=False)
    for number, (command, seconds) in enumerate(CALLS[first_call:], start=1):
        testbed_times[f"lifecycle {number:02d} labctl {command}"] = seconds


def another_directory_is_refused(workdir: Path, offline: Path) -> None:
    """The same lab name from another directory: its `up` refuses the running lab's containers
    (they carry the first directory's marker) instead of removing them as leftovers of its own."""
    other = workdir / "elsewhere"
    other.mkdir()
    (other / "lab.yaml").write_text(SPEC)
    clash = labctl(other, "up", "--offline", str(offline), "--until", "boot", check=False)
    assert clash.returncode == 3, clash.stdout + clash.stderr
    assert f"{LAB}-server-1 already exists and is not this lab's" in clash.stderr
    assert containers() == set(MACHINES)


def up_cut_off(workdir: Path, offline: Path) -> subprocess.CompletedProcess[str]:
    """`up --offline` as at a venue without internet (issue 18): the machines reach nothing
    beyond the lab network, so an apt refresh or a download in any phase fails the run."""
    import labctl_testbed as tb  # on sys.path through tests/integration/conftest.py

    with tb.cut_off(CIDR):
        up = labctl(workdir, "-v", "up", "--offline", str(offline), "--until", "kubeconfig")
        mirror = labctl(workdir, "ssh", "server-1", "--", "curl", "-fsS", "-o", "/dev/null",
                        "--max-time", "5", "http://deb.debian.org/debian/",
                        check=False)  # fmt: skip
        assert mirror.returncode != 0, "the machines must be cut off from the mirror"
    return up


def test_up_status_ssh_kubeconfig_halt_up_destroy(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    lab_dir = workdir / ".labctl" / LAB

    up = up_cut_off(workdir, offline)
    events = labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig", "-o", "json")
    token = (lab_dir / "secrets" / "k3s-token").read_text().strip()
    for shown in (up.stdout, up.stderr, events.stdout, events.stderr):
        assert token not in shown, "the cluster token reached the terminal or the JSON events"
    leaks = [
        str(path)
        for path in lab_dir.rglob("*")
        if path.is_file() and "secrets" not in path.parts and token.encode() in path.read_bytes()
    ]
    assert leaks == [], f"the cluster token is in {leaks}"
    for phase in ("preflight", "render", "boot", "wait-ssh", "prepare", "k3s-servers",
                  "k3s-agents", "kubeconfig"):  # fmt: skip
        assert f"{phase}: done in" in up.stdout, up.stdout
    assert f"export KUBECONFIG={lab_dir / 'kubeconfig'}" in up.stdout
    assert containers() == set(MACHINES)

    another_directory_is_refused(workdir, offline)

    assert set(states_agree_with_vagrant(workdir).values()) == {"running"}
    status = json.loads(labctl(workdir, "status", "-o", "json").stdout)
    assert [(m["name"], m["state"], m["ip"]) for m in status["machines"]] == [
        (f"{LAB}-server-1", "running", "192.168.58.10"),
        (f"{LAB}-agent-1", "running", "192.168.58.11"),
        (f"{LAB}-agent-2", "running", "192.168.58.12"),
    ]
    phases = {p["name"]: p["status"] for p in status["phases"]}
    assert phases["kubeconfig"] == "done"
    assert phases["addons"] == "pending"
    assert status["next_phase"] == "addons"

    ssh = labctl(workdir, "ssh", "agent-2", "--", "ip", "-4", "-o", "addr", "show", "eth1")
    assert "192.168.58.12/24" in ssh.stdout
    failing = labctl(workdir, "ssh", "server-1", "--", "exit", "3", check=False)
    assert failing.returncode == 3, "labctl ssh passes the remote exit status through"
    # Every tool (Ansible, labctl's checks, `labctl ssh`) pins a machine's key under its name.
    pinned = [line.split()[0] for line in (lab_dir / "known_hosts").read_text().splitlines()]
    assert sorted(pinned) == sorted(set(pinned)) == sorted(MACHINES), pinned

    kubeconfig = Path(labctl(workdir, "kubeconfig", "path").stdout.strip())
    assert kubeconfig == lab_dir / "kubeconfig"
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
    text = kubeconfig.read_text()
    assert "https://192.168.58.10:6443" in text
    assert f"current-context: labctl-{LAB}" in text

    again = labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig")
    assert "already done for this spec, skipped" in again.stdout
    assert "boot: done" not in again.stdout

    labctl(workdir, "halt")
    assert set(states_agree_with_vagrant(workdir).values()) == {"stopped"}

    after_halt = labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig")
    assert "boot: done in" in after_halt.stdout
    assert "wait-ssh: done in" in after_halt.stdout
    for phase in ("prepare", "k3s-servers", "k3s-agents", "kubeconfig"):
        assert f"{phase}: already done for this spec, skipped" in after_halt.stdout
    states = json.loads(labctl(workdir, "status", "-o", "json").stdout)["machines"]
    assert {m["state"] for m in states} == {"running"}

    labctl(workdir, "destroy", "--yes")
    assert containers() == set()
    assert not bridge_exists()
    assert not (lab_dir / "known_hosts").exists()
    assert not (lab_dir / "kubeconfig").exists()
    assert (lab_dir / "secrets" / "k3s-token").exists(), "secrets outlive machines on purpose"


def test_destroy_refuses_without_a_terminal_unless_yes(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, _ = lab
    refused = labctl(workdir, "destroy", check=False)
    assert refused.returncode == 2
    assert "pass --yes to confirm" in refused.stderr


def test_a_held_lock_stops_a_second_labctl_at_once(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    lab_dir = workdir / ".labctl" / LAB
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from labctl.lab.lock import lab_lock\n"
         f"with lab_lock(Path({str(lab_dir)!r}), 'up'):\n"
         "    print('held', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        second = labctl(workdir, "up", "--offline", str(offline), check=False)
        assert time.monotonic() - started < 10
        assert second.returncode == 7
        assert f"pid {holder.pid} (up," in second.stderr
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the killed holder's flock: the lock is free again.
    assert labctl(workdir, "status").returncode == 0
    halted_ok = labctl(workdir, "halt", check=False)
    assert halted_ok.returncode == 0, halted_ok.stderr


def test_ctrl_c_during_boot_saves_state_and_the_next_up_resumes(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl", "up", "--offline", str(offline), "--until", "wait-ssh"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "boot:" in line and "vagrant up" not in line:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)  # to labctl alone, as a CI runner's cancel does
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted during boot" in err
    state = json.loads((workdir / ".labctl" / LAB / "state.json").read_text())
    assert state["interrupted"] is True
    assert state["phases"]["boot"]["status"] == "interrupted"
    vagrant_left = subprocess.run(["pgrep", "-f", f"vagrant up {LAB}"], capture_output=True,
                                  text=True, check=False)  # fmt: skip
    assert vagrant_left.stdout.strip() == "", "labctl must stop the vagrant it started"

    resumed = labctl(workdir, "up", "--offline", str(offline), "--until", "wait-ssh")
    assert "boot: done in" in resumed.stdout
    assert "wait-ssh: done in" in resumed.stdout


def test_faults_a_killed_machine_broken_ssh_and_ctrl_c_in_provisioning(lab) -> None:  # type: ignore[no-untyped-def]
    workdir, offline = lab
    up_to_ssh = ("up", "--offline", str(offline), "--until", "wait-ssh")
    labctl(workdir, *up_to_ssh)

    # A machine killed behind labctl's back is booted again by the next `up`.
    subprocess.run(["lxc-stop", "--kill", "--name", f"{LAB}-agent-1"], check=True)
    assert states_agree_with_vagrant(workdir)[f"{LAB}-agent-1"] == "stopped"
    revived = labctl(workdir, *up_to_ssh)
    assert f"not running: {LAB}-agent-1; booting again" in revived.stdout
    assert "boot: done in" in revived.stdout

    # SSH refused on one machine: wait-ssh fails with exit 4 naming it, after its retries.
    subprocess.run(["lxc-attach", "--name", f"{LAB}-agent-2", "--", "systemctl", "stop",
                    "ssh.socket", "ssh.service"], check=False)  # fmt: skip
    broken = labctl(workdir, "up", "--from", "wait-ssh", "--until", "wait-ssh", check=False)
    assert broken.returncode == 4, broken.stderr
    assert f"error: {LAB}-agent-2 (192.168.58.12:22) is not reachable over SSH" in broken.stderr
    subprocess.run(["lxc-attach", "--name", f"{LAB}-agent-2", "--", "systemctl", "start",
                    "ssh.service"], check=True)  # fmt: skip
    labctl(workdir, "up", "--from", "wait-ssh", "--until", "wait-ssh")

    # Ctrl-C while Ansible runs: exit 130, ansible-playbook stopped, the next `up` resumes.
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl", "up", "--offline", str(offline), "--until", "prepare"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("prepare: Gathering Facts"):
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted during prepare" in err
    lab_dir = workdir / ".labctl" / LAB
    left = subprocess.run(["pgrep", "-f", f"{lab_dir}/inventory"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert left.stdout.strip() == "", "labctl must stop the ansible-playbook it started"
    state = json.loads((lab_dir / "state.json").read_text())
    assert state["phases"]["prepare"]["status"] == "interrupted"
    resumed = labctl(workdir, "up", "--offline", str(offline), "--until", "prepare")
    assert "prepare: done in" in resumed.stdout
    assert "boot: already done for this spec, skipped" in resumed.stdout
