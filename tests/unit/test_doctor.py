"""labctl doctor: parsing of host tool output, and judge() on hand-built HostFacts (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from labctl.doctor import (
    FINDING_IDS,
    DiskSpace,
    Finding,
    HostAddress,
    HostFacts,
    InstalledBox,
    Route,
    VagrantPlugin,
    cgroup_facts,
    disk_needs_mib,
    judge,
    normalize_arch,
    parse_addresses,
    parse_box_list,
    parse_cpu_flags,
    parse_machine_folder,
    parse_networks_conf,
    parse_plugin_list,
    parse_routes,
    parse_vboxmanage_version,
    parse_version,
    preflight,
)
from labctl.errors import ExitCode, PreflightFailedError, UsageError
from labctl.registry import plan_lab
from labctl.spec.model import Lab

if TYPE_CHECKING:
    from pathlib import Path

    from labctl.plan import Plan

GIB = 1024


def plan_of(provider: str = "lxc", **fields: Any) -> Plan:
    return plan_lab(Lab.model_validate({"name": "demo", "provider": provider, **fields}))


# A Linux host that can run every provider; each test changes what it is about.
GOOD = HostFacts(
    system="Linux",
    arch="x86_64",
    euid=0,
    vagrant_path="/usr/bin/vagrant",
    vagrant_version="2.4.9",
    vagrant_plugins=(
        VagrantPlugin("vagrant-lxc", "1.4.3"),
        VagrantPlugin("vagrant-libvirt", "0.12.2"),
    ),
    boxes=(
        InstalledBox("labctl/ubuntu-noble", "lxc", "0"),
        InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "amd64"),
        InstalledBox("bento/ubuntu-24.04", "libvirt", "202502.21.0", "amd64"),
    ),
    vboxmanage_path="/usr/bin/VBoxManage",
    virtualbox_version="7.2.4",
    virtualbox_machine_folder="/root/VirtualBox VMs",
    virsh_path="/usr/bin/virsh",
    libvirtd_path="/usr/sbin/libvirtd",
    libvirt_reachable=True,
    lxc_create_path="/usr/bin/lxc-create",
    lxc_info_path="/usr/bin/lxc-info",
    lxc_version="5.0.2",
    iptables_path="/usr/sbin/iptables",
    sudo_nopasswd=True,
    cgroup_layout="v2",
    cgroup_controllers=frozenset({"cpu", "memory", "pids", "io"}),
    cpu_virt_flags=frozenset({"vmx"}),
    kvm_device=True,
    free_memory_mib=32 * GIB,
    disks=(
        DiskSpace("boxes", "/root/.vagrant.d/boxes", "/root/.vagrant.d/boxes", 100 * GIB, 1),
        DiskSpace("machines", "/var/lib/lxc", "/var/lib/lxc", 100 * GIB, 1),
    ),
    vbox_networks_conf=None,
    routes=(Route("0.0.0.0/0", "eth0"), Route("192.0.2.0/24", "eth0")),
    addresses=(HostAddress("lo", "127.0.0.1", 8), HostAddress("eth0", "192.0.2.2", 24)),
    libvirt_networks=(),
)


def finding(plan: Plan, facts: HostFacts, finding_id: str) -> Finding:
    found = [f for f in judge(plan, facts) if f.id == finding_id]
    assert len(found) == 1, f"expected one {finding_id!r} finding, got {found}"
    return found[0]


def ids(plan: Plan, facts: HostFacts) -> list[str]:
    return [f.id for f in judge(plan, facts)]


# --- parsing -------------------------------------------------------------------------------------

# Captured from Vagrant 2.3.4 with vagrant-libvirt and vagrant-lxc on the test bed.
PLUGINS_MACHINE_READABLE = """\
1795755904,,ui,info,vagrant-libvirt (0.11.2%!(VAGRANT_COMMA) system)
1795755904,,plugin-name,vagrant-libvirt
1795755904,vagrant-libvirt,plugin-version,0.11.2%!(VAGRANT_COMMA) system
1795755904,,ui,info,vagrant-lxc (1.4.3%!(VAGRANT_COMMA) system)
1795755904,,plugin-name,vagrant-lxc
1795755904,vagrant-lxc,plugin-version,1.4.3%!(VAGRANT_COMMA) system
"""


def test_plugin_list_machine_readable_and_plain() -> None:
    expected = (VagrantPlugin("vagrant-libvirt", "0.11.2"), VagrantPlugin("vagrant-lxc", "1.4.3"))
    assert parse_plugin_list(PLUGINS_MACHINE_READABLE) == expected
    plain = "vagrant-libvirt (0.11.2, system)\nvagrant-lxc (1.4.3, system)\n"
    assert parse_plugin_list(plain) == expected
    assert parse_plugin_list("No plugins installed.\n") == ()


def test_box_list_machine_readable_with_and_without_architecture() -> None:
    text = (
        "1,,ui,info,labctl/debian-bookworm (lxc%!(VAGRANT_COMMA) 0)\n"
        "1,,box-name,labctl/debian-bookworm\n1,,box-provider,lxc\n1,,box-version,0\n"
        "2,,box-name,bento/ubuntu-24.04\n2,,box-provider,virtualbox\n"
        "2,,box-version,202502.21.0\n2,,box-architecture,arm64\n"
    )
    assert parse_box_list(text) == (
        InstalledBox("labctl/debian-bookworm", "lxc", "0", None),
        InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "arm64"),
    )
    assert parse_box_list("1,,ui,warn,There are no installed boxes!\n") == ()


def test_box_list_plain_reads_the_architecture_vagrant_2_4_prints() -> None:
    text = "bento/ubuntu-24.04 (virtualbox, 202502.21.0, (amd64))\nlabctl/x (lxc, 0)\n"
    assert parse_box_list(text) == (
        InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "amd64"),
        InstalledBox("labctl/x", "lxc", "0", None),
    )


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("7.0.14r161095\n", "7.0.14"),
        ("7.1.4_Ubuntur165100\n", "7.1.4"),
        ("WARNING: The vboxdrv kernel module is not loaded.\n6.1.50r161033\n", "6.1.50"),
        ("WARNING: Please install the kernel modules\n", None),
    ],
)
def test_vboxmanage_version_skips_warnings_and_build_suffixes(output: str, version: str) -> None:
    assert parse_vboxmanage_version(output) == version


def test_machine_folder_from_systemproperties() -> None:
    text = "API version:   7_0\nDefault machine folder:          /home/ada/VirtualBox VMs\n"
    assert parse_machine_folder(text) == "/home/ada/VirtualBox VMs"
    assert parse_machine_folder("API version: 7_0\n") is None


def test_networks_conf_keeps_ipv4_ranges_of_star_lines_only() -> None:
    text = (
        "# VirtualBox host-only ranges\n"
        "* 10.0.0.0/8 192.168.0.0/16   # lab and home\n"
        "* 2001::/64\n"
        "10.99.0.0/16\n"
        "* not-a-network\n"
    )
    assert [str(n) for n in parse_networks_conf(text)] == ["10.0.0.0/8", "192.168.0.0/16"]
    assert parse_networks_conf("") == []


def test_routes_and_addresses_from_ip_json() -> None:
    routes = json.dumps(
        [
            {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
            {"dst": "10.201.56.0/24", "dev": "labexp0", "prefsrc": "10.201.56.1"},
            {"dst": "10.9.9.9", "dev": "tun0"},
            {"type": "unreachable", "dst": "10.66.0.0/16"},
        ]
    )
    assert parse_routes(routes) == (
        Route("0.0.0.0/0", "eth0"),
        Route("10.201.56.0/24", "labexp0"),
        Route("10.9.9.9/32", "tun0"),
    )

    def link(ifname: str, family: str, local: str, prefixlen: int) -> dict[str, Any]:
        return {
            "ifname": ifname,
            "addr_info": [{"family": family, "local": local, "prefixlen": prefixlen}],
        }

    addrs = json.dumps(
        [
            link("lo", "inet", "127.0.0.1", 8),
            link("eth0", "inet6", "fe80::1", 64),
            link("lc-demo", "inet", "192.168.56.1", 24),
        ]
    )
    assert parse_addresses(addrs) == (
        HostAddress("lo", "127.0.0.1", 8),
        HostAddress("lc-demo", "192.168.56.1", 24),
    )


def test_cpu_flags_find_vmx_or_svm_only() -> None:
    intel = "processor\t: 0\nflags\t\t: fpu vme vmx sse2\n\nprocessor\t: 1\nflags\t\t: fpu vmx\n"
    assert parse_cpu_flags(intel) == frozenset({"vmx"})
    assert parse_cpu_flags("flags\t\t: fpu svm lm\n") == frozenset({"svm"})
    assert parse_cpu_flags("flags\t\t: fpu hypervisor lm\n") == frozenset()


def _cgroup_tree(root: Path, dirs: list[str], files: dict[str, str]) -> Path:
    for name in dirs:
        (root / name).mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_layouts(tmp_path: Path) -> None:
    v2 = _cgroup_tree(tmp_path / "v2", [], {"cgroup.controllers": "cpuset cpu io memory pids\n"})
    assert cgroup_facts(v2) == ("v2", frozenset({"cpuset", "cpu", "io", "memory", "pids"}))
    hybrid = _cgroup_tree(
        tmp_path / "hybrid",
        ["memory", "cpu,cpuacct", "pids", "systemd"],
        {"unified/cgroup.controllers": ""},
    )
    assert cgroup_facts(hybrid) == ("hybrid", frozenset({"memory", "cpu", "cpuacct", "pids"}))
    v1 = _cgroup_tree(tmp_path / "v1", ["memory", "cpu"], {})
    assert cgroup_facts(v1) == ("v1", frozenset({"memory", "cpu"}))
    assert cgroup_facts(tmp_path / "missing") == (None, frozenset())


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"), ("", None)],
)
def test_arch_names_map_to_one_name(machine: str, arch: str | None) -> None:
    assert normalize_arch(machine) == arch


def test_version_parsing() -> None:
    assert parse_version("Vagrant 2.3.4") == (2, 3, 4)
    assert parse_version("5.0.2") == (5, 0, 2)
    assert parse_version("7.1") == (7, 1)
    assert parse_version("unknown") is None
    assert parse_version(None) is None


# --- judge: shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("virtualbox", ["vagrant", "vagrant-version", "provider", "virtualbox-pairing"]),
        ("libvirt", ["vagrant", "vagrant-version", "provider", "libvirt"]),
        ("lxc", ["vagrant", "vagrant-version", "provider", "lxc", "vagrant-lxc", "root", "cgroup"]),
    ],
)
def test_each_provider_gets_its_own_findings_in_a_stable_order(
    provider: str, expected: list[str]
) -> None:
    common = ["cpu-virt", "memory", "disk", "network", "arch", "box", "controller"]
    if provider == "libvirt":  # which libvirt networks hold addresses (issue 17 item 4)
        common.insert(1, "libvirt-network")
    assert ids(plan_of(provider), GOOD) == expected + common
    assert all(f.status == "ok" for f in judge(plan_of(provider), GOOD))


def test_every_finding_id_is_a_known_one_and_every_problem_has_a_fix() -> None:
    bad = replace(
        GOOD,
        euid=1000,
        sudo_nopasswd=False,
        vagrant_version="2.2.0",
        virtualbox_version="7.1.0",
        libvirt_reachable=False,
        lxc_version="2.0.8",
        cgroup_layout=None,
        cgroup_controllers=frozenset(),
        cpu_virt_flags=frozenset(),
        kvm_device=False,
        free_memory_mib=1024,
        boxes=(),
        routes=(Route("192.168.56.0/24", "docker0"),),
    )
    for provider in ("virtualbox", "libvirt", "lxc"):
        findings = judge(plan_of(provider), bad)
        assert {f.id for f in findings} <= set(FINDING_IDS)
        problems = [f for f in findings if f.status != "ok"]
        assert len(problems) >= 5
        assert all(f.fix for f in problems), [f for f in problems if not f.fix]


# --- vagrant -------------------------------------------------------------------------------------


def test_no_vagrant_fails_once_and_drops_what_depends_on_it() -> None:
    facts = replace(GOOD, vagrant_path=None, vagrant_version=None, vagrant_plugins=None, boxes=None)
    plan = plan_of("lxc")
    got = finding(plan, facts, "vagrant")
    assert got.status == "fail"
    assert "developer.hashicorp.com/vagrant" in got.fix
    assert not {"vagrant-version", "vagrant-lxc", "box"} & set(ids(plan, facts))


@pytest.mark.parametrize(
    ("version", "status"), [("2.2.18", "fail"), ("2.2.19", "ok"), ("2.4.9", "ok"), (None, "warn")]
)
def test_vagrant_version_against_the_vagrantfiles_requirement(
    version: str | None, status: str
) -> None:
    got = finding(plan_of("lxc"), replace(GOOD, vagrant_version=version), "vagrant-version")
    assert got.status == status
    if status == "fail":
        assert "2.2.19" in got.message


# --- provider ------------------------------------------------------------------------------------


def test_virtualbox_missing_fails_provider_with_the_install_as_its_fix() -> None:
    """Alternatives are no longer named here, whether or not they work: the failed preflight
    names only those doctor sees can work on this host (tests/unit/test_survey.py)."""
    facts = replace(GOOD, vboxmanage_path=None, virtualbox_version=None)
    got = finding(plan_of("virtualbox"), facts, "provider")
    assert got.status == "fail"
    assert "VBoxManage" in got.message
    assert "virtualbox.org" in got.fix
    assert "provider:" not in got.fix
    assert "virtualbox-pairing" not in ids(plan_of("virtualbox"), facts)


def test_virtualbox_that_reports_no_version_fails_provider() -> None:
    facts = replace(
        GOOD,
        virtualbox_version=None,
        probe_errors=(("virtualbox-version", "vboxdrv kernel module is not loaded"),),
    )
    got = finding(plan_of("virtualbox"), facts, "provider")
    assert got.status == "fail"
    assert "vboxdrv" in got.message


def test_libvirt_provider_needs_the_vagrant_libvirt_plugin() -> None:
    facts = replace(GOOD, vagrant_plugins=(VagrantPlugin("vagrant-lxc", "1.4.3"),))
    got = finding(plan_of("libvirt"), facts, "provider")
    assert got.status == "fail"
    assert "vagrant plugin install vagrant-libvirt" in got.fix


def test_lxc_and_libvirt_labs_need_a_linux_host() -> None:
    mac = replace(GOOD, system="Darwin", arch="arm64")
    for provider in ("lxc", "libvirt"):
        got = finding(plan_of(provider), mac, "provider")
        assert got.status == "fail"
        assert "provider: virtualbox" in got.fix


# --- virtualbox-pairing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vagrant", "vbox", "status"),
    [
        ("2.3.4", "7.0.14", "ok"),
        ("2.3.1", "7.0.2", "fail"),  # 7.0 arrived in 2.3.2
        ("2.3.4", "7.1.0", "fail"),  # 7.1 arrived in 2.4.2
        ("2.4.1", "7.1.4", "fail"),
        ("2.4.2", "7.1.4", "ok"),
        ("2.4.8", "7.2.0", "fail"),  # 7.2 arrived in 2.4.9
        ("2.4.9", "7.2.4", "ok"),
        ("2.4.9", "7.3.0", "warn"),  # newer than labctl's table
    ],
)
def test_vagrant_virtualbox_pairing_table(vagrant: str, vbox: str, status: str) -> None:
    facts = replace(GOOD, vagrant_version=vagrant, virtualbox_version=vbox)
    got = finding(plan_of("virtualbox"), facts, "virtualbox-pairing")
    assert got.status == status, got
    if status == "fail":
        assert "upgrade Vagrant" in got.fix


@pytest.mark.parametrize(
    ("vbox", "status"), [("6.1.50", "fail"), ("7.0.4", "fail"), ("7.0.6", "ok")]
)
def test_virtualbox_without_audio_enabled_fails(vbox: str, status: str) -> None:
    """The Vagrantfile says `--audio-enabled off` (`--audio` is deprecated since 7.0.6, which
    brought --audio-enabled): older VirtualBox would stop `vagrant up` (issue 17 item 8)."""
    facts = replace(GOOD, vagrant_version="2.4.9", virtualbox_version=vbox)
    got = finding(plan_of("virtualbox"), facts, "virtualbox-pairing")
    assert got.status == status, got
    if status == "fail":
        assert got.message == (
            f"VirtualBox {vbox} does not know `modifyvm --audio-enabled`, which labctl's "
            "Vagrantfile uses (VirtualBox 7.0.6+)"
        )


def test_virtualbox_7_on_macos_needs_vagrant_2_3_3_for_private_networks() -> None:
    mac = replace(GOOD, system="Darwin", vagrant_version="2.3.2", virtualbox_version="7.0.14")
    got = finding(plan_of("virtualbox"), mac, "virtualbox-pairing")
    assert (got.status, got.message) == (
        "fail",
        "Vagrant 2.3.2 does not support VirtualBox 7.0 on macOS (private networks) "
        "(support arrived in Vagrant 2.3.3)",
    )
    linux = replace(mac, system="Linux")
    assert finding(plan_of("virtualbox"), linux, "virtualbox-pairing").status == "ok"


def test_macos_with_virtualbox_7_is_not_held_to_the_host_only_range() -> None:
    ten = plan_of("virtualbox", network={"cidr": "10.10.0.0/24"})
    mac = replace(GOOD, system="Darwin", routes=(), addresses=())
    assert finding(ten, mac, "network").status == "ok"
    old_mac = replace(mac, virtualbox_version="6.1.50")
    assert finding(ten, old_mac, "network").status == "fail"


def test_pairing_fix_names_the_newest_series_the_installed_vagrant_drives() -> None:
    facts = replace(GOOD, vagrant_version="2.3.4", virtualbox_version="7.1.6")
    got = finding(plan_of("virtualbox"), facts, "virtualbox-pairing")
    assert "2.4.2" in got.fix
    assert "(7.0)" in got.fix


# --- libvirt -------------------------------------------------------------------------------------


def test_libvirt_daemon_states() -> None:
    plan = plan_of("libvirt")
    assert finding(plan, GOOD, "libvirt").status == "ok"
    missing = finding(plan, replace(GOOD, virsh_path=None, libvirtd_path=None), "libvirt")
    assert missing.status == "fail"
    assert "apt install libvirt-daemon-system" in missing.fix
    down = replace(
        GOOD,
        libvirt_reachable=False,
        probe_errors=(("libvirt", "failed to connect to the hypervisor"),),
    )
    got = finding(plan, down, "libvirt")
    assert got.status == "fail"
    assert "failed to connect" in got.message
    assert "libvirtd" in got.fix


# --- lxc, vagrant-lxc, root, cgroup --------------------------------------------------------------


def test_lxc_tools_and_version() -> None:
    plan = plan_of("lxc")
    assert finding(plan, GOOD, "lxc").status == "ok"
    no_lxc = finding(plan, replace(GOOD, lxc_create_path=None, lxc_info_path=None), "lxc")
    assert no_lxc.status == "fail"
    assert no_lxc.fix == "`sudo apt install lxc`"
    no_nat = finding(plan, replace(GOOD, iptables_path=None), "lxc")
    assert no_nat.status == "fail"
    assert "iptables" in no_nat.fix
    old = finding(plan, replace(GOOD, lxc_version="2.0.11"), "lxc")
    assert old.status == "fail"
    assert "2.1" in old.message


def test_vagrant_lxc_plugin() -> None:
    plan = plan_of("lxc")
    assert finding(plan, GOOD, "vagrant-lxc").status == "ok"
    none = replace(GOOD, vagrant_plugins=(VagrantPlugin("vagrant-libvirt", "0.12.2"),))
    got = finding(plan, none, "vagrant-lxc")
    assert got.status == "fail"
    assert "apt install vagrant-lxc" in got.fix
    old = replace(GOOD, vagrant_plugins=(VagrantPlugin("vagrant-lxc", "1.2.0"),))
    assert finding(plan, old, "vagrant-lxc").status == "fail"
    unknown = replace(GOOD, vagrant_plugins=None, probe_errors=(("vagrant-plugins", "timed out"),))
    assert finding(plan, unknown, "vagrant-lxc").status == "warn"


def test_root_says_whether_sudo_would_have_helped() -> None:
    plan = plan_of("lxc")
    assert finding(plan, GOOD, "root").status == "ok"
    with_sudo = finding(plan, replace(GOOD, euid=1000, sudo_nopasswd=True), "root")
    assert with_sudo.status == "fail"
    assert "passwordless sudo works" in with_sudo.message
    assert "lc-demo" in with_sudo.message
    assert "sudo labctl up" in with_sudo.fix
    without = finding(plan, replace(GOOD, euid=1000, sudo_nopasswd=False), "root")
    assert "sudo asks for a password" in without.message
    assert "root" not in ids(plan_of("virtualbox"), GOOD)


def test_cgroup_layouts_and_controllers() -> None:
    plan = plan_of("lxc")
    v2 = finding(plan, GOOD, "cgroup")
    assert (v2.status, "cgroup2" in v2.message) == ("ok", True)
    hybrid = replace(GOOD, cgroup_layout="hybrid", cgroup_controllers=frozenset({"cpu", "memory"}))
    got = finding(plan, hybrid, "cgroup")
    assert (got.status, "(v1)" in got.message) == ("ok", True)
    no_memory = replace(hybrid, cgroup_controllers=frozenset({"cpu", "pids"}))
    got = finding(plan, no_memory, "cgroup")
    assert got.status == "fail"
    assert "memory" in got.message
    old_lxc = finding(plan, replace(GOOD, lxc_version="3.0.4"), "cgroup")
    assert old_lxc.status == "fail"
    assert "4.0" in old_lxc.message
    none = replace(GOOD, cgroup_layout=None, cgroup_controllers=frozenset())
    assert finding(plan, none, "cgroup").status == "fail"


# --- cpu-virt ------------------------------------------------------------------------------------


def test_cpu_virtualization_per_provider() -> None:
    no_flags = replace(GOOD, cpu_virt_flags=frozenset(), kvm_device=False)
    lxc = finding(plan_of("lxc"), no_flags, "cpu-virt")
    assert lxc.status == "ok"
    assert "not needed" in lxc.message
    vbox = finding(plan_of("virtualbox"), no_flags, "cpu-virt")
    assert vbox.status == "fail"
    assert "VT-x" in vbox.fix
    assert finding(plan_of("virtualbox"), GOOD, "cpu-virt").status == "ok"
    unknown = replace(GOOD, cpu_virt_flags=None)
    assert finding(plan_of("virtualbox"), unknown, "cpu-virt").status == "warn"
    apple = replace(GOOD, system="Darwin", arch="arm64", cpu_virt_flags=None, kvm_device=False)
    assert finding(plan_of("virtualbox"), apple, "cpu-virt").status == "ok"


def test_libvirt_needs_dev_kvm_and_warns_on_nested_without_flags() -> None:
    plan = plan_of("libvirt")
    assert finding(plan, GOOD, "cpu-virt").status == "ok"
    assert finding(plan, replace(GOOD, kvm_device=False), "cpu-virt").status == "fail"
    nested = finding(plan, replace(GOOD, cpu_virt_flags=frozenset()), "cpu-virt")
    assert nested.status == "warn"
    assert "nested" in nested.message


# --- memory, disk --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "status"), [(8 * GIB, "ok"), (6500, "warn"), (5 * GIB, "fail"), (None, "warn")]
)
def test_memory_of_a_vm_lab_must_fit_in_free_memory(free: int | None, status: str) -> None:
    plan = plan_of("virtualbox")  # 3 x 2 GiB
    got = finding(plan, replace(GOOD, free_memory_mib=free), "memory")
    assert got.status == status
    if status == "fail":
        assert "6144 MiB" in got.message
        assert "memory:" in got.fix


def test_lxc_memory_limits_are_ceilings_so_overcommit_only_warns() -> None:
    got = finding(plan_of("lxc"), replace(GOOD, free_memory_mib=4 * GIB), "memory")
    assert got.status == "warn"
    assert finding(plan_of("lxc"), GOOD, "memory").status == "ok"


def test_disk_needs_per_provider_and_gitlab() -> None:
    assert disk_needs_mib(plan_of("lxc")) == {"boxes": 512, "machines": 3 * 1536}
    assert disk_needs_mib(plan_of("virtualbox")) == {"boxes": 2048, "machines": 3 * 4096}
    gitlab = plan_of("libvirt", addons={"gitlab": {"enabled": True}})
    assert disk_needs_mib(gitlab) == {"boxes": 2048, "machines": 4 * 4096 + 8192}


def test_disk_adds_up_needs_that_share_a_file_system() -> None:
    plan = plan_of("lxc")  # 512 + 4608 = 5120 MiB
    shared = (
        DiskSpace("boxes", "/root/.vagrant.d/boxes", "/root", 5000, 7),
        DiskSpace("machines", "/var/lib/lxc", "/var/lib", 5000, 7),
    )
    got = finding(plan, replace(GOOD, disks=shared), "disk")
    assert got.status == "fail"
    assert "5120" in got.message
    apart = (replace(shared[0], device=1), replace(shared[1], device=2))
    assert finding(plan, replace(GOOD, disks=apart), "disk").status == "warn"  # 4608 of 5000
    roomy = (replace(shared[0], free_mib=10_000), replace(shared[1], free_mib=10_000))
    assert finding(plan, replace(GOOD, disks=roomy), "disk").status == "ok"
    assert finding(plan, replace(GOOD, disks=()), "disk").status == "warn"


# --- network -------------------------------------------------------------------------------------


def test_virtualbox_default_range_without_networks_conf() -> None:
    assert finding(plan_of("virtualbox"), GOOD, "network").status == "ok"  # 192.168.56.0/24
    outside = plan_of("virtualbox", network={"cidr": "10.10.0.0/24"})
    got = finding(outside, GOOD, "network")
    assert got.status == "fail"
    assert "192.168.56.0/21" in got.message
    assert "with the line `* 192.168.56.0/21 10.10.0.0/24`" in got.fix


def test_networks_conf_replaces_the_default_range() -> None:
    ten = plan_of("virtualbox", network={"cidr": "10.10.0.0/24"})
    conf = replace(GOOD, vbox_networks_conf="* 10.0.0.0/8\n")
    assert finding(ten, conf, "network").status == "ok"
    default = finding(plan_of("virtualbox"), conf, "network")
    assert default.status == "fail"
    assert "/etc/vbox/networks.conf" in default.message
    assert "add the line `* 192.168.56.0/24` to /etc/vbox/networks.conf" in default.fix


def test_networks_conf_only_binds_virtualbox_6_1_28_and_later_off_windows() -> None:
    ten = plan_of("virtualbox", network={"cidr": "10.10.0.0/24"})
    assert finding(ten, GOOD, "network").status == "fail"
    assert finding(ten, replace(GOOD, virtualbox_version="6.1.26"), "network").status == "ok"
    windows = replace(GOOD, system="Windows", routes=(), addresses=())
    assert finding(ten, windows, "network").status == "ok"
    lxc = plan_of("lxc", network={"cidr": "10.10.0.0/24"})
    assert finding(lxc, GOOD, "network").status == "ok"


def test_a_route_on_another_interface_is_a_conflict_but_the_labs_own_bridge_is_not() -> None:
    taken = replace(
        GOOD,
        routes=(Route("192.168.56.0/24", "lc-demo"),),
        addresses=(HostAddress("lc-demo", "192.168.56.1", 24),),
    )
    assert finding(plan_of("lxc"), taken, "network").status == "ok"  # lab demo's own bridge
    other_lab = plan_of("lxc", name="other")
    got = finding(other_lab, taken, "network")
    assert got.status == "fail"
    assert "192.168.56.0/24 is already routed via lc-demo" in got.message
    assert "network.cidr" in got.fix


def test_route_overlaps_narrower_broader_and_hypervisor_interfaces() -> None:
    plan = plan_of("virtualbox")
    narrower = replace(GOOD, routes=(Route("192.168.56.128/25", "docker0"),))
    assert finding(plan, narrower, "network").status == "fail"
    host_route = replace(GOOD, routes=(Route("192.168.56.12/32", "tun0"),))
    assert finding(plan, host_route, "network").status == "fail"
    broader = replace(GOOD, routes=(Route("192.168.0.0/16", "wg0"),))
    got = finding(plan, broader, "network")
    assert got.status == "warn"
    assert "inside 192.168.0.0/16" in got.message
    earlier_up = replace(GOOD, routes=(Route("192.168.56.0/24", "vboxnet0"),))
    assert finding(plan, earlier_up, "network").status == "warn"
    unrelated = replace(GOOD, routes=(Route("0.0.0.0/0", "eth0"), Route("10.0.3.0/24", "lxcbr0")))
    assert finding(plan, unrelated, "network").status == "ok"


def test_an_address_inside_the_lab_on_another_interface_is_a_conflict() -> None:
    facts = replace(GOOD, addresses=(HostAddress("eth1", "192.168.56.20", 32),))
    got = finding(plan_of("lxc"), facts, "network")
    assert got.status == "fail"
    assert "eth1 holds 192.168.56.20/32" in got.message


def test_unreadable_routes_warn() -> None:
    facts = replace(
        GOOD, routes=None, addresses=None, probe_errors=(("routes", "ip is not installed"),)
    )
    got = finding(plan_of("lxc"), facts, "network")
    assert got.status == "warn"
    assert "ip is not installed" in got.message


# --- arch ----------------------------------------------------------------------------------------


def test_arm64_mac_with_the_default_box_passes_labctls_table() -> None:
    """bento/ubuntu-24.04 is built for VirtualBox on arm64 too (VirtualBox 7.1+ on Apple
    Silicon): preflight must not fail the default box there (issue 17 item 2)."""
    mac = replace(GOOD, system="Darwin", arch="arm64", boxes=())
    got = finding(plan_of("virtualbox"), mac, "arch")
    assert (got.status, got.message) == (
        "ok",
        "arm64 host; box bento/ubuntu-24.04 (virtualbox) fits",
    )


def test_arm64_mac_with_an_amd64_only_box_fails() -> None:
    amd_box = (InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "amd64"),)
    mac = replace(GOOD, system="Darwin", arch="arm64", boxes=amd_box)
    got = finding(plan_of("virtualbox"), mac, "arch")
    assert got.status == "fail"
    assert "amd64" in got.message
    assert "arm64" in got.message
    assert "box:" in got.fix


def test_installed_box_architecture_wins_over_the_table() -> None:
    arm_box = (InstalledBox("bento/ubuntu-24.04", "virtualbox", "202502.21.0", "arm64"),)
    mac = replace(GOOD, system="Darwin", arch="arm64", boxes=arm_box)
    assert finding(plan_of("virtualbox"), mac, "arch").status == "ok"
    intel = replace(GOOD, boxes=arm_box)
    assert finding(plan_of("virtualbox"), intel, "arch").status == "fail"


def test_arch_of_lxc_and_unknown_boxes() -> None:
    arm_linux = replace(GOOD, arch="aarch64")
    assert finding(plan_of("lxc"), arm_linux, "arch").status == "ok"  # built on this host
    custom = plan_of("virtualbox", box="acme/ubuntu")
    assert finding(custom, GOOD, "arch").status == "ok"  # assumed amd64 on an amd64 host
    assert finding(custom, arm_linux, "arch").status == "warn"
    old_vagrant = replace(arm_linux, vagrant_version="2.3.7")
    got = finding(custom, old_vagrant, "arch")
    assert got.status == "warn"
    assert "2.4.0" in got.fix


# --- box -----------------------------------------------------------------------------------------


def test_lxc_box_must_be_built_locally() -> None:
    plan = plan_of("lxc")
    assert finding(plan, GOOD, "box").status == "ok"
    got = finding(plan, replace(GOOD, boxes=()), "box")
    assert got.status == "fail"
    assert got.fix == "`sudo labctl box build --provider lxc --distro ubuntu --release noble`"
    other = finding(plan_of("lxc", box="acme/alpine"), GOOD, "box")
    assert other.status == "fail"
    assert "vagrant box add --name acme/alpine --provider lxc" in other.fix


def test_vm_boxes_are_downloaded_on_first_up() -> None:
    got = finding(plan_of("virtualbox"), replace(GOOD, boxes=()), "box")
    assert got.status == "warn"
    assert "downloaded on the first `up`" in got.message
    assert got.fix == "download it now: `vagrant box add bento/ubuntu-24.04 --provider virtualbox`"
    pinned = plan_of("virtualbox", box_version="202404.26.0")
    got = finding(pinned, GOOD, "box")  # installed, but another version
    assert got.status == "warn"
    assert "--box-version '202404.26.0'" in got.fix
    constraint = plan_of("virtualbox", box_version=">= 202401.0.0")
    assert finding(constraint, GOOD, "box").status == "ok"  # Vagrant resolves constraints


def test_box_listing_failure_warns() -> None:
    facts = replace(GOOD, boxes=None, probe_errors=(("vagrant-boxes", "timed out"),))
    got = finding(plan_of("lxc"), facts, "box")
    assert got.status == "warn"
    assert "timed out" in got.message


# --- preflight -----------------------------------------------------------------------------------

BROKEN_FOR_LXC = replace(GOOD, euid=1000, sudo_nopasswd=False, boxes=())


def test_preflight_raises_one_error_listing_every_failure() -> None:
    with pytest.raises(PreflightFailedError) as caught:
        preflight(plan_of("lxc"), BROKEN_FOR_LXC, skip=())
    error = caught.value
    assert error.exit_code == ExitCode.PREFLIGHT == 3
    assert list(error.failed) == ["root", "box"]
    assert error.message == "2 preflight checks failed: root, box"
    lines = error.lines()
    assert len(lines) == 2
    assert lines[0].startswith("root: not running as root")
    assert "(fix: " in lines[1]
    assert "--skip-preflight root" in error.hint


def test_preflight_skips_what_the_user_accepts_and_returns_all_findings() -> None:
    with pytest.raises(PreflightFailedError) as caught:
        preflight(plan_of("lxc"), BROKEN_FOR_LXC, skip={"root"})
    assert list(caught.value.failed) == ["box"]
    assert caught.value.message == "1 preflight check failed: box"
    findings = preflight(plan_of("lxc"), BROKEN_FOR_LXC, skip=["root", "box"])
    assert [f.status for f in findings if f.id in {"root", "box"}] == ["fail", "fail"]
    assert preflight(plan_of("lxc"), GOOD) == judge(plan_of("lxc"), GOOD)


def test_preflight_rejects_a_skip_id_that_names_no_check() -> None:
    with pytest.raises(UsageError) as caught:
        preflight(plan_of("lxc"), GOOD, skip=["memroy"])
    assert "'memroy'" in caught.value.message
    assert "memory" in caught.value.hint


def test_facts_serialize_to_json() -> None:
    data = json.loads(json.dumps(GOOD.to_dict()))
    assert data["cgroup_controllers"] == ["cpu", "io", "memory", "pids"]
    assert data["boxes"][0] == {
        "name": "labctl/ubuntu-noble",
        "provider": "lxc",
        "version": "0",
        "architecture": None,
    }
