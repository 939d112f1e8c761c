"""The lxc test bed for real: plain LXC hosts over SSH, and a 3-machine lab booted by Vagrant.

Times are measured and printed (box build, boot serial vs parallel, teardown), never asserted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.providers.lxc import network as lxcnet

if TYPE_CHECKING:
    from collections.abc import Callable

    import labctl_testbed as tb
    from conftest import VagrantLab

pytestmark = [pytest.mark.integration, pytest.mark.root]

EXAMPLE = Path(__file__).resolve().parents[1] / "testbed" / "Vagrantfile.example"
LAB = "demo"
CIDR = "192.168.56.0/24"
PLANNED = {
    "demo-server-1": "192.168.56.10",
    "demo-agent-1": "192.168.56.11",
    "demo-agent-2": "192.168.56.12",
}


def report(times: dict[str, float | str], key: str, value: float | str) -> None:
    """Record a measured time, print it and rewrite the JSON file of the session's times."""
    times[key] = round(value, 1) if isinstance(value, float) else value
    print(f"[testbed time] {key}: {times[key]}")  # noqa: T201  (measured times are the output)
    path = Path(str(times["json"]))
    path.write_text(json.dumps(times, indent=2, sort_keys=True))
    print(f"[testbed time] written to {path}")  # noqa: T201


def test_lxc_hosts_answer_ssh_with_key_auth_and_run_systemd(
    lxc_hosts: list[tb.Host], testbed_times: dict[str, float | str]
) -> None:
    assert len({h.ip for h in lxc_hosts}) == 3
    machine_ids = set()
    for host in lxc_hosts:
        for user in (host.user, host.root_user):
            proc = subprocess.run(
                host.ssh_argv(
                    "hostname; systemctl is-system-running --wait; cat /etc/machine-id;"
                    " sudo -n id -u",
                    user=user,
                ),
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert proc.returncode == 0, f"{host.name} as {user}: {proc.stderr}"
            hostname, state, machine_id, uid = proc.stdout.split()
            assert hostname == host.name
            assert state == "running", f"{host.name}: systemd is {state}"
            assert uid == "0", f"{user} on {host.name} has no password-less sudo"
            machine_ids.add(machine_id)
    assert len(machine_ids) == 3, "hosts share a machine-id"
    for key, value in testbed_times.items():
        if key.startswith("lxc_hosts_create"):
            report(testbed_times, key, float(value))


def _inventory(machines: dict[str, object]) -> dict[str, object]:
    hosts = {
        name: {
            "ansible_host": m.host,  # type: ignore[attr-defined]
            "ansible_port": m.port,  # type: ignore[attr-defined]
            "ansible_user": m.user,  # type: ignore[attr-defined]
            "ansible_ssh_private_key_file": str(m.key_path),  # type: ignore[attr-defined]
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        for name, m in machines.items()
    }
    return {"all": {"hosts": hosts}}


def _container_pids() -> dict[str, str]:
    pids = {}
    for name in PLANNED:
        out = subprocess.run(
            ["lxc-info", "-n", name, "-p", "-H"], capture_output=True, text=True, check=False
        ).stdout.strip()
        pids[name] = out
    return pids


def test_example_lab_boots_with_vagrant_lxc_and_is_reachable(
    vagrant_lxc_lab: Callable[..., VagrantLab],
    lxc_box: dict[str, object],
    testbed_times: dict[str, float | str],
    tmp_path: Path,
) -> None:
    import ansible_runner

    report(testbed_times, "box_build", float(str(lxc_box["seconds"])))
    report(testbed_times, "box_build_cache", str(testbed_times["box_build_cache"]))
    source = tmp_path / "example"
    source.mkdir()
    shutil.copy(EXAMPLE, source / "Vagrantfile")
    lab = vagrant_lxc_lab(source, lab=LAB, cidr=CIDR)

    # Serial boot (one `vagrant up`), then a clean slate for the parallel boot.
    report(testbed_times, "vagrant_up_serial_3", lab.up())
    report(testbed_times, "vagrant_destroy_3", lab.destroy())
    report(testbed_times, "vagrant_up_parallel_3", lab.up_parallel())

    machines = lab.ssh_config()
    assert set(machines) == set(PLANNED)
    for name, address in PLANNED.items():
        assert machines[name].host == address
        hostname = lab.vagrant("ssh", name, "-c", "hostname").stdout.strip()
        assert hostname == name
        eth1 = lab.vagrant("ssh", name, "-c", "ip -4 -o addr show dev eth1").stdout
        assert f"inet {address}/24" in eth1, f"{name} eth1: {eth1}"

    private = tmp_path / "ansible"
    private.mkdir()
    result = ansible_runner.run(
        private_data_dir=str(private),
        inventory=_inventory(dict(machines)),
        host_pattern="all",
        module="ping",
        quiet=True,
        timeout=300,
    )
    assert result.status == "successful", result.stdout.read()
    assert result.rc == 0
    assert set(result.stats["ok"]) == set(PLANNED), result.stats
    assert not result.stats.get("dark"), result.stats
    assert not result.stats.get("failures"), result.stats

    before = _container_pids()
    second = lab.vagrant("up")
    after = _container_pids()
    assert before == after, "a second `vagrant up` restarted machines"
    for marker in ("Importing base box", "Starting container", "Setting hostname"):
        assert marker not in second.stdout, f"second `vagrant up` did {marker!r}"

    report(testbed_times, "vagrant_destroy_3_with_network", lab.destroy())
    lxc_ls = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True).stdout
    assert not set(lxc_ls.split()) & set(PLANNED), f"containers left: {lxc_ls}"
    for name in PLANNED:
        assert not Path("/var/lib/lxc", name).exists()
    bridge, rules = lxcnet.lab_network_present(LAB)
    assert not bridge, f"bridge {lxcnet.bridge_name(LAB)} left behind"
    assert rules == 0, f"{rules} NAT/forward rules tagged {lxcnet.tag(LAB)} left behind"
