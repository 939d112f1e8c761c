"""Preflight of a remote libvirt lab judges the hypervisor, not this host (issue 14 item 3).

The probes ask the hypervisor's libvirtd over the same qemu+ssh URI vagrant-libvirt uses. Their
output is read from real `virsh` against libvirt's built-in test driver (test:///default, no
daemon) where it can answer; `nodememstats` is not in the test driver, so its text is written
in the format virsh prints (virsh-host.c: "%-7s: %20llu KiB" for total, free, buffers, cached).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.doctor.facts import RemoteHost
from labctl.doctor.gather import gather_facts
from labctl.doctor.parse import (
    parse_kvm_offered,
    parse_nodeinfo_cpus,
    parse_nodememstats_free_mib,
)
from labctl.providers.libvirt import LOCAL_URI, Libvirt
from tests.unit.test_doctor import GOOD, finding, judge, plan_of

REMOTE = {"host": "hv1.example.net", "username": "labs", "id_ssh_key_file": "~/.ssh/hv"}
URI = f"qemu+ssh://labs@hv1.example.net/system?keyfile={Path('~/.ssh/hv').expanduser()}"
NODEMEMSTATS = (
    "total  :             65768448 KiB\n"
    "free   :              4194304 KiB\n"
    "buffers:              1048576 KiB\n"
    "cached :             11534336 KiB\n"
)
KVM_CAPABILITIES = """<capabilities><host><cpu><arch>x86_64</arch></cpu></host>
  <guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize>
    <domain type='qemu'/><domain type='kvm'/></arch></guest></capabilities>"""


def virsh(*args: str) -> str:
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (apt install libvirt-clients; .ci/run does)")
    done = subprocess.run(
        ["virsh", "-c", "test:///default", *args],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


def test_a_remote_lab_asks_the_hypervisor_and_a_local_one_this_host() -> None:
    remote = Libvirt().host_probes(plan_of("libvirt", libvirt=REMOTE).lab)
    assert {argv[2] for argv, _ in remote.values() if argv[0] == "virsh"} == {URI}
    assert URI in remote["libvirt-networks"][0][-1]  # the hypervisor's networks
    assert {"remote-cpus", "remote-memory", "remote-kvm"} <= set(remote)
    local = Libvirt().host_probes(plan_of("libvirt").lab)
    assert local["libvirt"][0] == ["virsh", "-c", LOCAL_URI, "version"]
    assert not any(name.startswith("remote-") for name in local)


def test_the_hypervisors_answers_are_read() -> None:
    assert parse_nodeinfo_cpus(virsh("nodeinfo")) == 16  # the test driver's node
    assert parse_kvm_offered(virsh("capabilities")) is False  # its guests are type "test"
    assert parse_kvm_offered(KVM_CAPABILITIES) is True
    assert parse_nodememstats_free_mib(NODEMEMSTATS) == (4194304 + 1048576 + 11534336) // 1024
    with pytest.raises(ValueError, match="no free memory line"):
        parse_nodememstats_free_mib("error: this function is not supported\n")


def test_gathering_for_a_remote_lab_fills_the_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """gather_facts for real, the hypervisor's URI swapped for the test driver's (a remote
    libvirtd is not reachable here): what it answers is read, what it cannot is an error."""
    virsh("version")  # skips without virsh
    monkeypatch.setattr("labctl.providers.libvirt.hypervisor_uri", lambda conn: "test:///default")
    facts = gather_facts(plan_of("libvirt", libvirt=REMOTE))
    assert facts.libvirt_reachable is True
    assert facts.remote_host == RemoteHost("test:///default", 16, None, False)
    assert "remote-memory" in dict(facts.probe_errors)
    assert [n.name for n in facts.libvirt_networks or ()] == ["default"]


def remote_facts(**changes: object) -> object:
    host = RemoteHost(URI, 32, 16000, True)
    return replace(GOOD, remote_host=replace(host, **changes), free_memory_mib=100)


def test_the_hypervisors_memory_and_kvm_are_judged_not_this_hosts() -> None:
    plan = plan_of("libvirt", libvirt=REMOTE)
    facts = remote_facts()
    memory = [f for f in judge(plan, facts) if f.id == "memory"]  # type: ignore[arg-type]
    assert [f.status for f in memory] == ["ok"]  # this host's 100 MiB free is not asked
    assert memory[0].message.endswith("MiB free on the hypervisor, 32 CPUs")
    assert finding(plan, facts, "cpu-virt").status == "ok"  # type: ignore[arg-type]
    no_kvm = finding(plan, remote_facts(kvm=False), "cpu-virt")  # type: ignore[arg-type]
    assert (no_kvm.status, no_kvm.message) == (
        "fail", f"libvirtd at {URI} offers no KVM guests: the lab runs on KVM (lv.driver = kvm)"
    )  # fmt: skip
    full = finding(plan, remote_facts(free_mib=1000), "memory")  # type: ignore[arg-type]
    assert full.status == "fail"
    assert f"only 1000 MiB is free on the hypervisor ({URI})" in full.message
    unknown = finding(plan, remote_facts(free_mib=None), "memory")  # type: ignore[arg-type]
    assert unknown.status == "warn"
    assert "nodememstats" in unknown.fix


def test_an_unanswering_hypervisor_says_how_to_try_it_by_hand() -> None:
    plan = plan_of("libvirt", libvirt=REMOTE)
    facts = replace(remote_facts(), libvirt_reachable=False)  # type: ignore[type-var]
    got = finding(plan, facts, "libvirt")
    assert got.status == "fail"
    assert got.message.startswith(f"libvirtd does not answer at {URI}")
    assert f"virsh -c '{URI}' version" in got.fix
