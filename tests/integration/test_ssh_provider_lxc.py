"""`provider: ssh` end to end on two fresh plain test-bed hosts standing in for the user's own
machines (issue 14 item 1): the real `labctl` CLI, real sshd, real Ansible.

K3s cannot be downloaded here, so the K3s phases install tests/fakes/k3s-fake (a test double
of the k3s binary) through the roles' offline path; no claim that K3s works rests on this test.
What it shows: the host keys are asked about first (refused without a terminal, accepted with
--accept-new-host-keys), `up` reaches a kubeconfig, the checks the double can pass pass, a second
`up` changes nothing, and `destroy` leaves each host as it was before, by a listing of its
files, units, iptables chains, interfaces and mounts taken before and after.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli import labctl
from tests.integration.test_ansible_roles import make_offline_dir

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAB = "own"
# Outside the addresses the session's shared hosts take (from .10 up), so these two are made
# fresh for this test: "as it was before" must mean a host no other test has touched.
OWN_HOSTS = (("tbhost-own1", "192.168.213.60"), ("tbhost-own2", "192.168.213.61"))
# What a host is made of, listed before `up` and after `destroy`. /proc, /sys, /dev and the
# journal change by themselves; so do the files below that only record that time passed.
STATE_SCRIPT = r"""
set -u
echo '## files'
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /var/log/journal \
     -o -path /var/cache/apt -o -path /var/lib/apt/lists -o -path /tmp -o -path /var/tmp \
     -o -path /root/.ansible -o -path /home/vagrant/.ansible -o -path /var/lib/systemd/timers \
     -o -path /run/user -o -path /run/systemd -o -path /run/sshd -o -path /var/lib/private \
     -o -path /var/lib/systemd/deb-systemd-helper-enabled \) -prune -o -print 2>/dev/null \
  | grep -v -e '^/run/utmp$' -e '^/var/lib/dpkg/lock' -e '^/var/lib/systemd/random-seed$' \
      -e '^/var/lib/sudo/' -e '^/var/lib/systemd/linger' -e '^/run/motd' | sort
echo '## enabled units'
systemctl list-unit-files --no-legend --state=enabled | awk '{print $1}' | sort
echo '## active units'
systemctl list-units --no-legend --state=active --plain | awk '{print $1}' \
  | grep -v -e '^session-' -e '^user@' -e '^user-' -e 'run-user' | sort
for table in filter nat mangle raw; do
  echo "## iptables $table"; iptables-save -t "$table" | grep -v '^#' | sed 's/\[[0-9:]*\]//'
  echo "## ip6tables $table"; ip6tables-save -t "$table" | grep -v '^#' | sed 's/\[[0-9:]*\]//'
done
echo '## links'; ip -o link show | awk -F': ' '{print $2}' | sort
echo '## mounts'; awk '{print $2, $3}' /proc/self/mounts | grep -v -e '^/run/user' | sort
echo '## /etc/hosts'; cat /etc/hosts
echo '## /etc/fstab'; cat /etc/fstab
echo '## packages'; dpkg-query -W -f '${Package} ${Status}\n' | sort
echo '## sysctls'
for name in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables \
            net.bridge.bridge-nf-call-ip6tables vm.swappiness; do
  printf '%s=%s\n' "$name" "$(sysctl -n "$name" 2>/dev/null)"
done
"""


def host_state(host: object) -> list[str]:
    """STATE_SCRIPT's listing of a host, as root."""
    argv = host.ssh_argv("sh", "-c", STATE_SCRIPT, user="root")  # type: ignore[attr-defined]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    return proc.stdout.splitlines()


def difference(before: list[str], after: list[str]) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(before, after, "before up", "after destroy", lineterm=""))


