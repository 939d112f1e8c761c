"""lxc through vagrant-lxc: machines are system containers on this Linux host.

No hardware virtualization is needed, so a lab boots in seconds; labctl itself gives the lab a
host bridge with NAT (network.py), keeps snapshots as rootfs copies (snapshots.py) and builds
the box locally (box.py), because none of these come with vagrant-lxc.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labctl.providers.base import Provider
from labctl.providers.lxc.network import bridge_name

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from labctl.doctor import HostFacts
    from labctl.lab.snapshot import Backend
    from labctl.plan import Plan
    from labctl.providers.base import Rule, Step
    from labctl.tools.vagrant import VagrantLab


class Lxc(Provider):
    name = "lxc"
    label = "lxc (Linux containers)"
    default_box = "labctl/ubuntu-noble"  # built locally: `labctl box build --provider lxc`
    vagrant_block = "vagrant/lxc.rb.j2"
    vagrant_preamble = "vagrant/lxc-preamble.rb.j2"
    machines_share_host_memory = True
    # vagrant-lxc registers itself `parallel: true`: one `vagrant up` makes every container at
    # once (Vagrant's box lock lets one machine add a missing box while the others wait), as a
    # user's own `vagrant up` would; booting the first alone cost a container's start (~10 s).
    boots_together = True
    boxes_built_locally = True
    # A copied rootfs (~360 MB measured) plus K3s; the box is ~85 MiB once added.
    disk_estimate_mib = (1536, 512)

    def network_bridge(self, lab_name: str) -> str | None:
        return bridge_name(lab_name)

    def setup_on(self, facts: HostFacts) -> str | None:
        from labctl.providers.lxc.preflight import setup_on  # noqa: PLC0415 - doctor only

        return setup_on(facts, self.default_box)

    def preflight_rules(self) -> Sequence[Rule]:
        from labctl.providers.lxc.preflight import RULES  # noqa: PLC0415 - doctor only

        return RULES

    def local_box_fix(self, box: str) -> str:
        from labctl.providers.lxc.preflight import lxc_box_fix  # noqa: PLC0415

        return lxc_box_fix(box)

    def machines_dir(self, facts: HostFacts) -> Path:
        del facts
        return Path("/var/lib/lxc")  # where vagrant-lxc puts containers

    def fleet_memory_warning(self, labs: int, need: int, free: int) -> str:
        del labs
        return (
            f"the labs' memory limits add up to {need} MiB and {free} MiB is free; "
            "lxc limits are ceilings, so this holds while the labs stay mostly idle"
        )

    def before_boot(self, plan: Plan, vagrant: VagrantLab, on_step: Step) -> None:
        """The lab bridge with its NAT, and no container this lab left (an interrupted boot, a
        removed `.labctl/`); another directory's containers of the same names are refused."""
        from labctl.lab.state import load_state  # noqa: PLC0415
        from labctl.providers import vm_names  # noqa: PLC0415
        from labctl.providers.lxc.containers import (  # noqa: PLC0415
            container_marker,
            existing,
            foreign,
            remove_orphans,
        )
        from labctl.providers.lxc.network import ensure_lab_network  # noqa: PLC0415
        from labctl.render import machine_marker  # noqa: PLC0415

        names = [m.name for m in plan.machines]
        # lxc-ls answers in milliseconds what `vagrant status` takes a second to say.
        states = self.machine_states(vagrant.lab_dir, names)
        if states is None:
            states = {m.name: m.state for m in vagrant.status()}
        unknown = existing(name for name, state in states.items() if state == "not_created")
        if unknown:
            began = load_state(vagrant.lab_dir, plan.name).phases.get("boot") is not None
            marks = {name: container_marker(name) for name in unknown}
            vm_names.refuse_foreign(
                [
                    f"{name} already exists and is not this lab's"
                    for name in foreign(marks, machine_marker(vagrant.lab_dir), began)
                ],
                "lxc container names taken",
                plan.lab.name,
                delete="sudo lxc-destroy --force --name NAME",
            )
            for name in remove_orphans(unknown):
                on_step(f"{name}: removed a container an earlier run of this lab left")
        ensure_lab_network(plan.name, plan.network.cidr)

    def machine_states(self, lab_dir: Path, names: Sequence[str]) -> Mapping[str, str] | None:
        """One `lxc-ls` for all machines (vagrant-lxc asks `lxc-info` per machine, as root
        through its sudo wrapper: without root, leave it to Vagrant)."""
        import os  # noqa: PLC0415

        from labctl.providers import machine_states as ms  # noqa: PLC0415
        from labctl.providers.lxc._run import probe  # noqa: PLC0415

        ids = {name: ms.recorded_id(lab_dir, name, self.name) for name in names}
        if not any(ids.values()):
            return dict.fromkeys(names, ms.NOT_CREATED)
        if os.geteuid() != 0:
            return None
        try:
            listed = probe(["lxc-ls", "--fancy", "--fancy-format", "name,state"])
        except OSError:
            return None
        if listed.returncode != 0:
            return None
        return ms.states_by_id(names, ids, ms.parse_lxc_ls_states(listed.stdout))

    def after_destroy(self, plan: Plan) -> Iterator[str]:
        from labctl.providers.lxc.network import remove_lab_network  # noqa: PLC0415

        remove_lab_network(plan.name)
        yield f"removed the lab bridge {plan.network.bridge} and its NAT rules"

    def snapshot_backend(self, plan: Plan, lab_dir: Path) -> Backend:
        from labctl.providers.lxc.snapshots import LxcBackend  # noqa: PLC0415

        return LxcBackend(lab_dir)

    def local_box_hint(self, box: str) -> str | None:
        if box.startswith("labctl/"):
            return "run `labctl box build --provider lxc` first"
        return None
