"""uninstall.yml, through labctl's own run_playbook, leaves each test-bed host as it was before
site.yml: files, units, iptables and ip6tables rules, interfaces, mounts, /etc/hosts, /etc/fstab
and the sysctls labctl sets are compared before and after, and a second run changes nothing.

K3s goes through the roles' offline path with tests/fakes/k3s-fake, as in test_ansible_roles.
k3s-fake makes no pods, so what a real K3s leaves once its unit stops (iptables chains, cni0 and
flannel.1, a pod's veth and network namespace, mounts under /run/k3s and /var/lib/kubelet, a
containerd shim with a pod under it) is planted by this test, under K3s's names, after site.yml.
No claim that real K3s's leftovers are all found rests on that alone.
"""

from __future__ import annotations

import difflib
import time
from typing import TYPE_CHECKING, Any

import pytest

from labctl.tools.ansible import run_playbook
from tests.integration.test_ansible_roles import K3S_TAGS, Lab, make_lab, run_site, ssh

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

# Bookkeeping that changes on any machine between two looks, whatever labctl does: systemd's
# per-unit and per-session runtime state, the SSH login's own runtime dir and sudo stamps (each
# look is an SSH login), the journal, and the stamps, lists and lock file of apt's timers (which
# labctl stops and the uninstall starts again, so they may run in between: apt.systemd.daily
# creates /var/lib/apt/daily_lock on its first run, and a CI run once caught it doing so).
VOLATILE = (
    "/run/systemd",
    "/run/user",
    "/run/log",
    "/run/sudo",
    "/run/credentials",
    "/var/lib/systemd/timers",
    "/var/lib/apt/lists",
    "/var/lib/apt/periodic",
    "/var/lib/apt/daily_lock",
)
LOOKED_AT = "/etc /usr/local/bin /var/lib /run /opt /var/log/pods /var/log/containers"
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "fs.inotify.max_user_instances",
    "fs.inotify.max_user_watches",
)
# systemd's units of each SSH login come and go with it.
LOGIN_UNITS = "|".join(
    (r"session-[0-9]+\.scope", r"user@[0-9]+\.service", r"user-runtime-dir@[0-9]+\.service",
     r"user-[0-9]+\.slice")
)  # fmt: skip

# iptables-save without its comments and counters, and without the tables that hold nothing (only
# built-in chains, each at policy ACCEPT, and no rule): iptables-nft makes a table the first time
# a rule names it and never drops it, and no iptables command can. Such a table filters nothing;
# the machine behaves as before, but iptables-save lists it (see the report on this test).
WITHOUT_EMPTY_TABLES = (
    "grep -v '^#' | sed -E 's/ \\[[0-9]+:[0-9]+\\]$//' "
    '| awk \'/^\\*/ {t = $0; body = ""; keep = 0; next} '
    '/^COMMIT/ {if (keep) print t body "\\nCOMMIT"; next} '
    '{body = body "\\n" $0; if ($0 !~ /^:[A-Z]+ ACCEPT$/) keep = 1}\''
)

STATE = {
    "files": (
        f"find {LOOKED_AT} "
        + "\\( "
        + " -o ".join(f"-path {p}" for p in VOLATILE)
        + " \\) -prune -o -printf '%p %y %m %u:%g %l\\n' 2>/dev/null | sort"
    ),
    "etc contents": "find /etc -type f -print0 | sort -z | xargs -0 sha256sum",
    "unit files": "systemctl list-unit-files --no-legend --no-pager | sort",
    "active units": (
        "systemctl list-units --state=active,failed --no-legend --no-pager --plain "
        f"| grep -Ev '^({LOGIN_UNITS}) ' | sort"
    ),
    "iptables": f"iptables-save | {WITHOUT_EMPTY_TABLES}",
    "ip6tables": f"ip6tables-save | {WITHOUT_EMPTY_TABLES}",
    "links": "ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort",
    "network namespaces": "ip netns list",
    "mounts": "findmnt -rn -o TARGET,FSTYPE | grep -Ev '^/run/(user|credentials)/' | sort",
    "processes": "ps -eo args= | grep -E '[k]3s|[r]ancher|[c]ontainerd' || true",
    "/etc/hosts": "cat /etc/hosts",
    "/etc/fstab": "cat /etc/fstab",
    "sysctls": f"sysctl {' '.join(SYSCTLS)}",
}

# What the machine had of its own, which the uninstall must leave alone.
OWN_RULE = "INPUT -p tcp --dport 9 -m comment --comment 'a rule of the machine' -j LOCAL-ONLY"
MACHINE_RULES_ADD = (
    f"iptables -w -N LOCAL-ONLY; iptables -w -A {OWN_RULE}; "
    "iptables -w -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE; "
    "ip6tables -w -A INPUT -p tcp --dport 9 -j ACCEPT"
)
MACHINE_RULES_DEL = (
    f"iptables -w -D {OWN_RULE}; iptables -w -X LOCAL-ONLY; "
    "iptables -w -t nat -D POSTROUTING -s 192.0.2.0/24 -j MASQUERADE; "
    "ip6tables -w -D INPUT -p tcp --dport 9 -j ACCEPT; true"
)

