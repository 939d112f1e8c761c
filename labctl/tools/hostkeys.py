"""Host keys of the lab's machines: pinned under each machine's name in the lab's own
known_hosts (as OpenSSH's HostKeyAlias writes them), trusted on first use or as the user says,
a changed one refused. Used by labctl.tools.ssh's connections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.errors import HostKeyMismatchError, HostKeyUnknownError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import paramiko

    from labctl.tools.ssh import SshTarget


def known_hosts_name(target: SshTarget) -> str:
    """The name paramiko looks an address's key up by."""
    return target.host if target.port == 22 else f"[{target.host}]:{target.port}"


def pinned_keys(known_hosts: Path, alias: str) -> dict[str, paramiko.PKey]:
    """The keys the lab's known_hosts pins for machine `alias` (its HostKeyAlias)."""
    import paramiko  # noqa: PLC0415 - see SshPool._connect_with_retries

    if not known_hosts.exists():
        return {}
    keys = paramiko.HostKeys(str(known_hosts))
    found = keys.lookup(alias)
    return dict(found) if found else {}


def mismatch(
    target: SshTarget, exc: paramiko.BadHostKeyException, known_hosts: Path
) -> HostKeyMismatchError:
    return HostKeyMismatchError(
        f"{target.name} ({target.address}) presented host key {exc.key.fingerprint}, but this "
        f"lab's known_hosts recorded {exc.expected_key.fingerprint}",
        hint=f"if the machine was re-created, delete the line for {target.name} "
        f"from {known_hosts} (or `labctl destroy` and `labctl up`); otherwise another machine "
        "answers at that address",
    )


def trust_on_first_use(
    path: Path, target: SshTarget, trust: Callable[[str, str, str], bool] | None
) -> paramiko.MissingHostKeyPolicy:
    """A paramiko policy: record an unknown machine's key in the lab's known_hosts under the
    machine's name (as OpenSSH's HostKeyAlias writes it) and accept it, if `trust` (when given)
    says so; otherwise refuse the connection naming the key's fingerprint."""
    import paramiko  # noqa: PLC0415 - see SshPool._connect_with_retries

    class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
        def missing_host_key(
            self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
        ) -> None:
            offered = f"{key.get_name()} {key.fingerprint}"
            if trust is not None and not trust(target.name, target.address, offered):
                raise HostKeyUnknownError(
                    f"{target.name} ({target.address}) offers the host key {offered}, which "
                    "this lab has not trusted yet",
                    hint="compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the "
                    "machine, then run `labctl up` on a terminal to accept it, or with "
                    "`--accept-new-host-keys` (CI)",
                )
            client.get_host_keys().add(hostname, key.get_name(), key)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Appended, not rewritten, so entries for the lab's other machines are never lost.
            with path.open("a", encoding="ascii") as known:
                known.write(f"{target.name} {key.get_name()} {key.get_base64()}\n")
            path.chmod(0o600)

    return TrustOnFirstUse()
