"""`controller: lab`: Ansible runs on the lab's first server, not on this host (pure).

On Windows Ansible cannot be the controller, so labctl makes one inside the lab: a directory of
the login user's home on the primary server holds a venv with the same ansible-core and
ansible-runner labctl itself requires, the playbooks, and a copy of the lab directory's Ansible
files (the project) in which every path is the controller's. Machines are reached over the
private network with a per-lab controller key, their host keys pinned from the lab's own
known_hosts under their names, as on the host. This module says what goes where; the edges
(labctl.lab.incontroller) carry it there over SSH.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from labctl.plan import Plan

HOME_DIR = ".labctl-controller"  # under the login user's home on the controller machine
KEY_FILE = "secrets/controller-ed25519"  # the controller's private key (0600); .pub beside it
# ansible-core 2.19 needs Python 3.11 on its controller (its Requires-Python; a unit test holds
# this to the installed ansible-core's metadata).
MIN_PYTHON = (3, 11)
CONTROLLED = ("ansible-core", "ansible-runner")  # what the venv holds, pinned as labctl pins them
STAMP = ".labctl-stamp"  # in the venv: what it was made from; a match means nothing to install
# What the host gets back after a phase: the run's artifacts and what the playbooks wrote into
# the lab directory (the K3s token on first use, the kubeconfig, the addons' passwords).
RETURNED = ("secrets", "kubeconfig")
# Lab secrets the controller never needs: the attendees' key is for laptops, not for Ansible.
NOT_SENT = ("attendee-ed25519", "attendee-ed25519.pub")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Layout:
    """Where the controller's parts live on the controller machine."""

    root: PurePosixPath  # ~/.labctl-controller/<lab>

    @classmethod
    def for_lab(cls, home: str, lab: str) -> Layout:
        return cls(PurePosixPath(home) / HOME_DIR / lab)

    @property
    def project(self) -> PurePosixPath:
        """The lab directory as the controller's Ansible sees it (labctl_lab_dir there)."""
        return self.root / "project"

    @property
    def venv(self) -> PurePosixPath:
        return self.root / "venv"

    @property
    def playbooks(self) -> PurePosixPath:
        return self.root / "playbooks"

    @property
    def offline(self) -> PurePosixPath:
        return self.root / "offline"

    @property
    def wheels(self) -> PurePosixPath:
        return self.root / "wheels"

    @property
    def runner(self) -> PurePosixPath:
        return self.root / "run-phase.py"

    @property
    def key(self) -> PurePosixPath:
        return self.project / KEY_FILE

    @property
    def known_hosts(self) -> PurePosixPath:
        return self.project / "known_hosts"


@dataclass(frozen=True)
class GuestPython:
    """The controller machine's python3, as the probe reports it."""

    version: tuple[int, int]
    machine: str  # platform.machine(): x86_64, aarch64
    glibc: tuple[int, int] | None
    home: str

    @property
    def tag(self) -> str:
        """The wheel set's name: cp311-x86_64."""
        return f"cp{self.version[0]}{self.version[1]}-{self.machine}"


PROBE = (
    "python3 -c 'import json, os, platform, sys; "
    'print(json.dumps({"version": list(sys.version_info[:2]), "machine": platform.machine(), '
    '"libc": list(platform.libc_ver()), "home": os.path.expanduser("~")}))\''
)


def parse_probe(text: str) -> GuestPython:
    """The probe's JSON -> GuestPython; ValueError for anything else."""
    data = json.loads(text.strip().splitlines()[-1])
    libc, libc_version = (data.get("libc") or ["", ""])[:2]
    glibc = None
    if libc == "glibc" and re.fullmatch(r"\d+\.\d+(\.\d+)?", libc_version):
        major, minor = libc_version.split(".")[:2]
        glibc = (int(major), int(minor))
    version = data["version"]
    return GuestPython((int(version[0]), int(version[1])), str(data["machine"]), glibc,
                       str(data["home"]))  # fmt: skip


def pip_platforms(python: GuestPython) -> list[str]:
    """pip's --platform tags a wheel for this guest may carry: manylinux up to its glibc."""
    if python.glibc is None:
        return []
    arch = python.machine
    tags = [f"manylinux2014_{arch}"]
    tags += [f"manylinux_2_{minor}_{arch}" for minor in range(17, python.glibc[1] + 1)]
    return tags


def pick_requirements(requires: Iterable[str]) -> tuple[str, ...]:
    """labctl's own requirements of the controlled distributions, markers dropped: the venv
    gets exactly the ansible-core and ansible-runner versions labctl is tested with."""
    picked: dict[str, str] = {}
    for requirement in requires:
        spec = requirement.split(";", 1)[0].strip()
        match = _NAME.match(spec)
        name = match.group(0).lower().replace("_", "-") if match else ""
        if name in CONTROLLED and "extra ==" not in requirement:
            picked[name] = spec.replace(" ", "")
    missing = [name for name in CONTROLLED if name not in picked]
    if missing:
        raise ValueError(f"labctl's metadata does not require {', '.join(missing)}")
    return tuple(picked[name] for name in CONTROLLED)