@pytest.fixture(scope="module")
def own_hosts() -> Iterator[list[object]]:
    """Two hosts made for this test on the test bed's network, removed afterwards; the
    session's shared hosts are left alone."""
    import labctl_testbed as tb  # on sys.path through tests/integration/conftest.py

    from tests.integration.conftest import require_testbed, testbed_lock

    require_testbed()
    with testbed_lock():
        tb.ensure_module_tree()
        net = tb.lxcnet.ensure_lab_network(tb.HOSTS_LAB, tb.HOSTS_CIDR)
        base = tb.base_rootfs()
        hosts = [tb.create_host(name, ip, net, base) for name, ip in OWN_HOSTS]
    for host in hosts:
        tb.wait_for_ssh(host)
    yield hosts
    for name, _ in OWN_HOSTS:
        tb.destroy_host(name)


def write_spec(workdir: Path, hosts: list[object]) -> None:
    server, agent = hosts
    key = server.key_path  # type: ignore[attr-defined]
    (workdir / "lab.yaml").write_text(
        f"name: {LAB}\n"
        "provider: ssh\n"
        "k3s: {version: v1.31.12+k3s1, disable: [servicelb]}\n"
        "machines:\n"
        f"  - {{name: own-server, role: server, address: {server.ip}, user: vagrant, "  # type: ignore[attr-defined]
        f"key: {key}}}\n"
        f"  - {{name: own-agent, role: agent, address: {agent.ip}, user: vagrant, "  # type: ignore[attr-defined]
        f"key: {key}}}\n"
    )


def notes(events: str) -> dict[str, tuple[str, str]]:
    """phase -> (status, note) from `up -o json`'s phase events."""
    found = {}
    for line in events.splitlines():
        event = json.loads(line)
        if event.get("event") == "phase" and event.get("status") != "started":
            found[event["phase"]] = (event["status"], event.get("note") or "")
    return found


def test_up_check_up_again_destroy_leaves_each_host_as_it_was(
    own_hosts: list[object], tmp_path: Path
) -> None:
    workdir = tmp_path / "lab"
    workdir.mkdir()
    write_spec(workdir, own_hosts)
    offline = make_offline_dir(tmp_path / "offline")
    before = [host_state(host) for host in own_hosts]
    up = ("up", "--offline", str(offline), "--until", "kubeconfig")

    # No terminal and no --accept-new-host-keys: the new keys are shown, nothing is trusted.
    refused = labctl(workdir, *up, check=False)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "offers the host key ssh-ed25519 SHA256:" in refused.stderr, refused.stderr
    assert "--accept-new-host-keys" in refused.stderr
    known = workdir / ".labctl" / LAB / "known_hosts"
    assert not known.exists() or known.read_text() == ""

    first = labctl(workdir, *up, "--accept-new-host-keys")
    assert "offers the host key ssh-ed25519 SHA256:" in first.stderr
    for phase in ("preflight", "render", "wait-ssh", "prepare", "k3s-servers", "k3s-agents",
                  "kubeconfig"):  # fmt: skip
        assert f"{phase}: done in" in first.stdout, first.stdout
    assert "] boot:" not in first.stdout  # seven phases, none of them boot
    assert "[1/7] preflight" in first.stdout
    assert not (workdir / ".labctl" / LAB / "Vagrantfile").exists()
    pinned = sorted(line.split()[0] for line in known.read_text().splitlines())
    assert pinned == ["own-agent", "own-server"]
    kubeconfig = (workdir / ".labctl" / LAB / "kubeconfig").read_text()
    assert f"https://{own_hosts[0].ip}:6443" in kubeconfig  # type: ignore[attr-defined]

    # k3s-fake answers no `kubectl get nodes -o json` and runs no pods, so only the clock check
    # can pass on it; what this shows is that labctl's own SSH reaches every machine with the
    # keys preflight pinned (no check says a machine was unreachable or its key unknown).
    checked = labctl(workdir, "check", "-o", "json", check=False)
    report = json.loads(checked.stdout)
    messages = " ".join(r["message"] for r in report["checks"])
    for symptom in ("not reachable", "host key", "no SSH details", "refused the key"):
        assert symptom not in messages, checked.stdout
    assert {r["name"]: r["status"] for r in report["checks"]}["clock"] == "passed"

    # A second up with every phase run again changes nothing on the machines.
    again = labctl(workdir, "up", "--offline", str(offline), "--from", "preflight",
                   "--until", "kubeconfig", "-o", "json")  # fmt: skip
    ran = notes(again.stdout)
    for phase in ("prepare", "k3s-servers", "k3s-agents", "kubeconfig"):
        assert ran[phase] == ("done", "0 changed"), ran

    refused_halt = labctl(workdir, "halt", check=False)
    assert refused_halt.returncode == 2
    assert "cannot halt them" in refused_halt.stderr

    destroyed = labctl(workdir, "destroy", "--yes")
    assert "destroy keeps them and uninstalls what labctl installed" in destroyed.stdout
    assert "uninstalled K3s and what labctl installed from own-server, own-agent" in (
        destroyed.stdout
    )
    after = [host_state(host) for host in own_hosts]
    for host, was, now in zip(own_hosts, before, after, strict=True):
        assert now == was, f"{host.name} changed:\n{difference(was, now)}"  # type: ignore[attr-defined]

    second = labctl(workdir, "destroy", "--yes")
    assert "nothing of labctl's was left on own-server, own-agent" in second.stdout
    assert known.exists(), "the machines' pinned keys outlive an uninstall"


