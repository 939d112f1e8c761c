"""Provisioning benchmark: the `prepare` phase over 1, 3 and 6 test-bed hosts, with labctl's
tuned ansible.cfg beside Ansible's defaults, same playbook, same hosts, interleaved in one run.

Needs root and the lxc test bed (tests/testbed). A warm-up run first installs every package, so
the measured runs compare Ansible's own overhead, not apt downloads. "tuned" clears the fact
cache before each run (pipelining, forks and SSH ControlPersist alone); "tuned+cache" keeps it,
as the phases of one `labctl up` do after the first. With the `mitogen` extra installed,
"tuned+mitogen" adds Mitogen's strategy to tuned+cache (labctl.tools.ansible.mitogen_env); the
other rows run without it. Targets (issue 5): tuned >= 2x faster than stock; 6 hosts <= 1.5x the
time of 1 host.

    sudo python bench/provision.py [--sizes 1,3,6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "testbed"))

import labctl_testbed as tb  # noqa: E402

from labctl.lab.labdir import render_into, write_atomic  # noqa: E402
from labctl.registry import plan_lab  # noqa: E402
from labctl.render import ssh_inventory  # noqa: E402
from labctl.spec.loader import parse_lab  # noqa: E402
from labctl.tools.ansible import mitogen_env, run_playbook  # noqa: E402
from labctl.tools.ssh import SshTarget  # noqa: E402

STOCK_CFG = "[defaults]\ninventory = inventory\n"  # everything else: Ansible's own defaults


def make_lab(base: Path, hosts: list[tb.Host]) -> Path:
    """A lab dir rendered by labctl whose machines are the given test-bed hosts, in order."""
    spec = "\n".join([
        f"name: bench{len(hosts)}",
        "provider: lxc",
        f"network: {{cidr: {tb.HOSTS_CIDR}}}",
        "servers: {count: 1, memory: 1024}",
        f"agents: {{count: {len(hosts) - 1}, memory: 512}}",
    ])  # fmt: skip
    plan = plan_lab(parse_lab(spec).lab)
    lab_dir = base / plan.name
    render_into(plan, lab_dir)
    targets = {}
    for machine, host in zip(plan.machines, hosts, strict=True):
        if machine.ip != host.ip:
            sys.exit(f"error: {machine.name} is planned at {machine.ip} but the host is {host.ip}")
        targets[machine.name] = SshTarget(machine.name, host.ip, 22, host.user, host.key_path)
    known = PurePosixPath((lab_dir / "known_hosts").as_posix())
    write_atomic(lab_dir / "inventory" / "ssh.yml", ssh_inventory(targets, known))
    write_atomic(lab_dir / "ansible-stock.cfg", STOCK_CFG)
    return lab_dir


def run(lab_dir: Path, config: str, ident: str) -> float:
    if config == "tuned":
        shutil.rmtree(lab_dir / "facts", ignore_errors=True)
    cfg = lab_dir / ("ansible-stock.cfg" if config == "stock" else "ansible.cfg")
    result = run_playbook(lab_dir, tags=["prepare"], ident=ident, config=cfg,
                          mitogen=config == "tuned+mitogen")  # fmt: skip
    if not result.ok:
        sys.exit(f"error: {config} run failed in {result.artifacts}: {result.failures}")
    if ident.startswith("warmup"):
        return result.elapsed
    if result.changed_total:
        changed = _changed_tasks(result.artifacts)
        sys.exit(
            f"error: a measured {config} run changed {result.changed_total} things, not "
            f"idempotent: {changed} (events in {result.artifacts})"
        )
    return result.elapsed


def _changed_tasks(artifacts: Path) -> list[str]:
    import json  # noqa: PLC0415

    found = []
    for event_file in sorted((artifacts / "job_events").glob("*.json")):
        event = json.loads(event_file.read_text())
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("res", {}).get("changed"):
            found.append(f"{data.get('host')}: {data.get('task')}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3,6")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    missing = tb.missing_prerequisites()
    if missing:
        sys.exit(f"error: the lxc test bed cannot run here: {', '.join(missing)}")

    hosts = tb.hosts_up(max(sizes))
    configs: tuple[str, ...] = ("stock", "tuned", "tuned+cache")
    if mitogen_env({}):  # the `mitogen` extra is installed: its strategy, the cache kept
        configs += ("tuned+mitogen",)
    times: dict[tuple[int, str], list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="labctl-bench-"))  # kept on failure, for its events
    labs = {n: make_lab(tmp, hosts[:n]) for n in sizes}
    for n in sorted(sizes, reverse=True):  # each lab writes its own /etc/hosts block once
        warm = run(labs[n], "tuned+cache", f"warmup-{n}")
        print(f"warm-up of the {n}-host lab (first run, installs): {warm:.1f}s")
    for round_ in range(args.rounds):
        for n in sizes:
            for config in configs:
                elapsed = run(labs[n], config, f"r{round_}-{n}-{config}")
                times.setdefault((n, config), []).append(elapsed)
    shutil.rmtree(tmp)

    med = {key: statistics.median(values) for key, values in times.items()}
    print(f"\nprepare phase, idempotent re-runs, median of {args.rounds} rounds (seconds)")
    faster = configs[1:]
    print(f"  {'hosts':>5}  " + "  ".join(f"{c:>13}" for c in configs)
          + "".join(f"  {'stock/' + c:>19}" for c in faster))  # fmt: skip
    for n in sizes:
        row = "  ".join(f"{med[(n, c)]:>13.1f}" for c in configs)
        ratios = "".join(f"  {med[(n, 'stock')] / med[(n, c)]:>18.2f}x" for c in faster)
        print(f"  {n:>5}  {row}{ratios}")
    big, small = max(sizes), min(sizes)
    for config in configs:
        ratio = med[(big, config)] / med[(small, config)]
        print(f"  scaling {config}: {big} hosts take {ratio:.2f}x the time of {small}")
    best = configs[-1]  # what `labctl up` runs here: tuned+cache, or with Mitogen when installed
    speedup = med[(big, "stock")] / med[(big, best)]
    scaling = med[(big, best)] / med[(small, best)]
    print(
        f"\ntargets ({best}): >= 2x faster than stock at {big} hosts: {speedup:.2f}x "
        f"({'met' if speedup >= 2 else 'MISSED'}); {big} hosts <= 1.5x of {small}: "
        f"{scaling:.2f}x ({'met' if scaling <= 1.5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
