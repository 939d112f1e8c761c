"""Preflight of an existing machine (provider ssh): PROBE's output parsed and judged.

Recorded outputs are as the real tools print them: /etc/os-release as Ubuntu 22.04, 24.04 and
Debian 12 ship it; `ss -H -ltnup` and `ip -o -4 addr show` / `ip -d -o link show type vxlan` in
iproute2's format (the ss and vxlan lines were captured from iproute2 6.1 in a private network
namespace, the K3s ones match `sudo ss -lntpu` on a K3s server). PROBE itself runs for real on
this machine under sh and under busybox, and in a private network namespace where a K3s
stand-in, an impostor and flannel's VXLAN device hold the ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labctl.errors import SshError
from labctl.providers.ssh.preflight import (
    MACHINE_FINDING_IDS,
    PROBE,
    Address,
    Listener,
    MachineFacts,
    judge_machine,
    memory_floor_mib,
    parse_probe,
    probe,
)
from labctl.tools.ssh import CommandResult, SshTarget

if TYPE_CHECKING:
    from labctl.doctor.findings import Finding

BUSYBOX = shutil.which("busybox")

UBUNTU_2204 = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""
UBUNTU_2404 = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"""
DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""
UBUNTU_2004 = """\
NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
"""
ALPINE = """\
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

# `sudo ss -H -ltnup` on a K3s server labctl installed earlier: flannel's VXLAN socket is the
# kernel's, so 8472/udp has no process.
SS_K3S_SERVER = """\
udp   UNCONN 0      0                   0.0.0.0:8472       0.0.0.0:*
udp   UNCONN 0      0             127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=601,fd=13))
tcp   LISTEN 0      4096              127.0.0.1:10248      0.0.0.0:*    users:(("k3s-server",pid=2786,fd=172))
tcp   LISTEN 0      4096              127.0.0.1:6444       0.0.0.0:*    users:(("k3s-server",pid=2786,fd=15))
tcp   LISTEN 0      128                 0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=812,fd=3))
tcp   LISTEN 0      4096                      *:10250            *:*    users:(("k3s-server",pid=2786,fd=253))
tcp   LISTEN 0      4096                      *:6443             *:*    users:(("k3s-server",pid=2786,fd=12))
tcp   LISTEN 0      128                    [::]:22            [::]:*    users:(("sshd",pid=812,fd=4))
"""  # noqa: E501 - ss's own line width
SS_FRESH = """\
udp   UNCONN 0      0             127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=601,fd=13))
tcp   LISTEN 0      128                 0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=812,fd=3))
tcp   LISTEN 0      128                    [::]:22            [::]:*    users:(("sshd",pid=812,fd=4))
"""  # noqa: E501 - ss's own line width
SS_IMPOSTOR = """\
tcp   LISTEN 0      4096                      *:6443             *:*    users:(("haproxy",pid=4242,fd=7),("haproxy",pid=4241,fd=7))
udp   UNCONN 0      0                   0.0.0.0:8472       0.0.0.0:*
"""  # noqa: E501 - ss's own line width
IP_ADDRESSES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.168.1.5/24 metric 100 brd 192.168.1.255 scope global dynamic eth0\\       valid_lft 86005sec preferred_lft 86005sec
3: eth1    inet 10.0.0.21/24 brd 10.0.0.255 scope global eth1\\       valid_lft forever preferred_lft forever
5: flannel.1    inet 10.42.0.0/32 scope global flannel.1\\       valid_lft forever preferred_lft forever
"""  # noqa: E501 - ip's own line width
VXLAN_FLANNEL = (
    "5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode "
    "DEFAULT group default \\    link/ether 6e:83:99:5b:8c:51 brd ff:ff:ff:ff:ff:ff promiscuity "
    "0  allmulti 0 minmtu 68 maxmtu 65535 \\    vxlan id 1 local 10.0.0.21 dev eth1 srcport 0 0 "
    "dstport 8472 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx "
    "addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535\n"
)


def output(**sections: tuple[str, int]) -> str:
    """Text as PROBE prints it: each section between its begin and end (with status) lines."""
    parts = []
    for name, (text, status) in sections.items():
        parts.append(f"@@labctl begin {name.replace('_', '-')}\n{text}\n@@labctl end ")
        parts[-1] += f"{name.replace('_', '-')} {status}\n"
    return "".join(parts)


