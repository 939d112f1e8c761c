"""Time to a ready lab: `labctl up --until kubeconfig` beside the raw tools on the same files.

On the lxc test bed (root; tests/testbed) with the K3s test double (k3s-fake, from an offline
directory as the test bed's own tests use it), the box built and added once before the rounds.
Each round runs both, in alternating order, from no machines:

- labctl: `labctl up --offline DIR --until kubeconfig -o json`; its phase events give the time
  of each phase.
- raw: the floor made of the raw tools on the files `labctl render` wrote (not timed): the lab
  network vagrant-lxc needs (labctl's lxc provider makes it inside boot), one `vagrant up` of
  every machine, `vagrant ssh-config` into the inventory, then one `ansible-playbook site.yml`
  with the lab's ansible.cfg and the tags of the phases prepare .. kubeconfig.

Between runs the machines are destroyed (not timed). After the rounds, with a labctl lab up,
it times what a learner types at a ready lab: `labctl up` with nothing left to do and `labctl
status`, beside `vagrant status` (what asking Vagrant costs). Targets (issue 15): labctl <= 1.10x
the raw floor; a no-op up <= 1.0 s; status <= 1.0 s.

    sudo python bench/up.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "testbed"))
sys.path.insert(0, str(ROOT))

import labctl_testbed as tb  # noqa: E402

from labctl import resources  # noqa: E402
from labctl.lab.labdir import write_atomic  # noqa: E402
from labctl.providers.lxc import network as lxcnet  # noqa: E402
from labctl.render import ssh_inventory  # noqa: E402
from labctl.tools.vagrant import targets_from_ssh_config  # noqa: E402
from tests.integration.test_ansible_roles import make_offline_dir  # noqa: E402

LAB = "benchup"
CIDR = "192.168.71.0/24"
SPEC = f"""\
name: {LAB}
provider: lxc
box: {tb.BOX_NAME}
network: {{cidr: {CIDR}}}
servers: {{count: 1, cpus: 1, memory: 1024}}
agents: {{count: 2, cpus: 1, memory: 512}}
"""
PROVISION_PHASES = ("prepare", "k3s-servers", "k3s-agents", "kubeconfig")
TARGET_RATIO = 1.10
TARGET_READY_LAB = 1.0
# labctl with the Ansible settings it renders, as the raw floor: no Mitogen even where installed.
ENV = {**os.environ, "NO_COLOR": "1", "VAGRANT_CHECKPOINT_DISABLE": "1", "LABCTL_MITOGEN": "0"}


def sh(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, env={**ENV, **env}, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=1800)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} failed ({proc.returncode}):\n"
                 f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")  # fmt: skip
    return proc


def labctl(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sh([sys.executable, "-m", "labctl", *args], workdir)


def timed(action: object) -> float:
    start = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - start


def labctl_round(workdir: Path, offline: Path) -> tuple[float, dict[str, float]]:
    start = time.monotonic()
    out = labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig", "-o", "json")
    elapsed = time.monotonic() - start
    phases = {}
    for line in out.stdout.splitlines():
        event = json.loads(line)
        if event.get("event") == "phase" and event.get("status") == "done":
            phases[event["phase"]] = float(event["elapsed"])
    labctl(workdir, "destroy", "--yes")
    return elapsed, phases


def raw_round(workdir: Path, offline: Path, tags: str) -> tuple[float, dict[str, float]]:
    labctl(workdir, "render")
    lab_dir = workdir / ".labctl" / LAB
    parts: dict[str, float] = {}

    def ssh_config() -> None:
        targets = targets_from_ssh_config(sh(["vagrant", "ssh-config"], lab_dir).stdout)
        known = PurePosixPath((lab_dir / "known_hosts").as_posix())
        write_atomic(lab_dir / "inventory" / "ssh.yml", ssh_inventory(targets, known))

    playbooks = resources.playbooks_dir()
    playbook = ["ansible-playbook", "-i", str(lab_dir / "inventory"), str(playbooks / "site.yml"),
                "--tags", tags, "-e", f"labctl_offline_dir={offline}"]  # fmt: skip
    parts["network"] = timed(lambda: lxcnet.ensure_lab_network(LAB, CIDR))
    parts["vagrant up"] = timed(lambda: sh(["vagrant", "up", "--provider", "lxc"], lab_dir))
    parts["vagrant ssh-config"] = timed(ssh_config)
    parts["ansible-playbook"] = timed(
        lambda: sh(playbook, playbooks, ANSIBLE_CONFIG=str(lab_dir / "ansible.cfg"))
    )
    sh(["vagrant", "destroy", "-f"], lab_dir)
    lxcnet.remove_lab_network(LAB)
    for leftover in ("state.json", "known_hosts", "facts", "kubeconfig"):
        path = lab_dir / leftover
        if path.is_file():
            path.unlink()
    return sum(parts.values()), parts


def ready_lab(workdir: Path, offline: Path, runs: int) -> dict[str, float]:
    """Medians of what a learner types at a ready lab."""
    labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig")
    lab_dir = workdir / ".labctl" / LAB
    commands = {
        "labctl up (nothing to do)": lambda: labctl(
            workdir, "up", "--offline", str(offline), "--until", "kubeconfig"
        ),
        "labctl status": lambda: labctl(workdir, "status"),
        "vagrant status": lambda: sh(["vagrant", "status"], lab_dir),
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command))
    labctl(workdir, "destroy", "--yes")
    return {name: statistics.median(times) for name, times in samples.items()}


def report(
    args: argparse.Namespace,
    totals: dict[str, list[float]],
    phase_times: dict[str, list[float]],
    raw_parts: dict[str, list[float]],
    ready: dict[str, float],
) -> bool:
    """Print the medians and ratios; True when a target was missed."""
    labctl_median = statistics.median(totals["labctl"])
    raw_median = statistics.median(totals["raw"])
    ratio = labctl_median / raw_median
    print(f"\nup to kubeconfig, 1 server + 2 agents, median of {args.rounds} interleaved rounds")
    print(f"  labctl up --until kubeconfig  {labctl_median:7.1f}s")
    print(f"  raw floor                     {raw_median:7.1f}s")
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  ratio labctl / raw            {ratio:7.2f}x   "
          f"target <= {TARGET_RATIO:.2f}x  {verdict}")  # fmt: skip
    print("\nlabctl's phases (median seconds)")
    for name, times in phase_times.items():
        print(f"  {name:<28} {statistics.median(times):7.1f}s")
    print("raw floor's parts (median seconds)")
    for name, times in raw_parts.items():
        print(f"  {name:<28} {statistics.median(times):7.1f}s")
    print(f"\nat a ready lab (median of {args.runs})")
    failed = ratio > TARGET_RATIO
    for name, seconds in ready.items():
        target = TARGET_READY_LAB if name.startswith("labctl") else None
        ok = target is None or seconds <= target
        failed |= not ok
        mark = f"target <= {target:.1f}s  {'ok' if ok else 'MISSED'}" if target else "-"
        print(f"  {name:<28} {seconds:7.2f}s   {mark}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="runs of each ready-lab command")
    args = parser.parse_args()
    missing = tb.missing_prerequisites()
    if missing:
        sys.exit("error: the lxc test bed is not available: " + "; ".join(missing))
    tb.ensure_module_tree()
    tb.build_box()
    tb.remove_stale_lab_containers()

    with tempfile.TemporaryDirectory(prefix="labctl-bench-up-") as tmp:
        work = Path(tmp)
        offline = make_offline_dir(work / "offline")
        dirs = {"labctl": work / "labctl", "raw": work / "raw"}
        for directory in dirs.values():
            directory.mkdir()
            (directory / "lab.yaml").write_text(SPEC)
        plan = json.loads(labctl(dirs["labctl"], "up", "--dry-run", "-o", "json").stdout)
        tags = ",".join(t for p in plan["plan"]["phases"] if p["name"] in PROVISION_PHASES
                        for t in p["tags"])  # fmt: skip
        totals: dict[str, list[float]] = {"labctl": [], "raw": []}
        phase_times: dict[str, list[float]] = {}
        raw_parts: dict[str, list[float]] = {}
        for number in range(args.rounds):
            order = ("labctl", "raw") if number % 2 == 0 else ("raw", "labctl")
            for who in order:
                if who == "labctl":
                    total, parts = labctl_round(dirs["labctl"], offline)
                    into = phase_times
                else:
                    total, parts = raw_round(dirs["raw"], offline, tags)
                    into = raw_parts
                totals[who].append(total)
                for name, seconds in parts.items():
                    into.setdefault(name, []).append(seconds)
                print(f"round {number + 1}: {who:<6} {total:6.1f}s", flush=True)
        ready = ready_lab(dirs["labctl"], offline, args.runs)

    sys.exit(1 if report(args, totals, phase_times, raw_parts, ready) else 0)


if __name__ == "__main__":
    main()
