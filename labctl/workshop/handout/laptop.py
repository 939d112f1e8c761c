"""The handout's "From your own laptop" part (pure): the attendee's key, ~/.ssh/config block,
known_hosts, the API forward and a kubeconfig for it, from the lab's access record."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labctl.lab.access import (
    forward_command,
    laptop_key_name,
    laptop_kubeconfig,
    ssh_config,
)

if TYPE_CHECKING:
    from labctl.lab.access import AccessRecord
    from labctl.plan import Plan


@dataclass(frozen=True)
class Laptop:
    """What an attendee saves and types on their own laptop (Linux, macOS, Windows' OpenSSH)."""

    key_name: str  # ~/.ssh/<key_name>
    key: str = field(repr=False)
    ssh_config: str
    known_hosts: str
    forward: str
    kubeconfig_name: str
    kubeconfig: str | None = field(repr=False)
    first_machine: str
    local_api_port: int

    @property
    def key_data_uri(self) -> str:
        """The key as a download link's target: the page makes it a file, not text to copy."""
        return (
            "data:application/octet-stream;base64," + base64.b64encode(self.key.encode()).decode()
        )

    @property
    def chmod_posix(self) -> str:
        return f"chmod 600 ~/.ssh/{self.key_name}"

    @property
    def chmod_windows(self) -> str:
        """Windows' OpenSSH refuses a key others may read, as OpenSSH does elsewhere."""
        return (
            f'icacls $HOME\\.ssh\\{self.key_name} /inheritance:r /grant:r "${{env:USERNAME}}:(R)"'
        )

    @property
    def windows_config(self) -> str:
        return "$HOME\\.ssh\\config"

    @property
    def known_hosts_name(self) -> str:
        return f"{self.key_name}.known_hosts"

    @property
    def config_name(self) -> str:
        return f"{self.key_name}.ssh_config"

    def files(self) -> tuple[tuple[str, str], ...]:
        """The files written beside the page, by name (a fleet's handouts share a folder)."""
        files = [(self.key_name, self.key), (self.config_name, self.ssh_config),
                 (self.known_hosts_name, self.known_hosts)]  # fmt: skip
        if self.kubeconfig is not None:
            files.append((self.kubeconfig_name, self.kubeconfig))
        return tuple(files)


def laptop(plan: Plan, record: AccessRecord, key: str, kubeconfig: str | None) -> Laptop:
    machines = tuple((m.name, m.ip) for m in plan.machines)
    try:
        laptop_kube = laptop_kubeconfig(kubeconfig, record.local_api_port) if kubeconfig else None
    except ValueError:
        laptop_kube = None
    return Laptop(
        key_name=laptop_key_name(plan.name),
        key=key,
        ssh_config=ssh_config(record, machines),
        known_hosts="\n".join(record.known_hosts) + "\n",
        forward=forward_command(record),
        kubeconfig_name=f"{plan.name}-laptop-kubeconfig.yaml",
        kubeconfig=laptop_kube,
        first_machine=plan.machines[0].name,
        local_api_port=record.local_api_port,
    )