def test_with_the_controller_in_the_lab_destroy_takes_it_away_too(
    own_hosts: list[object], tmp_path: Path
) -> None:
    """`controller: lab` (issue 20) on machines that outlive the lab: Ansible runs on own-server,
    the uninstall too, and destroy then removes the controller's directory and key lines, so
    each host is again as it was (the same listing as above, plus the authorized_keys)."""
    from labctl.lab.controller import GuestPython, pip_platforms
    from labctl.lab.incontroller import controller_requirements
    from labctl.tools import wheels

    workdir = tmp_path / "lab"
    workdir.mkdir()
    write_spec(workdir, own_hosts)
    with (workdir / "lab.yaml").open("a") as spec:
        spec.write("controller: lab\n")
    offline = make_offline_dir(tmp_path / "offline")
    debian = GuestPython((3, 11), "x86_64", (2, 36), "/home/vagrant")  # the hosts' python3
    wheels.download(offline / "controller" / debian.tag, controller_requirements(),
                    python=debian.version, platforms=pip_platforms(debian))  # fmt: skip
    keys = "cat /home/vagrant/.ssh/authorized_keys"
    before = [(host_state(host), ssh_root(host, keys)) for host in own_hosts]

    up = labctl(workdir, "up", "--offline", str(offline), "--until", "prepare",
                "--accept-new-host-keys", "-o", "json")  # fmt: skip
    assert notes(up.stdout)["controller"][0] == "done", up.stdout
    assert notes(up.stdout)["prepare"][0] == "done", up.stdout
    root = f"/home/vagrant/.labctl-controller/{LAB}"
    assert ssh_root(own_hosts[0], f"test -x {root}/venv/bin/ansible-playbook && echo yes") == "yes"
    for host in own_hosts:
        assert "labctl-controller:" in ssh_root(host, keys)

    destroyed = labctl(workdir, "destroy", "--yes")
    assert f"own-server: removed {root}" in destroyed.stdout, destroyed.stdout
    assert "removed the controller key from 2 machines" in destroyed.stdout
    for host, (was, was_keys) in zip(own_hosts, before, strict=True):
        now = host_state(host)
        assert now == was, f"{host.name} changed:\n{difference(was, now)}"  # type: ignore[attr-defined]
        assert ssh_root(host, keys) == was_keys


def ssh_root(host: object, command: str) -> str:
    """`command`'s output, run by root's login shell on `host` (ssh passes it as one string)."""
    argv = host.ssh_argv(command, user="root")  # type: ignore[attr-defined]
    return subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=60
    ).stdout.strip()