def machine_output(
    os_release: str = UBUNTU_2404,
    machine: str = "x86_64",
    sudo: tuple[str, int] = ("", 0),
    mem_kib: int = 4025980,
    ss: str = SS_FRESH,
    via_sudo: bool = True,
    vxlan: str = "",
) -> str:
    listing = {"listening_sudo": (ss, 0)} if via_sudo else {"listening": (ss, 0)}
    return output(
        user=("ubuntu", 0),
        system=("Linux", 0),
        machine=(machine, 0),
        os_release=(os_release, 0),
        meminfo=(f"MemTotal:       {mem_kib} kB", 0),
        sudo=sudo,
        **listing,
        addresses=(IP_ADDRESSES, 0),
        vxlan=(vxlan, 0),
        gitlab_nginx=("", 1),
    )


def found(findings: list[Finding], finding_id: str) -> Finding:
    return next(f for f in findings if f.id == finding_id)


def judged(role: str = "server", node_ip: str = "10.0.0.21", **kw: Any) -> list[Finding]:
    return judge_machine("pi-1", role, node_ip, parse_probe(machine_output(**kw)))


# ---------------------------------------------------------------- parsing


def test_parse_reads_every_section() -> None:
    facts = parse_probe(machine_output(ss=SS_K3S_SERVER, vxlan=VXLAN_FLANNEL))
    assert (facts.user, facts.system, facts.machine) == ("ubuntu", "Linux", "x86_64")
    assert (facts.os_id, facts.os_version_id, facts.os_name) == (
        "ubuntu",
        "24.04",
        "Ubuntu 24.04.1 LTS",
    )
    assert facts.sudo_ok
    assert facts.mem_total_kib == 4025980
    assert facts.owners_shown
    assert facts.listeners is not None
    assert Listener("tcp", "*", 6443, (("k3s-server", 2786),)) in facts.listeners
    assert Listener("udp", "0.0.0.0", 8472) in facts.listeners  # noqa: S104 - ss's words
    assert Listener("udp", "127.0.0.53", 53, (("systemd-resolve", 601),)) in facts.listeners
    assert Listener("tcp", "::", 22, (("sshd", 812),)) in facts.listeners
    assert facts.addresses == (
        Address("lo", "127.0.0.1", 8),
        Address("eth0", "192.168.1.5", 24),
        Address("eth1", "10.0.0.21", 24),
        Address("flannel.1", "10.42.0.0", 32),
    )
    assert facts.vxlan_ports == (("flannel.1", 8472),)


def test_ss_with_several_processes_on_one_socket() -> None:
    facts = parse_probe(machine_output(ss=SS_IMPOSTOR))
    assert facts.listeners is not None
    assert facts.listeners[0].owners == (("haproxy", 4242), ("haproxy", 4241))


def test_garbage_leaves_every_fact_unknown_and_every_finding_fails() -> None:
    facts = parse_probe("Welcome to pi-1!\nlast login: yesterday\n")
    assert facts == MachineFacts(
        os_error="the probe printed nothing for it",
        sudo_error="the probe printed nothing for it",
        mem_error="the probe printed nothing for it",
        listeners_error="the probe printed nothing for it",
        addresses_error="the probe printed nothing for it",
    )
    findings = judge_machine("pi-1", "agent", "10.0.0.22", facts)
    assert [f.id for f in findings] == list(MACHINE_FINDING_IDS)
    assert all(f.status == "fail" and f.fix for f in findings)


# ---------------------------------------------------------------- judges


def test_every_finding_names_the_machine_and_every_fail_says_what_to_do() -> None:
    good = judged()
    bad = judged(
        node_ip="10.0.0.99",
        os_release=ALPINE,
        machine="armv7l",
        sudo=("sudo: a password is required", 1),
        mem_kib=400000,
        ss=SS_IMPOSTOR,
    )
    for findings, status in ((good, "ok"), (bad, "fail")):
        assert [f.id for f in findings] == list(MACHINE_FINDING_IDS)
        assert [f.status for f in findings] == [status] * len(MACHINE_FINDING_IDS)
        assert all("pi-1" in f.message for f in findings)
    assert all(f.fix for f in bad)


@pytest.mark.parametrize(
    ("release", "shown"),
    [
        (UBUNTU_2204, "Ubuntu 22.04.4 LTS"),
        (UBUNTU_2404, "Ubuntu 24.04.1 LTS"),
        (DEBIAN_12, "Debian GNU/Linux 12 (bookworm)"),
    ],
)
def test_supported_systems(release: str, shown: str) -> None:
    finding = found(judged(os_release=release), "os")
    assert (finding.status, finding.message) == ("ok", f"pi-1 runs {shown}")


