"""VirtualBox: the default provider (Windows, macOS, Linux), through Vagrant's built-in driver."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from labctl.providers.base import Provider

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator, Mapping, Sequence

    from labctl.doctor import HostFacts
    from labctl.plan import Plan
    from labctl.providers.base import Rule, Step
    from labctl.spec.model import Lab
    from labctl.tools.vagrant import VagrantLab


class VirtualBox(Provider):
    name = "virtualbox"
    label = "VirtualBox"
    default_box = "bento/ubuntu-24.04"
    vagrant_block = "vagrant/virtualbox.rb.j2"
    host_interface_prefixes: ClassVar[tuple[str, ...]] = ("vboxnet",)

    def spec_warnings(self, lab: Lab) -> Sequence[tuple[tuple[str | int, ...], str]]:
        network = ipaddress.IPv4Network(lab.network.cidr)
        if network.subnet_of(VBOX_HOSTONLY_DEFAULT):
            return ()
        return (
            (
                ("network", "cidr"),
                f"{network} is outside VirtualBox's default host-only range 192.168.56.0/21; "
                f"allow it in /etc/vbox/networks.conf (a line `* {network}`) or pick a subnet "
                "inside the range",
            ),
        )

    def setup_on(self, facts: HostFacts) -> str | None:
        from labctl.doctor.parse import normalize_arch  # noqa: PLC0415

        x86 = normalize_arch(facts.arch) in {"amd64", "386"}
        if x86 and facts.cpu_virt_flags is not None and not facts.cpu_virt_flags:
            return None  # no VT-x/AMD-V: VirtualBox cannot start a 64-bit VM here
        steps = []
        if facts.vagrant_path is None:
            steps.append("install Vagrant (https://developer.hashicorp.com/vagrant/install)")
        if facts.vboxmanage_path is None:
            steps.append("install VirtualBox (https://www.virtualbox.org/wiki/Downloads)")
        return ", then ".join(steps)

    def preflight_rules(self) -> Sequence[Rule]:
        # The rules load only for preflight: labctl.doctor costs every other command ~40 ms.
        from labctl.providers import virtualbox_rules as rules  # noqa: PLC0415

        return (rules.provider_rule, rules.virtualbox_pairing, rules.cpu_virt)

    def before_boot(self, plan: Plan, vagrant: VagrantLab, on_step: Step) -> None:
        """Refuse VM names another lab's VMs hold (vb.name is the machine name)."""
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        del on_step
        listed = _vboxmanage("list", "vms")
        if listed.returncode != 0:
            return  # doctor's provider finding already says what is wrong with VirtualBox
        wanted = {m.name: m.name for m in plan.machines}
        on_host = vm_names.parse_vbox_list_vms(listed.stdout)
        recorded = vm_names.recorded_ids(vagrant.lab_dir, self.name)
        problems = vm_names.foreign_machines(wanted, on_host, recorded)
        if problems:
            own = vm_names.left_behind(
                wanted, on_host, recorded, _vbox_description, machine_marker(vagrant.lab_dir)
            )
            vm_names.refuse_foreign(
                problems, "VirtualBox VM names taken", plan.lab.name, tuple(own),
                "VBoxManage unregistervm NAME --delete",
            )  # fmt: skip

    def remove_left_behind(self, plan: Plan, lab_dir: Path) -> Iterator[str]:
        """Power off and delete VMs with this lab's names and its directory's marker that its
        `.vagrant/` no longer records (the VM, its disks and its snapshots)."""
        from labctl.errors import BootError  # noqa: PLC0415
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        listed = _vboxmanage("list", "vms")
        if listed.returncode != 0:
            return  # doctor's provider finding already says what is wrong with VirtualBox
        found = vm_names.left_behind(
            {m.name: m.name for m in plan.machines},
            vm_names.parse_vbox_list_vms(listed.stdout),
            vm_names.recorded_ids(lab_dir, self.name),
            _vbox_description,
            machine_marker(lab_dir),
        )
        for name, uuid in found.items():
            _vboxmanage("controlvm", uuid, "poweroff")  # fails harmlessly when already off
            gone = _vboxmanage("unregistervm", uuid, "--delete")
            if gone.returncode != 0:
                raise BootError(
                    f"could not delete VM {name} ({uuid}) an earlier run of this lab left: "
                    f"{(gone.stderr or gone.stdout).strip()[-300:]}",
                    f"delete it by hand: VBoxManage unregistervm {uuid} --delete",
                )
            yield f"deleted VM {name} ({uuid}), left by an earlier run of this lab"

    def machine_states(self, lab_dir: Path, names: Sequence[str]) -> Mapping[str, str] | None:
        """`VBoxManage showvminfo` of each recorded id, as Vagrant's driver reads the state; a
        VBoxManage that fails otherwise than "not found" leaves it to Vagrant."""
        from labctl.providers import machine_states as ms  # noqa: PLC0415

        ids = {name: ms.recorded_id(lab_dir, name, self.name) for name in names}
        on_host: dict[str, str] = {}
        for ident in filter(None, ids.values()):
            info = _vboxmanage("showvminfo", ident, "--machinereadable")
            state = ms.parse_vbox_state(info.stdout) if info.returncode == 0 else None
            if state is None and ms.VBOX_NOT_FOUND not in info.stderr:
                return None
            if state is not None:
                on_host[ident] = state
        return ms.states_by_id(names, ids, on_host)

    def check_host_network(
        self, lab: ipaddress.IPv4Network, facts: HostFacts, fails: list[str], fixes: list[str]
    ) -> None:
        from labctl.providers.virtualbox_rules import check_vbox_range  # noqa: PLC0415

        if facts.system != "Windows":
            allowed = self.fleet_ranges(facts.vbox_networks_conf)
            check_vbox_range(lab, facts, allowed, fails, fixes)

    def machines_dir(self, facts: HostFacts) -> Path:
        folder = facts.virtualbox_machine_folder
        return Path(folder) if folder else Path.home() / "VirtualBox VMs"

    def fleet_ranges(self, networks_conf: str | None) -> tuple[ipaddress.IPv4Network, ...]:
        """VirtualBox's host-only ranges; /etc/vbox/networks.conf (its text: `networks_conf`)
        replaces the default when it exists, as VirtualBox itself reads it."""
        if networks_conf is None:
            return (VBOX_HOSTONLY_DEFAULT,)
        from labctl.doctor.parse import parse_networks_conf  # noqa: PLC0415

        return tuple(parse_networks_conf(networks_conf))

    def fleet_no_fit_hint(self) -> str:
        return (
            "allow more in /etc/vbox/networks.conf (a line like `* 192.168.56.0/21 "
            "10.56.0.0/16`; the file replaces VirtualBox's default) or use fewer labs"
        )


VBOX_HOSTONLY_DEFAULT = ipaddress.IPv4Network("192.168.56.0/21")


def _vboxmanage(*args: str) -> subprocess.CompletedProcess[str]:
    """`VBoxManage ARGS`, never raising: a missing binary or a hang is a non-zero return."""
    import subprocess  # noqa: PLC0415

    try:
        return subprocess.run(
            ["VBoxManage", *args], check=False, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["VBoxManage", *args], 127, "", str(exc))


def _vbox_description(uuid: str) -> str:
    from labctl.providers.vm_names import parse_vbox_description  # noqa: PLC0415

    return parse_vbox_description(_vboxmanage("showvminfo", uuid, "--machinereadable").stdout)
