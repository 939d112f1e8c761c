"""Machines the controller cannot route to, reached through a jump host (issue 14 item 2).

The topology: a bridge with no address on the controller, the test bed's three hosts each given
a second interface on it (10.213.99.0/24), and an `unreachable` route for that network on the
controller, so a direct connection fails at once, as from a laptop to a private network. The
first host is also on the test bed's own network: it is the jump host, as a bastion or a remote
hypervisor is. The other two are the lab's machines, addressed only by their 10.213.99 address.

Everything is real: sshd in the hosts, paramiko (labctl's checks and SSH), OpenSSH through
`labctl ssh`, Ansible with the lab's own ansible.cfg and inventory.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

from labctl.errors import HostKeyMismatchError, SshUnreachableError
from labctl.lab.labdir import render_into, write_atomic
from labctl.lab.targets import save_targets
from labctl.registry import plan_lab
from labctl.render import ssh_inventory
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import RetryPolicy, SshPool, SshTarget
from tests.integration.test_ansible_roles import WIPE_K3S

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.root]

BRIDGE = "tbjump0"
HIDDEN = "10.213.99"
LAB_NUMBERS = itertools.count(1)
QUICK = RetryPolicy(attempts=2, first_delay=0.2, factor=2.0, max_delay=1.0, auth_attempts=2)


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def hidden(lxc_hosts: list[Any]) -> Iterator[dict[str, str]]:
    """{host name: its address on the network the controller cannot route to}."""
    import labctl_testbed as tb  # on sys.path through tests/integration/conftest.py

    addresses: dict[str, str] = {}
    _remove_topology(len(lxc_hosts))  # what a killed session left
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    try:
        run("ip", "link", "set", BRIDGE, "up")
        run("ip", "route", "add", "unreachable", f"{HIDDEN}.0/24")
        for index, host in enumerate(lxc_hosts):
            pid = run("lxc-info", "-P", str(tb.LXCPATH), "-n", host.name, "-pH").strip()
            outside, inside = f"tbj{index}h", f"tbj{index}c"
            run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            run("ip", "link", "set", inside, "netns", pid)
            run("ip", "link", "set", outside, "master", BRIDGE, "up")
            address = f"{HIDDEN}.{11 + index}"
            in_host = ["nsenter", "-t", pid, "-n", "ip"]
            run(*in_host, "addr", "add", f"{address}/24", "dev", inside)
            run(*in_host, "link", "set", inside, "up")
            addresses[host.name] = address
        yield addresses
    finally:
        _remove_topology(len(lxc_hosts))


def _remove_topology(hosts: int) -> None:
    """The hosts' second links (deleting one end of a veth pair removes both), the bridge and
    the route; whatever of them exists."""
    for argv in (
        *(["ip", "link", "del", f"tbj{index}h"] for index in range(hosts)),
        ["ip", "link", "del", BRIDGE],
        ["ip", "route", "del", "unreachable", f"{HIDDEN}.0/24"],
    ):
        subprocess.run(argv, capture_output=True, check=False)


def jump_of(host: Any) -> SshTarget:
    return SshTarget("bastion", host.ip, 22, host.user, host.key_path)


def behind(host: Any, name: str, address: str, jump: SshTarget | None) -> SshTarget:
    return SshTarget(name, address, 22, host.user, host.key_path, jump)


@pytest.fixture
def lab(tmp_path: Path, lxc_hosts: list[Any], hidden: dict[str, str]) -> dict[str, Any]:
    """A rendered lab whose two machines are the hosts behind the jump host, with the ssh.json
    and inventory labctl writes after boot."""
    spec = tmp_path / "lab.yaml"
    # A lab of its own per test: Ansible's persisted connections are per lab (ansible.cfg).
    name = f"jl{next(LAB_NUMBERS)}"
    spec.write_text(f"name: {name}\nprovider: lxc\nagents: {{count: 1}}\n", encoding="utf-8")
    plan = plan_lab(parse_lab(spec.read_text()).lab)
    lab_dir = tmp_path / ".labctl" / name
    render_into(plan, lab_dir)
    jump = jump_of(lxc_hosts[0])
    targets = {
        machine.name: behind(host, machine.name, hidden[host.name], jump)
        for machine, host in zip(plan.machines, lxc_hosts[1:], strict=True)
    }
    save_targets(lab_dir, targets)
    known = lab_dir / "known_hosts"
    write_atomic(lab_dir / "inventory" / "ssh.yml", ssh_inventory(targets, PurePosixPath(known)))
    return {"spec": spec, "dir": lab_dir, "targets": targets, "known_hosts": known}


def test_the_hidden_machines_cannot_be_reached_directly(
    lxc_hosts: list[Any], hidden: dict[str, str], tmp_path: Path
) -> None:
    host = lxc_hosts[1]
    with (
        SshPool(tmp_path / "known_hosts", connect_timeout=3, retry=QUICK) as pool,
        pytest.raises(SshUnreachableError, match="no route to it from this host"),
    ):
        pool.run(behind(host, "direct", hidden[host.name], None), "true")


def test_labctl_ssh_reaches_them_through_the_jump_host_over_one_connection(
    lab: dict[str, Any], lxc_hosts: list[Any]
) -> None:
    targets: dict[str, SshTarget] = lab["targets"]
    with SshPool(lab["known_hosts"], connect_timeout=5, retry=QUICK) as pool:
        names = sorted(pool.run(t, "hostname").stdout.strip() for t in targets.values())
        assert names == sorted(h.name for h in lxc_hosts[1:])
        # The jump host once, then each machine once through it.
        assert pool.connections_opened == 3
    pinned = [line.split()[0] for line in lab["known_hosts"].read_text().splitlines()]
    assert sorted(set(pinned)) == sorted(["bastion", *targets])


def labctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labctl", *args],
        cwd=cwd, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def ansible_ping(lab_dir: Path) -> subprocess.CompletedProcess[str]:
    """`ansible all -m ping` with the lab's own ansible.cfg and inventory, as its phases run."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(lab_dir / "ansible.cfg")}
    ansible = Path(sys.executable).with_name("ansible")
    return subprocess.run(
        [str(ansible), "all", "-i", str(lab_dir / "inventory"), "-m", "ansible.builtin.ping"],
        cwd=lab_dir, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_openssh_and_ansible_follow_the_same_jump(
    lab: dict[str, Any], lxc_hosts: list[Any]
) -> None:
    spec: Path = lab["spec"]
    done = labctl("ssh", "-f", str(spec), "server-1", "--", "hostname", cwd=spec.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == lxc_hosts[1].name
    pinged = ansible_ping(lab["dir"])
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert pinged.stdout.count("SUCCESS") == 2
    pinned = {line.split()[0] for line in lab["known_hosts"].read_text().splitlines()}
    assert pinned == {"bastion", *lab["targets"]}  # OpenSSH pinned under the same names


def test_a_changed_jump_host_key_is_refused_by_every_edge(
    lab: dict[str, Any], lxc_hosts: list[Any]
) -> None:
    # Pin another host's key for the jump host: as if another machine answered at its address.
    other = run("ssh-keyscan", "-t", "ed25519", lxc_hosts[2].ip).split(None, 1)[1]
    lab["known_hosts"].write_text(f"bastion {other}", encoding="ascii")
    target = next(iter(lab["targets"].values()))
    with (
        SshPool(lab["known_hosts"], connect_timeout=5, retry=QUICK) as pool,
        pytest.raises(HostKeyMismatchError, match=r"^bastion \(") as caught,
    ):
        pool.run(target, "true")
    assert "bastion" in caught.value.hint
    spec: Path = lab["spec"]
    done = labctl("ssh", "-f", str(spec), "server-1", "--", "hostname", cwd=spec.parent)
    assert done.returncode != 0
    assert "Host key verification failed" in done.stderr
    pinged = ansible_ping(lab["dir"])
    assert pinged.returncode != 0
    assert pinged.stdout.count("UNREACHABLE") == 2, pinged.stdout
    # Ansible reports only the outer ssh's end of it; nothing was pinned anew either way.
    assert lab["known_hosts"].read_text(encoding="ascii") == f"bastion {other}"


LAB_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: labctl-{name}
  cluster: {{server: 'https://{address}:6443'}}
users:
- name: labctl-{name}
  user: {{}}
contexts:
- name: labctl-{name}
  context: {{cluster: labctl-{name}, user: labctl-{name}}}
"""


def test_kubeconfig_tunnel_reaches_the_api_port_of_a_server_behind_the_jump_host(
    lab: dict[str, Any], lxc_hosts: list[Any], hidden: dict[str, str]
) -> None:
    """The server's port 6443 answers only on its loopback here (an HTTP stand-in: no K3s on
    the test bed); `labctl kubeconfig tunnel` makes it a local port, through the jump host."""
    import labctl_testbed as tb

    server = lxc_hosts[1]
    name = lab["dir"].name
    address = hidden[server.name]
    (lab["dir"] / "kubeconfig").write_text(LAB_KUBECONFIG.format(name=name, address=address))
    # The pool is shared: an earlier role test may have left k3s-fake holding port 6443.
    tb.sh(server.ssh_argv(WIPE_K3S, user=server.root_user))
    tb.sh(server.ssh_argv(
        # Only the server in the background, with no hold on this ssh's output.
        "mkdir -p /tmp/api; echo stand-in > /tmp/api/version; cd /tmp/api; "
        "setsid python3 -m http.server 6443 --bind 127.0.0.1 >/dev/null 2>&1 < /dev/null &",
        user=server.root_user,
    ))  # fmt: skip
    listening = (
        "for i in $(seq 100); do curl -fsS http://127.0.0.1:6443/version && exit; sleep 0.1; "
        "done; exit 1"
    )
    assert tb.sh(server.ssh_argv(listening)).stdout.strip() == "stand-in"
    spec: Path = lab["spec"]
    port = 16000 + next(LAB_NUMBERS)
    tunnel = subprocess.Popen(
        [sys.executable, "-m", "labctl", "kubeconfig", "tunnel", "-f", str(spec), "--port",
         str(port)], cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        answer = ""
        for _ in range(60):
            got = subprocess.run(
                ["curl", "-fsS", "--max-time", "2", f"http://127.0.0.1:{port}/version"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if got.returncode == 0:
                answer = got.stdout
                break
            assert tunnel.poll() is None, tunnel.communicate()
            time.sleep(0.5)
        assert answer.strip() == "stand-in"
    finally:
        tunnel.terminate()
        out, _ = tunnel.communicate(timeout=10)
        tb.sh(
            server.ssh_argv("pkill -f '^python3 -m http[.]server' || true", user=server.root_user)
        )
    assert f"127.0.0.1:{port}" in out
    assert "through bastion" in out
    written = (lab["dir"] / "kubeconfig-tunnel").read_text()
    assert f"server: https://127.0.0.1:{port}" in written
    assert (lab["dir"] / "kubeconfig-tunnel").stat().st_mode & 0o777 == 0o600


def test_a_provider_ssh_lab_behind_its_jump_host_comes_up_and_is_checked_through_it(
    lxc_hosts: list[Any], hidden: dict[str, str], tmp_path: Path
) -> None:
    """`provider: ssh` with `jump_hosts:` in lab.yaml: preflight (host keys of the jump host
    and both machines asked for and pinned), wait-ssh, `labctl check`, `labctl ssh` and Ansible
    all go through the jump host to machines the controller cannot route to."""
    import labctl_testbed as tb

    bastion, server, agent = lxc_hosts
    for host in (server, agent):  # an earlier role test may have left k3s-fake on the ports
        tb.sh(host.ssh_argv(WIPE_K3S, user=host.root_user))
    key = bastion.key_path
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "name: jssh\nprovider: ssh\nmachines:\n"
        f"  - {{name: js-server, role: server, address: {hidden[server.name]}, "
        f"user: {server.user}, key: {key}, jump: bastion}}\n"
        f"  - {{name: js-agent, role: agent, address: {hidden[agent.name]}, "
        f"user: {agent.user}, key: {key}, jump: bastion}}\n"
        f"jump_hosts:\n  bastion: {{address: {bastion.ip}, user: {bastion.user}, key: {key}}}\n",
        encoding="utf-8",
    )
    cwd = spec.parent
    up = labctl("up", "--until", "wait-ssh", "--accept-new-host-keys", cwd=cwd)
    assert up.returncode == 0, up.stdout + up.stderr
    for name in ("bastion", "js-server", "js-agent"):
        assert f"{name} (" in up.stderr  # each new key shown as it is trusted
    lab_dir = cwd / ".labctl" / "jssh"
    pinned = sorted({line.split()[0] for line in (lab_dir / "known_hosts").read_text().split("\n")
                     if line})  # fmt: skip
    assert pinned == ["bastion", "js-agent", "js-server"]

    checked = labctl("check", "--only", "clock", cwd=cwd)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = labctl("ssh", "js-agent", "--", "ip", "-4", "-o", "addr", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert hidden[agent.name] in done.stdout
    pinged = ansible_ping(lab_dir)
    assert pinged.stdout.count("SUCCESS") == 2, pinged.stdout + pinged.stderr