def test_an_older_ubuntu_is_told_to_upgrade() -> None:
    finding = found(judged(os_release=UBUNTU_2004), "os")
    assert finding.status == "fail"
    assert "Ubuntu 20.04.6 LTS" in finding.message
    assert "do-release-upgrade" in finding.fix


def test_alpine_and_macos_fail_clearly() -> None:
    alpine = found(judged(os_release=ALPINE), "os")
    assert alpine.status == "fail"
    assert "Alpine Linux v3.20" in alpine.message
    assert "Ubuntu 22.04, Ubuntu 24.04 or Debian 12" in alpine.message
    mac = parse_probe(
        output(
            system=("Darwin", 0),
            machine=("arm64", 0),
            os_release=("cat: /usr/lib/os-release: No such file or directory", 1),
        )
    )
    assert found(judge_machine("mac", "agent", "10.0.0.9", mac), "os").message == (
        "mac runs Darwin, not Linux"
    )


@pytest.mark.parametrize(
    ("machine", "status", "words"),
    [
        ("x86_64", "ok", "amd64"),
        ("aarch64", "ok", "arm64"),
        ("armv7l", "fail", "armhf"),
        ("riscv64", "fail", "riscv64"),
        ("", "fail", "uname -m"),
    ],
)
def test_architecture(machine: str, status: str, words: str) -> None:
    finding = found(judged(machine=machine), "arch")
    assert finding.status == status
    assert words in finding.message


def test_sudo_that_asks_for_a_password_gets_the_sudoers_line() -> None:
    finding = found(judged(sudo=("sudo: a password is required", 1)), "sudo")
    assert finding.status == "fail"
    assert "sudo: a password is required" in finding.message
    assert "`ubuntu ALL=(ALL) NOPASSWD:ALL`" in finding.fix
    assert "visudo -f /etc/sudoers.d/labctl" in finding.fix


def test_missing_sudo_is_said_so() -> None:
    finding = found(judged(sudo=("sudo: command not found", 127)), "sudo")
    assert (finding.status, finding.message) == ("fail", "pi-1: sudo is not installed")
    assert "apt-get install sudo" in finding.fix


def test_memory_floor_allows_for_what_the_kernel_keeps() -> None:
    assert memory_floor_mib(1024) == 876
    assert memory_floor_mib(512) == 374
    assert memory_floor_mib(3072) == 2883


@pytest.mark.parametrize(
    ("role", "mem_kib", "status"),
    [
        ("server", 949328, "ok"),  # a 1 GiB Raspberry Pi: 76 MiB go to the GPU
        ("server", 1004584, "ok"),  # a 1024 MB VirtualBox VM
        ("server", 800 * 1024, "fail"),
        ("agent", 449000, "ok"),
        ("agent", 300 * 1024, "fail"),
        ("gitlab", 3010000, "ok"),  # 2939 MiB: within the slack of 3072
        ("gitlab", 2 * 1024 * 1024, "fail"),
    ],
)
def test_memory_by_role(role: str, mem_kib: int, status: str) -> None:
    assert found(judged(role=role, mem_kib=mem_kib), "memory").status == status


def test_a_server_too_small_for_its_role_may_be_an_agent() -> None:
    finding = found(judged(mem_kib=800 * 1024), "memory")
    assert (
        finding.message == "pi-1: 800 MiB of memory (MemTotal) is below the 1024 MiB a server needs"
    )
    assert "make it an agent" in finding.fix


def test_ports_free_on_a_fresh_machine() -> None:
    finding = found(judged(), "ports")
    assert (finding.status, finding.message) == ("ok", "pi-1: 6443/tcp, 10250/tcp, 8472/udp free")


def test_ports_held_by_k3s_from_an_earlier_up_are_fine() -> None:
    finding = found(judged(ss=SS_K3S_SERVER, vxlan=VXLAN_FLANNEL), "ports")
    assert finding.status == "ok"
    assert "earlier install (6443/tcp, 10250/tcp, 8472/udp)" in finding.message


def test_a_port_held_by_another_process_names_it() -> None:
    finding = found(judged(ss=SS_IMPOSTOR, vxlan=VXLAN_FLANNEL), "ports")
    assert finding.status == "fail"
    assert "6443/tcp is held by haproxy (pid 4241), haproxy (pid 4242)" in finding.message
    assert finding.fix.startswith("stop the process holding 6443/tcp (haproxy (pid 4241)")