def stamp(requirements: Sequence[str], python: GuestPython) -> str:
    """What the venv is made from; the same text later means it needs nothing."""
    return json.dumps({"requirements": list(requirements), "python": python.tag}) + "\n"


def inventory(plan: Plan, users: Mapping[str, str], layout: Layout) -> str:
    """The controller's inventory/ssh.yml: each machine at its private address, port 22, with
    the controller key; host keys pinned under the machine's name in the copied known_hosts,
    and an unknown one refused (the host pinned them all at wait-ssh)."""
    common = (
        f"-o UserKnownHostsFile={shlex.quote(str(layout.known_hosts))} "
        "-o HashKnownHosts=no -o StrictHostKeyChecking=yes"
    )
    lines = [
        "# Written by labctl for the controller on the lab's first server (controller: lab).",
        "all:",
        "  vars:",
        f"    ansible_ssh_common_args: {json.dumps(common)}",
        f"    ansible_ssh_private_key_file: {json.dumps(str(layout.key))}",
        "  hosts:",
    ]
    for machine in sorted(plan.machines, key=lambda m: m.name):
        lines += [
            f"    {machine.name}:",
            f"      ansible_host: {json.dumps(machine.ip)}",
            "      ansible_port: 22",
            f"      ansible_user: {json.dumps(users[machine.name])}",
            f"      ansible_ssh_extra_args: {json.dumps(f'-o HostKeyAlias={machine.name}')}",
        ]
    return "\n".join(lines) + "\n"


def known_hosts(pinned: Iterable[tuple[str, str, str]]) -> str:
    """known_hosts lines of (machine name, key type, base64 key): the keys the lab pinned for
    its machines at wait-ssh, under the names the inventory's HostKeyAlias asks for."""
    return "".join(f"{name} {kind} {blob}\n" for name, kind, blob in pinned)


def run_arguments(
    layout: Layout,
    *,
    ident: str,
    tags: Sequence[str],
    playbook: str,
    verbosity: int,
    limit: str | None,
    extravars: Mapping[str, Any],
) -> dict[str, Any]:
    """What run-phase.py gets: the same ansible-runner call labctl makes on the host."""
    return {
        "private_data_dir": str(layout.project),
        "project_dir": str(layout.playbooks),
        "playbook": str(layout.playbooks / playbook),
        "ident": ident,
        "tags": ",".join(tags) if tags else None,
        "limit": limit,
        "verbosity": verbosity,
        "extravars": dict(extravars),
    }


def run_command(layout: Layout, arguments: Mapping[str, Any]) -> str:
    """The shell command that runs one phase on the controller, events as JSON lines on stdout;
    a line `cancel` on stdin, or stdin closing, stops it as Ctrl-C stops it on the host."""
    python = layout.venv / "bin" / "python"
    path = shlex.quote(str(layout.venv / "bin"))
    return (
        f"cd {shlex.quote(str(layout.project))} && PATH={path}:$PATH exec "
        f"{shlex.quote(str(python))} {shlex.quote(str(layout.runner))} "
        f"{shlex.quote(json.dumps(dict(arguments), sort_keys=True))}"
    )


def install_command(layout: Layout, pip_wheel: str, requirements: Sequence[str], text: str) -> str:
    """Make the venv from the uploaded wheels alone (no index, no network): venv without pip
    (Debian and Ubuntu ship ensurepip apart, in python3-venv), pip run from its own wheel."""
    venv, wheels = str(layout.venv), str(layout.wheels)
    python = f"{venv}/bin/python"
    return " && ".join([
        f"rm -rf {shlex.quote(venv)}",
        f"python3 -m venv --without-pip {shlex.quote(venv)}",
        f"{shlex.quote(python)} {shlex.quote(f'{wheels}/{pip_wheel}/pip')} install --isolated "
        f"--no-index --no-cache-dir --disable-pip-version-check --quiet "
        f"--find-links {shlex.quote(wheels)} {shlex.join(requirements)}",
        f"printf %s {shlex.quote(text)} > {shlex.quote(f'{venv}/{STAMP}')}",
        f"rm -rf {shlex.quote(wheels)}",
    ])  # fmt: skip


def manifest(entries: Iterable[tuple[str, int, int]]) -> str:
    """A digest of (path, size, mtime_ns) rows: the same digest means the same files."""
    digest = hashlib.sha256()
    for path, size, mtime in sorted(entries):
        digest.update(f"{path}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def safe_member(name: str, ident: str) -> bool:
    """Whether a file the controller sends back may be written into the lab directory: the
    run's artifacts, the lab's secrets and the kubeconfig, nothing outside or beside them."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return False
    if path.parts[0] == "runs":
        return len(path.parts) >= 2 and path.parts[1] == ident
    return path.parts[0] in RETURNED and (path.parts[0] != "kubeconfig" or len(path.parts) == 1)
