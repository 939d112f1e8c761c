"""Through the gateway with an attendee's key, as the attendee's laptop would go (paramiko).

One SSH connection to the gateway as its account; then what the handout promises must work
(a login on each of the lab's machines over a forwarded channel, a TCP connection to its API
server, with the TLS handshake tried against the lab's CA) and what it must not, must be refused
by sshd itself: a command or shell on the gateway, a channel to any other lab's address, a port
of the lab's own machines outside the permitted list. A channel sshd refuses by policy comes back
as OpenSSH's "administratively prohibited" (SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, 1); any other
failure means sshd tried to connect, which is a leak as well.
"""

from __future__ import annotations

import io
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import paramiko

PROHIBITED = 1  # SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
SHELL_MARK = "labctl-gateway-shell-reached"


@dataclass(frozen=True)
class ProbeResult:
    """One promise of the handout, or one thing the key must not do, and what happened."""

    lab: str
    what: str  # e.g. "ssh team-01-server-1", "api 10.0.1.11:6443", "refused team-02 ..."
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"lab": self.lab, "what": self.what, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int
    account: str
    host_keys: tuple[tuple[str, str], ...]  # (type, base64) the laptop pins for the gateway


def _pkey(private: str) -> paramiko.PKey:
    import paramiko  # noqa: PLC0415

    return paramiko.Ed25519Key.from_private_key(io.StringIO(private))


def _pinned_client(name: str, keys: Sequence[tuple[str, str]]) -> paramiko.SSHClient:
    """A client that accepts only the given host keys for `name`, as StrictHostKeyChecking."""
    import base64  # noqa: PLC0415

    import paramiko  # noqa: PLC0415

    client = paramiko.SSHClient()
    for kind, blob in keys:
        key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
        client.get_host_keys().add(name, kind, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _connect_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _open(transport: paramiko.Transport, host: str, port: int) -> paramiko.Channel:
    return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=15)


def _tls(channel: paramiko.Channel, ca_pem: str) -> str:
    """The TLS handshake over the forwarded channel, checked against the lab's CA for 127.0.0.1
    (the name the laptop's kubeconfig uses)."""
    try:
        context = ssl.create_default_context(cadata=ca_pem)
    except ssl.SSLError as exc:
        return f"TLS not tried: the kubeconfig's CA is not a certificate ({exc.reason or exc})"
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    channel.settimeout(10)
    try:
        for _ in range(50):
            try:
                tls.do_handshake()
                channel.sendall(outgoing.read())
                return "TLS handshake verified against the lab's CA"
            except ssl.SSLWantReadError:
                channel.sendall(outgoing.read())
                data = channel.recv(65536)
                if not data:
                    return "TLS: the server closed the connection during the handshake"
                incoming.write(data)
    except (ssl.SSLError, OSError) as exc:
        return f"TLS: {exc}"
    return "TLS: the handshake did not finish"


def _refused(transport: paramiko.Transport, host: str, port: int) -> tuple[bool, str]:
    import paramiko  # noqa: PLC0415

    try:
        channel = _open(transport, host, port)
    except paramiko.ChannelException as exc:
        if exc.code == PROHIBITED:
            return True, "administratively prohibited"
        return False, f"sshd tried to connect ({exc.text}): the key is not limited to its lab"
    channel.close()
    return False, "the channel opened: the key reaches it"


def probe(
    lab: str,
    gateway: Gateway,
    private_key: str,
    machines: Sequence[tuple[str, str, str, Sequence[tuple[str, str]]]],
    api: tuple[str, int],
    forbidden: Sequence[tuple[str, int, str]],
    ca_pem: str | None,
) -> list[ProbeResult]:
    """machines: (name, address, user, pinned host keys); forbidden: (host, port, whose)."""
    import paramiko  # noqa: PLC0415

    key = _pkey(private_key)
    client = _pinned_client(_connect_name(gateway.host, gateway.port), gateway.host_keys)
    try:
        client.connect(gateway.host, gateway.port, username=gateway.account, pkey=key,
                       allow_agent=False, look_for_keys=False, timeout=15,
                       banner_timeout=15, auth_timeout=15)  # fmt: skip
    except (paramiko.SSHException, OSError) as exc:
        return [ProbeResult(lab, f"gateway {gateway.host}:{gateway.port}", False, str(exc))]
    results = [ProbeResult(lab, f"gateway {gateway.host}:{gateway.port}", True,
                           f"logged in as {gateway.account}")]  # fmt: skip
    transport = client.get_transport()
    assert transport is not None  # noqa: S101 - connect() succeeded
    try:
        results.append(_no_shell(lab, transport))
        for name, address, user, keys in machines:
            results.append(_login(lab, transport, key, name, address, user, keys))
        results.append(_api(lab, transport, api, ca_pem))
        for host, port, whose in forbidden:
            ok, detail = _refused(transport, host, port)
            results.append(ProbeResult(lab, f"refused {whose} {host}:{port}", ok, detail))
    finally:
        client.close()
    return results


def _no_shell(lab: str, transport: paramiko.Transport) -> ProbeResult:
    import paramiko  # noqa: PLC0415

    try:
        session = transport.open_session(timeout=15)
        session.settimeout(15)
        session.exec_command(f"echo {SHELL_MARK}")
        out = session.makefile("rb").read().decode(errors="replace")
        status = session.recv_exit_status()
    except (paramiko.SSHException, OSError) as exc:
        return ProbeResult(lab, "no shell on the gateway", True, f"refused: {exc}")
    if SHELL_MARK in out:
        return ProbeResult(lab, "no shell on the gateway", False, "a command ran on the gateway")
    return ProbeResult(lab, "no shell on the gateway", True, f"no command ran (exit {status})")


def _login(
    lab: str,
    transport: paramiko.Transport,
    key: paramiko.PKey,
    name: str,
    address: str,
    user: str,
    keys: Sequence[tuple[str, str]],
) -> ProbeResult:
    import paramiko  # noqa: PLC0415

    what = f"ssh {name} ({address}:22)"
    try:
        channel = _open(transport, address, 22)
        inner = _pinned_client(address, keys)
        inner.connect(
            address, 22, username=user, pkey=key, sock=channel, allow_agent=False,
            look_for_keys=False, timeout=15, banner_timeout=15, auth_timeout=15,
        )  # fmt: skip
        try:
            _, stdout, _ = inner.exec_command("hostname", timeout=15)
            hostname = stdout.read().decode(errors="replace").strip()
            status = stdout.channel.recv_exit_status()
        finally:
            inner.close()
    except (paramiko.SSHException, OSError) as exc:
        return ProbeResult(lab, what, False, str(exc) or type(exc).__name__)
    if status != 0:
        return ProbeResult(lab, what, False, f"`hostname` exited {status}")
    return ProbeResult(lab, what, True, f"logged in as {user}: {hostname}")


def _api(
    lab: str, transport: paramiko.Transport, api: tuple[str, int], ca_pem: str | None
) -> ProbeResult:
    import paramiko  # noqa: PLC0415

    host, port = api
    what = f"api {host}:{port}"
    try:
        channel = _open(transport, host, port)
    except paramiko.ChannelException as exc:
        return ProbeResult(lab, what, False, f"the forward failed: {exc.text}")
    try:
        detail = _tls(channel, ca_pem) if ca_pem else "no CA in the lab's kubeconfig to check TLS"
    finally:
        channel.close()
    return ProbeResult(lab, what, True, f"TCP connection through the gateway; {detail}")