def test_an_ha_server_also_needs_the_etcd_ports() -> None:
    facts = parse_probe(machine_output())
    finding = found(judge_machine("pi-1", "server", "10.0.0.21", facts, etcd=True), "ports")
    assert finding.message == "pi-1: 6443/tcp, 10250/tcp, 8472/udp, 2379/tcp, 2380/tcp free"
    agent = found(judge_machine("pi-2", "agent", "10.0.0.21", facts, etcd=True), "ports")
    assert "2379" not in agent.message


def test_an_agent_does_not_need_6443() -> None:
    assert found(judged(role="agent", ss=SS_IMPOSTOR, vxlan=VXLAN_FLANNEL), "ports").status == "ok"


def test_8472_held_by_another_vxlan_or_an_unnamed_socket() -> None:
    other = VXLAN_FLANNEL.replace("flannel.1", "vxlan0")
    finding = found(judged(role="agent", ss=SS_IMPOSTOR, vxlan=other), "ports")
    assert "8472/udp is held by the VXLAN device vxlan0" in finding.message
    kernel = found(judged(role="agent", ss=SS_IMPOSTOR), "ports")
    assert "8472/udp is held by a kernel socket (no process)" in kernel.message
    unnamed = found(judged(role="agent", ss=SS_IMPOSTOR, via_sudo=False), "ports")
    assert "a process ss cannot name without sudo" in unnamed.message


def test_gitlab_needs_port_80_unless_its_own_nginx_holds_it() -> None:
    nginx = 'tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=900,fd=7))\n'
    facts = parse_probe(machine_output(ss=nginx))
    assert found(judge_machine("gl", "gitlab", "10.0.0.21", facts), "ports").status == "fail"
    ours = parse_probe(machine_output(ss=nginx) + output(gitlab_nginx=("", 0)))
    assert found(judge_machine("gl", "gitlab", "10.0.0.21", ours), "ports").status == "ok"
    # K3s's ports are not GitLab's business.
    assert found(judged(role="gitlab", ss=SS_IMPOSTOR), "ports").status == "ok"


def test_node_ip_on_the_machine() -> None:
    finding = found(judged(node_ip="10.0.0.21"), "node-ip")
    assert (finding.status, finding.message) == ("ok", "pi-1 has node_ip 10.0.0.21 (on eth1)")


def test_node_ip_not_on_the_machine_lists_the_ones_it_has() -> None:
    finding = found(judged(node_ip="10.0.0.99"), "node-ip")
    assert finding.status == "fail"
    assert finding.message == "pi-1 has no address 10.0.0.99 (it has 192.168.1.5, 10.0.0.21)"
    assert finding.fix == "set `node_ip:` of pi-1 to one of 192.168.1.5, 10.0.0.21 in lab.yaml"
    public = found(judged(node_ip="203.0.113.7"), "node-ip")  # TEST-NET-3: not global
    assert "NAT" not in public.message
    cloud = found(judged(node_ip="8.8.4.4"), "node-ip")
    assert "public address is NAT in front of it" in cloud.message


def test_missing_ss_and_ip_are_findings() -> None:
    text = machine_output().split("@@labctl begin listening-sudo")[0] + output(
        listening=("ss: command not found", 127),
        addresses=("ip: command not found", 127),
        vxlan=("ip: command not found", 127),
    )
    findings = judge_machine("pi-1", "server", "10.0.0.21", parse_probe(text))
    ports, node_ip = found(findings, "ports"), found(findings, "node-ip")
    assert ports.status == node_ip.status == "fail"
    assert "ss: command not found" in ports.message
    assert "ip: command not found" in node_ip.message
    assert "iproute2" in ports.fix
    assert "iproute2" in node_ip.fix


# ---------------------------------------------------------------- PROBE, for real


