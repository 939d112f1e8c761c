"""Attendees on their own laptops: what the gateway permits and what the laptop needs (pure).

The gateway is the facilitator's own OpenSSH server. One account (`access.account`, no shell,
no password) carries one keys-file entry per lab:

    restrict,port-forwarding,permitopen="10.0.1.11:22",...,command="false" ssh-ed25519 AAAA...
        labctl-attendee:<lab>:<id>      (one line in the file)

`restrict` turns off everything (pty, agent and X11 forwarding, ~/.ssh/rc, port forwarding);
`port-forwarding` turns local forwarding back on and each `permitopen` names one address:port the
key may open, so a lab's key reaches that lab's machines' SSH and its API servers and nothing
else. The account's `Match User` drop-in says the same for the whole account (no TTY, no agent,
no remote or Unix-socket forwarding, no tunnel devices, public keys only, a forced command), so a
keys-file line written by hand without options still gets no shell. Per-key options rather than
one account per lab: one drop-in and one sshd reload serve every lab, and a lab's entry comes and
goes with no reload at all (sshd reads the keys file at each login).

The laptop gets a key, an ~/.ssh/config block (a Host for the gateway and one per machine with
ProxyJump through it, host keys pinned under HostKeyAlias names in a known_hosts of its own), the
one `ssh -N -L` that forwards the API server to a local port, and a kubeconfig pointing there:
K3s's serving certificate names 127.0.0.1 already, so TLS verifies without a tls-san.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.spec.access import Access

ACCESS_SCHEMA = "labctl.access/v1"
ACCESS_FILE = "access.json"  # in the lab directory, written by the access phase
KEY_FILE = "secrets/attendee-ed25519"  # the attendee's private key (0600); .pub beside it
COMMENT_PREFIX = "labctl-attendee"
SSH_PORT = 22
API_PORT = 6443


@dataclass(frozen=True)
class Reach:
    """One address:port a lab's attendee key may open through the gateway."""

    host: str
    port: int
    what: str  # "ssh <machine>" or "api <server>"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def permitted(plan: Plan) -> tuple[Reach, ...]:
    """Every machine's SSH port, then every server's API port: all a lab's key may reach."""
    ssh = [Reach(m.ip, SSH_PORT, f"ssh {m.name}") for m in plan.machines]
    api = [Reach(m.ip, API_PORT, f"api {m.name}") for m in plan.servers]
    return (*ssh, *api)


def key_comment(lab: str, lab_dir: str) -> str:
    """The comment that marks a lab's entry: its name and which lab directory (two labs of the
    same name in different folders are different labs with different keys)."""
    digest = hashlib.sha256(lab_dir.encode()).hexdigest()[:12]
    return f"{COMMENT_PREFIX}:{lab}:{digest}"


def keys_line(public_key: str, reach: tuple[Reach, ...], comment: str) -> str:
    """The lab's keys-file entry: OpenSSH's own restrictions, then the key and its comment."""
    kind, blob = public_key.split()[:2]
    options = ["restrict", "port-forwarding", *(f'permitopen="{r}"' for r in reach)]
    options.append('command="false"')
    return f"{','.join(options)} {kind} {blob} {comment}"


def _is_entry(line: str, comment: str) -> bool:
    return line.rstrip().endswith(" " + comment)


def keys_with(text: str, line: str, comment: str) -> str:
    """The keys file with the lab's entry set to `line` (replacing its old one, if any)."""
    kept = [old for old in text.splitlines() if old.strip() and not _is_entry(old, comment)]
    return "\n".join([*kept, line]) + "\n"


def keys_without(text: str, comment: str) -> str:
    """The keys file without the lab's entry."""
    kept = [old for old in text.splitlines() if old.strip() and not _is_entry(old, comment)]
    return "\n".join(kept) + "\n" if kept else ""


def labctl_entries(text: str) -> list[str]:
    """The comments of every lab entry in a keys file."""
    found = []
    for line in text.splitlines():
        last = line.rsplit(" ", 1)[-1]
        if last.startswith(COMMENT_PREFIX + ":"):
            found.append(last)
    return found


@dataclass(frozen=True)
class GatewayPaths:
    """Where labctl's gateway files live: beside the host's sshd configuration."""

    sshd_config: PurePosixPath
    account: str

    @property
    def dropin(self) -> PurePosixPath:
        return self.sshd_config.parent / "sshd_config.d" / f"60-labctl-{self.account}.conf"

    @property
    def folder(self) -> PurePosixPath:
        return self.sshd_config.parent / "labctl"

    @property
    def keys(self) -> PurePosixPath:
        return self.folder / f"{self.account}.keys"

    @property
    def created_marker(self) -> PurePosixPath:
        """Present when labctl added the account, so only then does labctl remove it."""
        return self.folder / f"{self.account}.created-by-labctl"


def dropin_text(paths: GatewayPaths) -> str:
    """The sshd drop-in: the gateway account may only forward, and only with its keys file."""
    return (
        "# Written by labctl: the account attendees' laptops reach their labs through.\n"
        f"# Each lab's key in {paths.keys} may open only that lab's addresses (permitopen).\n"
        "# labctl removes this file when the last lab using the account is destroyed.\n"
        f"Match User {paths.account}\n"
        f"\tAuthorizedKeysFile {paths.keys}\n"
        "\tAuthenticationMethods publickey\n"
        "\tPasswordAuthentication no\n"
        "\tAllowTcpForwarding local\n"
        "\tAllowStreamLocalForwarding no\n"
        "\tAllowAgentForwarding no\n"
        "\tX11Forwarding no\n"
        "\tPermitTTY no\n"
        "\tPermitTunnel no\n"
        "\tPermitListen none\n"
        "\tGatewayPorts no\n"
        "\tPermitUserRC no\n"
        "\tForceCommand false\n"
    )


