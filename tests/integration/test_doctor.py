"""labctl doctor on this real machine: gather_facts probes the real tools, judge says what is true.

The test bed (Debian 12, root, Vagrant with vagrant-lxc, LXC, no VirtualBox) is what CI runs on.
Where a fact could differ between such machines, the test reads it independently and checks that
doctor agrees, rather than assuming it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labctl.doctor import Finding, HostFacts, gather_facts, judge, preflight
from labctl.doctor.findings import MIN_VAGRANT
from labctl.errors import PreflightFailedError
from labctl.registry import plan_lab
from labctl.spec.model import Lab

if TYPE_CHECKING:
    from labctl.plan import Plan

pytestmark = pytest.mark.integration


def _require_vagrant_lxc_host() -> None:
    """Skip (fail under CI=true, where .ci/run provides them) without root and Vagrant."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not root")
    if shutil.which("vagrant") is None:
        missing.append("no vagrant")
    if shutil.which("lxc-create") is None:
        missing.append("no lxc")
    if not missing:
        return
    reason = "doctor integration needs the lxc test bed host: " + ", ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


def plan_of(**fields: Any) -> Plan:
    return plan_lab(Lab.model_validate({"name": "doctortest", **fields}))


def by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in findings}


def free_cidr(facts: HostFacts) -> str:
    """A private /24 no route or address of this host touches."""
    taken = [
        ipaddress.IPv4Network(r.network) for r in facts.routes or () if r.network != "0.0.0.0/0"
    ]
    for third in range(200, 256):
        candidate = ipaddress.IPv4Network(f"10.250.{third}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return str(candidate)
    pytest.skip("no free 10.250.x.0/24 on this host")


@pytest.fixture(scope="module")
def lxc_plan_and_facts() -> tuple[Plan, HostFacts, float]:
    _require_vagrant_lxc_host()
    probe = plan_of(provider="lxc")
    start = time.monotonic()
    facts = gather_facts(probe)
    elapsed = time.monotonic() - start
    plan = plan_of(provider="lxc", network={"cidr": free_cidr(facts)})
    return plan, facts, elapsed


def test_facts_agree_with_the_host_read_independently(
    lxc_plan_and_facts: tuple[Plan, HostFacts, float],
) -> None:
    _, facts, elapsed = lxc_plan_and_facts
    assert elapsed < 30, f"probes run side by side with short timeouts; took {elapsed:.1f} s"
    assert facts.probe_errors == (), "every probe answered on the test bed"
    version = subprocess.run(
        ["vagrant", "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert facts.vagrant_version is not None
    assert facts.vagrant_version in version
    assert tuple(int(p) for p in facts.vagrant_version.split(".")) >= MIN_VAGRANT
    assert facts.vagrant_plugins is not None
    assert "vagrant-lxc" in {p.name for p in facts.vagrant_plugins}
    assert facts.boxes is not None
    assert facts.euid == 0
    assert facts.lxc_version is not None
    assert re.match(r"\d+\.\d+", facts.lxc_version)
    cgroot = Path("/sys/fs/cgroup")
    if (cgroot / "cgroup.controllers").is_file():
        layout = "v2"
    elif (cgroot / "unified" / "cgroup.controllers").exists():
        layout = "hybrid"
    else:
        layout = "v1"
    assert facts.cgroup_layout == layout
    assert {"memory", "cpu"} <= facts.cgroup_controllers
    assert facts.kvm_device == Path("/dev/kvm").exists()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert facts.cpu_virt_flags == frozenset(re.findall(r"\b(vmx|svm)\b", cpuinfo))
    assert facts.free_memory_mib is not None
    assert facts.free_memory_mib > 0
    assert {d.purpose for d in facts.disks} == {"boxes", "machines"}
    assert facts.routes is not None
    assert any(r.network == "0.0.0.0/0" for r in facts.routes), "the host has a default route"
    assert facts.addresses is not None
    assert any(a.address == "127.0.0.1" for a in facts.addresses)
    assert facts.libvirt_reachable is None, "libvirtd is only asked for a libvirt lab"


def test_an_lxc_lab_passes_the_lxc_checks_here(
    lxc_plan_and_facts: tuple[Plan, HostFacts, float],
) -> None:
    plan, facts, _ = lxc_plan_and_facts
    findings = by_id(judge(plan, facts))
    for check in ("vagrant", "vagrant-version", "provider", "lxc", "vagrant-lxc", "root"):
        assert findings[check].status == "ok", findings[check]
    assert findings["cgroup"].status == "ok"
    assert facts.cgroup_layout is not None
    assert facts.cgroup_layout in findings["cgroup"].message
    assert findings["cpu-virt"].status == "ok", "lxc needs no hardware virtualization"
    assert findings["network"].status == "ok", findings["network"]
    assert findings["arch"].status == "ok"
    assert "virtualbox-pairing" not in findings
    assert "libvirt" not in findings


def test_a_missing_lxc_box_fails_with_the_command_that_builds_it(
    lxc_plan_and_facts: tuple[Plan, HostFacts, float],
) -> None:
    _, facts, _ = lxc_plan_and_facts
    plan = plan_of(provider="lxc", box="labctl/none-nosuchrelease")
    box = by_id(judge(plan, facts))["box"]
    assert box.status == "fail"
    assert "--distro none --release nosuchrelease" in box.fix


def test_a_virtualbox_lab_fails_provider_on_a_host_without_virtualbox() -> None:
    _require_vagrant_lxc_host()
    if shutil.which("VBoxManage") is not None:
        pytest.skip("VirtualBox is installed on this host")
    plan = plan_of(provider="virtualbox")
    facts = gather_facts(plan)
    findings = by_id(judge(plan, facts))
    assert facts.vboxmanage_path is None
    assert findings["provider"].status == "fail"
    assert "VBoxManage" in findings["provider"].message
    with pytest.raises(PreflightFailedError) as caught:
        preflight(plan, facts, skip=())
    assert "provider" in caught.value.failed
    # The first minutes of a new user: only providers that can work on this very host are
    # suggested. This test bed has vagrant-lxc and cgroups; CI's VM has no VT-x/AMD-V flags.
    hint = caught.value.hint
    assert "`provider: lxc`" in hint, hint
    if facts.cpu_virt_flags == frozenset():
        assert "provider: libvirt" not in hint, hint
    failed_ids = [f.id for f in findings.values() if f.status == "fail"]
    assert preflight(plan, facts, skip=failed_ids)  # everything skipped: up may go on


def test_a_lab_network_on_a_real_route_of_another_interface_fails(
    lxc_plan_and_facts: tuple[Plan, HostFacts, float],
) -> None:
    _, facts, _ = lxc_plan_and_facts
    route = next(
        (
            r
            for r in facts.routes or ()
            if r.network != "0.0.0.0/0"
            and ipaddress.IPv4Network(r.network).is_private
            and 16 <= ipaddress.IPv4Network(r.network).prefixlen <= 28
        ),
        None,
    )
    if route is None:
        pytest.skip("this host has no private route to collide with")
    plan = plan_of(provider="lxc", network={"cidr": route.network})
    network = by_id(judge(plan, facts))["network"]
    assert network.status == "fail", network
    assert f"via {route.dev}" in network.message


def test_gathering_tolerates_a_host_without_any_tools(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    plan = plan_of(provider="lxc")
    facts = gather_facts(plan)  # must not raise
    assert facts.vagrant_path is None
    assert facts.routes is None
    findings = by_id(judge(plan, facts))
    assert findings["vagrant"].status == "fail"
    assert "box" not in findings
    assert findings["network"].status == "warn"