class LocalShell:
    """Runs commands on this machine as SshPool.run runs them on one: through a shell."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env

    def run(
        self, target: SshTarget, command: str, timeout: float = 60.0, *, stdin: str | None = None
    ) -> CommandResult:
        done = subprocess.run(  # noqa: S602 - a login shell runs it, as over SSH
            command,
            shell=True,
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        return CommandResult(done.returncode, done.stdout, done.stderr, 0.0)


HERE = SshTarget("here", "127.0.0.1", 22, "root", None)


def _this_machine_ip() -> str:
    listed = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], check=True, capture_output=True, text=True
    )
    return next(
        line.split()[3].split("/")[0] for line in listed.stdout.splitlines() if " lo " not in line
    )


@pytest.mark.skipif(
    not Path("/etc/debian_version").exists(), reason="this is the Debian 12 test host"
)
def test_probe_on_this_machine() -> None:
    facts = probe(LocalShell(), HERE)
    findings = judge_machine("here", "agent", _this_machine_ip(), facts)
    os_finding, arch = found(findings, "os"), found(findings, "arch")
    assert os_finding.status == "ok"
    assert "Debian GNU/Linux 12" in os_finding.message
    assert (arch.status, arch.message) == ("ok", "here is x86_64 (K3s's amd64 build)")
    assert found(findings, "node-ip").status == "ok"
    assert facts.listeners is not None
    assert facts.mem_total_kib


def test_probe_also_runs_as_sh_c() -> None:
    done = subprocess.run(["sh", "-c", PROBE], capture_output=True, text=True, check=True)
    as_argument, on_stdin = parse_probe(done.stdout), probe(LocalShell(), HERE)
    # Sockets and addresses on a shared test host may change between the two runs.
    steady = ("user", "machine", "os_name", "sudo_ok", "mem_total_kib")
    assert [getattr(as_argument, f) for f in steady] == [getattr(on_stdin, f) for f in steady]
    assert as_argument.listeners is not None


@pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")
def test_probe_under_busybox_alone(tmp_path: Path) -> None:
    """Nothing but busybox's applets on PATH (an Alpine-like machine): no ss, no sudo."""
    assert BUSYBOX is not None
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    for applet in applets.stdout.split():
        (tmp_path / applet).symlink_to(BUSYBOX)
    facts = probe(LocalShell({"PATH": str(tmp_path)}), HERE)
    findings = judge_machine("bb", "server", "10.0.0.21", facts)
    assert [f.id for f in findings] == list(MACHINE_FINDING_IDS)
    assert found(findings, "sudo").message == "bb: sudo is not installed"
    assert "ss: command not found" in found(findings, "ports").message
    assert facts.machine == os.uname().machine


def test_a_machine_where_the_probe_cannot_run_is_an_ssh_error() -> None:
    with pytest.raises(SshError, match=r"here: the preflight probe printed nothing .* not found"):
        probe(LocalShell({"PATH": "/nonexistent"}), HERE)


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0


LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1])))\n"
    "s.listen()\n"
    "open(sys.argv[2], 'w').close()\n"
    "time.sleep(30)\n"
)


def _in_a_lab_network(tmp_path: Path, holders: dict[str, int]) -> MachineFacts:
    """PROBE in a private network namespace: eth1 10.0.0.21/24, flannel's VXLAN device, and
    a listener per `holders` entry, named as the process (a python under that name); ss names
    a process by its executable's file name, as it names K3s's `k3s-server`."""
    (tmp_path / "listen.py").write_text(LISTEN)
    start = []
    for name, port in holders.items():
        (tmp_path / name).symlink_to(sys.executable)
        ready = tmp_path / f"{name}.ready"
        start.append(
            f"{tmp_path / name} {tmp_path / 'listen.py'} {port} {ready} >/dev/null 2>&1 & "
            f'pids="$pids $!"; '
            f"for i in $(seq 100); do [ -e {ready} ] && break; sleep 0.05; done"
        )
    driver = "; ".join(
        [
            "ip link set lo up",
            "pids=",
            "ip link add eth1 type veth peer name eth1-peer && ip link set eth1 up",
            "ip addr add 10.0.0.21/24 dev eth1",
            "ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth1 nolearning",
            "ip link set flannel.1 up",
            *start,
            f"sh -s <{tmp_path / 'probe.sh'}",
            "kill $pids",
        ]
    )
    (tmp_path / "probe.sh").write_text(PROBE)
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", driver],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "@@labctl end gitlab-nginx" in done.stdout, done.stderr
    return parse_probe(done.stdout)


needs_namespaces = pytest.mark.skipif(
    not _namespaces_work(), reason="needs root for a private network namespace"
)


@needs_namespaces
def test_real_k3s_ports_and_flannel_pass(tmp_path: Path) -> None:
    facts = _in_a_lab_network(tmp_path, {"k3s-server": 6443})
    finding = found(judge_machine("n1", "server", "10.0.0.21", facts), "ports")
    assert finding.status == "ok", finding
    assert "(6443/tcp, 8472/udp)" in finding.message
    assert found(judge_machine("n1", "server", "10.0.0.21", facts), "node-ip").status == "ok"


@needs_namespaces
def test_real_impostor_on_6443_is_named(tmp_path: Path) -> None:
    facts = _in_a_lab_network(tmp_path, {"apiserver": 6443})
    finding = found(judge_machine("n1", "server", "10.0.0.21", facts), "ports")
    assert finding.status == "fail"
    assert "6443/tcp is held by apiserver (pid " in finding.message