# What `sshd -T -C user=<account>,...` must print once the drop-in is in effect.
EFFECTIVE = {
    "allowtcpforwarding": "local",
    "permittty": "no",
    "allowagentforwarding": "no",
    "x11forwarding": "no",
    "forcecommand": "false",
}


@dataclass(frozen=True)
class AccessRecord:
    """What the access phase found and did, read back by the handout and `fleet access check`
    (access.json): where attendees connect, as whom, and the host keys their laptop pins."""

    lab: str
    sshd_config: str
    gateway_host: str
    gateway_port: int
    account: str
    local_api_port: int
    comment: str
    known_hosts: tuple[str, ...]  # "<alias> <type> <base64>" lines for the laptop
    reach: tuple[tuple[str, int, str], ...]
    machine_user: str

    def to_json(self) -> str:
        return json.dumps({"schema": ACCESS_SCHEMA, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AccessRecord:
        """ValueError saying what is wrong when it is not an access.json labctl wrote."""
        doc: Any = json.loads(text)
        if not isinstance(doc, dict) or doc.pop("schema", None) != ACCESS_SCHEMA:
            raise ValueError(f"not a {ACCESS_SCHEMA} record")
        try:
            return cls(
                lab=str(doc["lab"]),
                sshd_config=str(doc["sshd_config"]),
                gateway_host=str(doc["gateway_host"]),
                gateway_port=int(doc["gateway_port"]),
                account=str(doc["account"]),
                local_api_port=int(doc["local_api_port"]),
                comment=str(doc["comment"]),
                known_hosts=tuple(str(line) for line in doc["known_hosts"]),
                reach=tuple((str(h), int(p), str(w)) for h, p, w in doc["reach"]),
                machine_user=str(doc["machine_user"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a field is missing or of the wrong type ({exc})") from None

    @property
    def paths(self) -> GatewayPaths:
        return GatewayPaths(PurePosixPath(self.sshd_config), self.account)

    @property
    def gateway_alias(self) -> str:
        return f"{self.lab}-gateway"

    @property
    def api(self) -> tuple[str, int]:
        """The API server the laptop's forward reaches: the first server's."""
        host, port, _ = next(r for r in self.reach if r[1] == API_PORT)
        return host, port


def laptop_key_name(lab: str) -> str:
    """The key's file name on the laptop, in ~/.ssh."""
    return f"labctl-{lab}"


def ssh_config(record: AccessRecord, machines: tuple[tuple[str, str], ...]) -> str:
    """The laptop's ~/.ssh/config block: the gateway, then each (name, address) through it.
    `~` works in these paths with Windows' OpenSSH too (it means %USERPROFILE%)."""
    key = f"~/.ssh/{laptop_key_name(record.lab)}"
    known = f"~/.ssh/{laptop_key_name(record.lab)}.known_hosts"
    common = [
        f"    IdentityFile {key}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {known}",
        "    StrictHostKeyChecking yes",
    ]
    lines = [
        f"# labctl lab {record.lab}: reach it through {record.gateway_host}",
        f"Host {record.gateway_alias}",
        f"    HostName {record.gateway_host}",
        f"    Port {record.gateway_port}",
        f"    User {record.account}",
        f"    HostKeyAlias {record.gateway_alias}",
        *common,
    ]
    for name, address in machines:
        lines += [
            f"Host {name}",
            f"    HostName {address}",
            f"    User {record.machine_user}",
            f"    ProxyJump {record.gateway_alias}",
            f"    HostKeyAlias {name}",
            *common,
        ]
    return "\n".join(lines) + "\n"


def forward_command(record: AccessRecord) -> str:
    """The one command that forwards the API server to the laptop (leave it running)."""
    host, port = record.api
    return f"ssh -N -L {record.local_api_port}:{host}:{port} {record.gateway_alias}"


def laptop_kubeconfig(kubeconfig: str, local_port: int) -> str:
    """The lab's kubeconfig with every cluster's server at the laptop's forwarded port."""
    import yaml  # noqa: PLC0415 - only the handout and the access phase need it

    doc = yaml.safe_load(kubeconfig)
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list):
        raise ValueError("it has no list of clusters")
    for entry in doc["clusters"]:
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        if not isinstance(cluster, dict):
            raise ValueError("a cluster entry has no `cluster` mapping")
        cluster["server"] = f"https://127.0.0.1:{local_port}"
    return str(yaml.safe_dump(doc, sort_keys=False))


def record_for(
    plan: Plan, access: Access, *, lab_dir: str, known_hosts: tuple[str, ...], user: str
) -> AccessRecord:
    """The access record of a lab whose gateway entry is in place."""
    return AccessRecord(
        lab=plan.name,
        sshd_config=access.sshd_config,
        gateway_host=access.host,
        gateway_port=access.port,
        account=access.account,
        local_api_port=access.local_api_port,
        comment=key_comment(plan.name, lab_dir),
        known_hosts=known_hosts,
        reach=tuple((r.host, r.port, r.what) for r in permitted(plan)),
        machine_user=user,
    )