# What a real K3s leaves once its unit has stopped (KillMode=process), under K3s's own names:
# kube-proxy's, flannel's and the CNI portmap's chains and the rules that jump to them, the
# flannel and CNI bridge interfaces with a pod's veth, a pod's network namespace, a container's
# rootfs and a pod volume mounted, and containerd's shim (run from K3s's data dir) with a pod.
K3S_LEFTOVERS = """
set -e
iptables -w -t nat -N KUBE-SERVICES
iptables -w -t nat -A PREROUTING -m comment --comment 'kubernetes service portals' -j KUBE-SERVICES
iptables -w -t nat -N KUBE-POSTROUTING
iptables -w -t nat -A POSTROUTING -m comment --comment 'kubernetes postrouting rules' \
  -j KUBE-POSTROUTING
iptables -w -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
iptables -w -t nat -N CNI-HOSTPORT-DNAT
iptables -w -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
iptables -w -t nat -N FLANNEL-POSTRTG
iptables -w -t nat -A POSTROUTING -m comment --comment 'flanneld masq' -j FLANNEL-POSTRTG
iptables -w -t nat -A FLANNEL-POSTRTG -s 10.42.0.0/16 -d 10.42.0.0/16 \
  -m comment --comment 'flanneld masq' -j RETURN
iptables -w -N KUBE-FIREWALL
iptables -w -A INPUT -j KUBE-FIREWALL
iptables -w -N FLANNEL-FWD
iptables -w -A FORWARD -m comment --comment 'flanneld forward' -j FLANNEL-FWD
iptables -w -A FLANNEL-FWD -s 10.42.0.0/16 -m comment --comment 'flanneld forward' -j ACCEPT
iptables -w -t mangle -N KUBE-IPTABLES-HINT
ip6tables -w -N KUBE-FORWARD
ip6tables -w -A FORWARD -m comment --comment 'kubernetes forwarding rules' -j KUBE-FORWARD
ip6tables -w -t nat -N KUBE-SERVICES
ip link add cni0 type bridge
ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth1
ip link add veth0pod1 type veth peer name eth0pod1
ip link set veth0pod1 master cni0
ip netns add cni-0a1b2c3d-uninstall-test
task=/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/0a1b2c3d/rootfs
volume=/var/lib/kubelet/pods/0a1b2c3d/volumes/kubernetes.io~projected/kube-api-access
mkdir -p $task $volume
mount -t tmpfs shm $task
mount -t tmpfs tmpfs $volume
mkdir -p /var/lib/rancher/k3s/data/0a1b2c3d/bin
cp /bin/bash /var/lib/rancher/k3s/data/0a1b2c3d/bin/containerd-shim-runc-v2
setsid /var/lib/rancher/k3s/data/0a1b2c3d/bin/containerd-shim-runc-v2 \
  -c 'sleep 3600 & wait' </dev/null >/dev/null 2>&1 &
"""


# What site.yml and the planted leftovers change, so that the equality after means something.
MUST_CHANGE = (
    "files", "unit files", "active units", "iptables", "ip6tables", "links",
    "network namespaces", "mounts", "processes", "/etc/hosts",
)  # fmt: skip


def state(host: Any) -> dict[str, str]:
    return {name: ssh(host, command) for name, command in STATE.items()}


def differences(before: dict[str, str], after: dict[str, str]) -> str:
    out = []
    for name, was in before.items():
        if was != after[name]:
            out += [f"--- {name} before / after ---"]
            out += difflib.unified_diff(
                was.splitlines(), after[name].splitlines(), lineterm="", n=1
            )
    return "\n".join(out)


def uninstall(lab: Lab, ident: str) -> dict[str, int]:
    """uninstall.yml as `labctl destroy` runs it; fails the test unless it succeeded."""
    result = run_playbook(lab.directory, tags=[], ident=ident, playbook="uninstall.yml")
    assert result.ok, "\n".join(str(f) for f in result.failures) or result
    return dict(result.changed)


@pytest.fixture
def lab(lxc_host_factory: Callable[[int], list[Any]], tmp_path: Path) -> Iterator[Lab]:
    """A lab of 1 server and 1 agent on the shared pool's first two hosts, which hold their own
    iptables rules during the test; the hosts get back what they had when it ends."""
    hosts = lxc_host_factory(2)
    made = make_lab(tmp_path, "undo", hosts, servers=1)
    # The pool is shared: an earlier test's lab may still be installed. Take it back first, so
    # the look before is at the machine without labctl (test_ha wipes K3s the same way).
    uninstall(made, "0-take-back-earlier-labs")
    for host in hosts:
        ssh(host, MACHINE_RULES_DEL)
        ssh(host, MACHINE_RULES_ADD)
    try:
        yield made
    finally:
        for host in hosts:
            ssh(host, MACHINE_RULES_DEL)


def test_uninstall_leaves_each_host_as_before_and_a_second_run_changes_nothing(
    lab: Lab, testbed_times: dict[str, float | str]
) -> None:
    before = {name: state(host) for name, host in lab.hosts.items()}

    run_site(lab, K3S_TAGS)
    for name, host in lab.hosts.items():
        assert "labctl lab undo" in ssh(host, "cat /etc/hosts"), name
        assert ssh(host, "ls /var/lib/labctl/undo").split(), f"{name}: nothing recorded"
        ssh(host, K3S_LEFTOVERS)
        installed = state(host)
        # What the comparison must see, so that its equality below means something.
        unchanged = [s for s in MUST_CHANGE if installed[s] == before[name][s]]
        assert not unchanged, f"{name}: site.yml and the planted leftovers changed no {unchanged}"

    start = time.monotonic()
    first = uninstall(lab, "1-destroy")
    testbed_times["uninstall_2_hosts"] = round(time.monotonic() - start, 1)
    assert all(first.get(name) for name in lab.hosts), first

    after = {name: state(host) for name, host in lab.hosts.items()}
    report = "\n".join(
        f"== {name}\n{differences(before[name], after[name])}"
        for name in lab.hosts
        if before[name] != after[name]
    )
    assert not report, "uninstall.yml left the hosts changed:\n" + report

    second = uninstall(lab, "2-destroy-again")
    assert {name: second.get(name, 0) for name in lab.hosts} == dict.fromkeys(lab.hosts, 0)
