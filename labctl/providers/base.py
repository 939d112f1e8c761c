"""The provider seam: everything that differs by kind of machine, asked of one object.

Core code never compares a provider's name. It holds a `Provider` (the plan carries the lab's,
chosen by `labctl.registry.get`) and asks it: which box by default, which block of the
Vagrantfile, which host bridge, which preflight rules, how its machines boot, where its
snapshots go, what teardown must remove besides the machines, and how to run a command on a
machine. The defaults here are what a plain Vagrant provider does; a provider overrides what
differs. Methods that touch the host import their edges lazily, so planning stays pure.
"""

from __future__ import annotations

from abc import ABC
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    from labctl.checks.runner import Executor
    from labctl.doctor import Finding, HostFacts
    from labctl.lab.snapshot import Backend
    from labctl.plan import Plan
    from labctl.spec.model import Lab
    from labctl.tools.ssh import SshTarget
    from labctl.tools.vagrant import VagrantLab

    Rule = Callable[[Plan, HostFacts], Finding | None]
    Step = Callable[[str], None]

# The fleet allocates lab subnets from here unless the provider restricts it.
FLEET_DEFAULT_RANGE = IPv4Network("10.200.0.0/16")


class Provider(ABC):
    """One kind of machine labctl can build a lab on (registered as a `labctl.providers` entry
    point). Instances are stateless; one per process is enough."""

    name: ClassVar[str]
    """What lab.yaml's `provider:` says, and Vagrant's provider name."""
    label: ClassVar[str]
    """How people write it: "VirtualBox", "libvirt (KVM)"."""
    default_box: ClassVar[str]
    vagrant_block: ClassVar[str]
    """The template (under templates/) of each machine's provider block in the Vagrantfile."""
    vagrant_preamble: ClassVar[str | None] = None
    """A template rendered once before `Vagrant.configure`, where the block needs Ruby set-up."""
    boots_machines: ClassVar[bool] = True
    """Vagrant makes and boots the machines. False: they exist already (`provider: ssh`), so
    there is no Vagrantfile, boot, halt or snapshot, and destroy uninstalls instead."""
    boots_together: ClassVar[bool] = False
    """Whether `vagrant up` of all machines at once is safe (else: first alone, then the rest)."""
    labs_boot_together: ClassVar[bool] = True
    """Whether a fleet may `vagrant up` several labs at once from the start (else the first
    lab boots alone, then the rest)."""
    machines_share_host_memory: ClassVar[bool] = False
    """Memory limits are ceilings (containers), not reservations (VMs)."""
    places_remotely: ClassVar[bool] = False
    """Whether a fleet may place its labs on other hypervisors (`labctl fleet up --hosts`)."""
    config_section: ClassVar[str | None] = None
    """The lab.yaml section only this provider reads (`libvirt:`), if any."""
    boxes_built_locally: ClassVar[bool] = False
    """Boxes are built on this host (`labctl box build`), never downloaded."""
    host_interface_prefixes: ClassVar[tuple[str, ...]] = ()
    """Host interfaces the provider itself creates for lab networks (vboxnet, virbr)."""
    # A VM disk holds Ubuntu, K3s and its images and logs (linked clones/backing files share
    # the box image).
    disk_estimate_mib: ClassVar[tuple[int, int]] = (4096, 2048)
    """(per machine, for the boxes) MiB of disk a lab takes: estimates, not measurements."""

    def __repr__(self) -> str:
        return f"<provider {self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Provider) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # --- planning and rendering (pure) -----------------------------------------------------

    def template_dirs(self) -> Sequence[Path]:
        """Where this provider's own templates live, searched after labctl's (`vagrant_block`
        and `vagrant_preamble` name files there); labctl's providers keep theirs in templates/."""
        return ()

    def network_bridge(self, lab_name: str) -> str | None:
        """The host bridge labctl itself creates for the lab network, if the provider needs one."""
        return None

    def vagrant_context(self, lab: Lab) -> Mapping[str, object]:
        """Extra values the provider's Vagrantfile templates read."""
        return {}

    def machines_remote(self, lab: Lab) -> bool:
        """Whether the machines run on another host (their memory is not this host's)."""
        return False

    def spec_warnings(self, lab: Lab) -> Sequence[tuple[tuple[str | int, ...], str]]:
        """Advisories on a valid spec that this provider would handle badly: (field path, text)."""
        return ()

    # --- the host: preflight, fleets -------------------------------------------------------

    def host_probes(self, lab: Lab | None = None) -> Mapping[str, tuple[list[str], float]]:
        """Extra commands doctor runs for this provider only (slow ones), by fact name; `lab`
        is the lab preflight is for (None: a survey of the host). Probes named `remote-cpus`,
        `remote-memory` (`virsh nodememstats`) and `remote-kvm` (`virsh capabilities`) describe
        the host the lab's machines run on when it is another one (HostFacts.remote_host)."""
        del lab
        return {}

    def setup_on(self, facts: HostFacts) -> str | None:
        """Whether this provider can work on this host at all (None: it cannot, e.g. no
        hardware virtualization), and if so the one command line that gets it there ("" when
        nothing is missing). doctor offers only such providers as alternatives."""
        return None

    def preflight_rules(self) -> Sequence[Rule]:
        """The provider's own preflight judges, run after the shared ones for Vagrant."""
        return ()

    def check_host_network(  # noqa: B027 - nothing to add by default, so not abstract
        self, lab: IPv4Network, facts: HostFacts, fails: list[str], fixes: list[str]
    ) -> None:
        """Add what this provider cannot use about the lab network on this host (doctor's
        `network` finding): a fail to `fails`, and how to fix it to `fixes`."""

    def local_box_fix(self, box: str) -> str:
        """How to get a box built on this host (for providers with boxes_built_locally)."""
        return f"add it: `vagrant box add --name {box} --provider {self.name} FILE.box`"

    def machines_dir(self, facts: HostFacts) -> Path:
        """Where the machines' disks go on this host (doctor checks its free space)."""
        raise NotImplementedError

    def fleet_ranges(self, networks_conf: str | None) -> tuple[IPv4Network, ...]:
        """Where a fleet's lab subnets may come from on this host; `networks_conf` is the text
        of the host's network allow-list where the provider has one (HostFacts)."""
        del networks_conf
        return (FLEET_DEFAULT_RANGE,)

    def fleet_no_fit_hint(self) -> str:
        return "pass wider allowed ranges, free the networks in use, or use fewer labs"

    def fleet_memory_warning(self, labs: int, need: int, free: int) -> str:
        return (
            f"the {labs} labs need {need} MiB together but {free} MiB is free: they cannot all "
            "run on this host; use fewer labs or smaller machines, or spread them over libvirt "
            "hypervisors"
        )

    # --- the lifecycle (edges) -------------------------------------------------------------

    def before_boot(self, plan: Plan, vagrant: VagrantLab, on_step: Step) -> None:  # noqa: B027
        """Prepare the host before `vagrant up` (networks, leftovers of an interrupted boot);
        nothing to do by default, so not abstract."""

    def remove_left_behind(self, plan: Plan, lab_dir: Path) -> Iterator[str]:
        """Remove machines this lab directory created that its Vagrant no longer knows (its
        `.vagrant/` was removed, as a CI checkout's clean does); one line per machine removed.
        `labctl test` calls it before building; nothing by default."""
        del plan, lab_dir
        return iter(())

    def machine_states(self, lab_dir: Path, names: Sequence[str]) -> Mapping[str, str] | None:
        """Each machine's state in Vagrant's words (running, poweroff, not_created...), asked of
        the hypervisor directly, as `vagrant status` would answer but without starting Vagrant
        (labctl.providers.machine_states); None (the default): only Vagrant can tell."""
        del lab_dir, names
        return None

    def ssh_targets(self, plan: Plan) -> Mapping[str, SshTarget] | None:
        """How to reach each machine when the provider knows it without asking Vagrant (its
        `vagrant ssh-config`, the default: None)."""
        del plan
        return None

    def machine_preflight(self, plan: Plan, run: Executor) -> list[Finding]:
        """Preflight of machines that exist already, judged over SSH (providers that do not
        boot machines); `run` reaches them through their ssh_targets."""
        del plan, run
        return []

    def machine_finding_ids(self) -> tuple[str, ...]:
        """The ids machine_preflight's findings use (what `--skip-preflight` may name)."""
        return ()

    def remove_machines(self, plan: Plan, lab_dir: Path, on_step: Step) -> Iterator[str]:
        """`destroy`'s first step: the machines themselves, through Vagrant; one line per thing
        done. A provider whose machines are not labctl's (`provider: ssh`) takes back what
        labctl installed on them instead."""
        del on_step
        from labctl.tools.vagrant import VagrantLab  # noqa: PLC0415 - edges load only when used

        if (lab_dir / "Vagrantfile").exists() and (lab_dir / ".vagrant").exists():
            VagrantLab.for_lab(lab_dir).destroy()
            yield f"destroyed the machines: {', '.join(m.name for m in plan.machines)}"

    def after_destroy(self, plan: Plan) -> Iterator[str]:
        """Remove what labctl put on the host for the lab besides its machines."""
        return iter(())

    def snapshot_backend(self, plan: Plan, lab_dir: Path) -> Backend:
        """How this provider saves and restores machine snapshots (Vagrant's own by default)."""
        from labctl.providers.vagrant_snapshots import VagrantBackend  # noqa: PLC0415

        # HA (etcd) labs are saved powered off: see labctl.providers.vagrant_snapshots.
        return VagrantBackend(
            lab_dir, self.name, self.boots_together, powered_off=plan.datastore == "etcd"
        )

    def snapshot_copies_outlive_machines(self) -> bool:
        """Whether snapshots are labctl's own copies that `destroy` must delete (else they go
        with the machines)."""
        return False

    def command_executor(self, known_hosts: Path) -> AbstractContextManager[Executor]:
        """How labctl runs a command on one of the lab's machines: SSH, with the lab's own
        known_hosts, through the address (and jump) the machine's target names."""
        from labctl.tools.ssh import SshPool  # noqa: PLC0415 - edges load only when used

        return SshPool(known_hosts)

    def local_box_hint(self, box: str) -> str | None:
        """For a box built on this host rather than downloaded: the command that builds it."""
        return None
