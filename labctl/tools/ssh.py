"""SSH to the lab's machines: the one module that imports paramiko (and only when it connects).

A lab's machines are reached with what `vagrant ssh-config` reports (host, port, user, key, and
the jump host its ProxyCommand names), one reused connection per machine. A machine behind a jump
host is reached through a channel of the jump host's own connection, opened once and shared.
Host keys, the jump host's included, are trusted on first use and written to the lab's own
known_hosts file; a later mismatch is an error. ~/.ssh/known_hosts is never read or written.

Importing this module is cheap: paramiko is imported on the first connection, so `labctl --help`
and the pure check judges never pay for it.

One file on purpose, a little over 500 lines: the pool, its connections (a jump host's shared
channel among them) and the two ways a command runs over one (`run`, and `stream` for the
in-lab controller's long runs) share one connection table, its lock and its reconnect rule;
split, each half would reach into the other's private state.
"""

from __future__ import annotations

import errno
import select
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from labctl.errors import (
    CommandTimeoutError,
    SshAuthError,
    SshError,
    SshUnreachableError,
)
from labctl.tools.hostkeys import known_hosts_name, mismatch, pinned_keys, trust_on_first_use

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import TracebackType

    import paramiko

_READ_CHUNK = 65536
_STDERR_KEPT = 8192  # of a streamed command's stderr, for its error message
# How long one wait for output lasts; bounds the latency a command's end can go unnoticed.
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class SshTarget:
    """How to reach one machine: exactly what `vagrant ssh-config` reports for it.

    `host` is the address as seen from `jump` when there is one (a machine on a remote
    hypervisor's network, reached through the hypervisor). A jump host's `name` is what its key
    is pinned under in the lab's known_hosts. `key_file` None (jump hosts only) means what
    OpenSSH would offer: the user's agent and default keys.
    """

    name: str
    host: str
    port: int
    user: str
    key_file: Path | None
    jump: SshTarget | None = None

    @property
    def address(self) -> str:
        """Where the machine answers, and through which jump host."""
        where = f"{self.host}:{self.port}"
        return f"{where} via {self.jump.name}" if self.jump else where


@dataclass(frozen=True)
class CommandResult:
    """What a command on a machine gave back; `elapsed` is wall time seen from the controller."""

    exit_status: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for machines that are not ready yet (booting, sshd starting, key being swapped).

    Network failures (refused, timed out, no banner) are retried `attempts` times; an
    authentication failure only `auth_attempts` times, since a wrong key does not heal by waiting
    but Vagrant's key swap right after boot can fail the first try.
    """

    attempts: int = 8
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    auth_attempts: int = 3

    def delays(self) -> Iterator[float]:
        """The pauses between attempts: first_delay, growing by factor, capped at max_delay."""
        delay = self.first_delay
        for _ in range(max(self.attempts - 1, 0)):
            yield min(delay, self.max_delay)
            delay *= self.factor


@dataclass
class _Connection:
    client: paramiko.SSHClient
    commands: int = 0


@dataclass
class SshPool:
    """One reused SSH connection per machine, host keys pinned in the lab's known_hosts file.

    Use as a context manager (or call `close`). `run` is safe to call from several threads; each
    machine is connected once, on first use.
    """

    known_hosts: Path
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    # Whether to pin a key this lab has not seen (machine name, address, "TYPE SHA256:..."):
    # None pins it silently, right for machines Vagrant just made; the user's own machines
    # (provider ssh) are asked about, and a key not trusted is refused (HostKeyUnknownError).
    trust_new: Callable[[str, str, str], bool] | None = None
    connections_opened: int = 0
    _connections: dict[SshTarget, _Connection] = field(default_factory=dict, repr=False)
    _failed: dict[SshTarget, SshError] = field(default_factory=dict, repr=False)
    # Re-entrant: connecting a machine behind a jump host connects the jump host first.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __enter__(self) -> SshPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection; the pool can be used again afterwards."""
        with self._lock:
            for conn in self._connections.values():
                conn.client.close()
            self._connections.clear()
            self._failed.clear()

    def run(
        self,
        target: SshTarget,
        command: str,
        timeout: float = 60.0,
        *,
        stdin: str | bytes | BinaryIO | None = None,
    ) -> CommandResult:
        """Run `command` through the machine's login shell; `stdin` (e.g. a password, or a tar
        stream read from a file) is sent to it and never appears on a command line. Raises
        CommandTimeoutError after `timeout` s."""
        conn = self._connection(target)
        try:
            result = _exec(
                conn.client,
                target,
                command,
                timeout,
                stdin=stdin,
                open_timeout=self.connect_timeout,
            )
        except _TransportLostError:
            # The machine rebooted or the connection idled out: reconnect once, then run again.
            self._drop(target)
            conn = self._connection(target)
            result = _exec(
                conn.client,
                target,
                command,
                timeout,
                stdin=stdin,
                open_timeout=self.connect_timeout,
            )
        conn.commands += 1
        return result

    def stream(
        self,
        target: SshTarget,
        command: str,
        on_line: Callable[[str], None],
        *,
        on_interrupt: bytes = b"",
        grace: float = 20.0,
    ) -> CommandResult:
        """Run a long `command`, handing each line of its stdout to `on_line` as it comes (its
        stdout in the result stays empty; the last of its stderr is kept). Its stdin stays open
        while it runs: a Ctrl-C here sends `on_interrupt` to it and waits up to `grace` s for it
        to end, then closes the channel (its stdin ends) and raises the KeyboardInterrupt."""
        conn = self._connection(target)
        transport = conn.client.get_transport()
        if transport is None or not transport.is_active():
            self._drop(target)
            conn = self._connection(target)
            transport = conn.client.get_transport()
        if transport is None:
            raise SshUnreachableError(f"{target.name}: no SSH connection", hint="try again")
        start = time.monotonic()
        channel = transport.open_session(timeout=self.connect_timeout)
        conn.commands += 1
        pending, err = bytearray(), bytearray()

        def pump() -> bool:
            got = _drain(channel, pending, err)
            *lines, rest = pending.split(b"\n")
            pending[:] = rest
            for line in lines:
                on_line(line.decode(errors="replace"))
            del err[:-_STDERR_KEPT]
            return got

        def finished() -> bool:
            return bool(channel.exit_status_ready() and (channel.eof_received or channel.closed))

        with channel:
            channel.exec_command(command)
            try:
                while not (finished() and not pump()):
                    if not transport.is_active():
                        raise SshUnreachableError(
                            f"{target.name}: the connection was lost while `{_short(command)}` ran",
                            hint="the machine may have rebooted; `labctl status` shows it",
                        )
                    select.select([channel], [], [], _POLL_SECONDS * 10)
                    pump()
            except KeyboardInterrupt:
                if on_interrupt and not channel.closed:
                    channel.sendall(on_interrupt)
                    deadline = time.monotonic() + grace
                    while not finished() and time.monotonic() < deadline:
                        select.select([channel], [], [], _POLL_SECONDS * 10)
                        pump()
                    pump()
                raise
            status = channel.recv_exit_status()
        return CommandResult(status, "", err.decode(errors="replace"), time.monotonic() - start)

    def commands_run(self, target: SshTarget) -> int:
        """How many commands went over the machine's current connection (for measurements)."""
        conn = self._connections.get(target)
        return conn.commands if conn else 0

    def _drop(self, target: SshTarget) -> None:
        with self._lock:
            conn = self._connections.pop(target, None)
        if conn:
            conn.client.close()

    def _connection(self, target: SshTarget) -> _Connection:
        with self._lock:
            if target in self._failed:
                # Already retried to exhaustion in this run: fail at once instead of waiting again.
                raise self._failed[target]
            conn = self._connections.get(target)
            if conn is not None:
                return conn
            try:
                client = self._connect_with_retries(target)
            except SshUnreachableError as exc:
                self._failed[target] = exc
                raise
            conn = _Connection(client)
            self._connections[target] = conn
            self.connections_opened += 1
            return conn

    def _connect_with_retries(self, target: SshTarget) -> paramiko.SSHClient:
        import paramiko  # noqa: PLC0415 - the only paramiko import, deferred to the first connect

        if target.key_file is not None and not target.key_file.is_file():
            raise SshError(
                f"{target.name}: SSH key {target.key_file} does not exist",
                hint="run `labctl up` (or `vagrant ssh-config`) again to refresh the lab's keys",
            )
        delays = self.retry.delays()
        auth_failures = 0
        attempt = 0
        last = ""
        while True:
            attempt += 1
            try:
                return self._connect_once(target)
            except paramiko.BadHostKeyException as exc:
                raise mismatch(target, exc, self.known_hosts) from None
            except paramiko.AuthenticationException as exc:
                auth_failures += 1
                last = f"authentication failed: {exc}"
                if auth_failures >= self.retry.auth_attempts:
                    raise SshAuthError(
                        f"{target.name} ({target.address}) refused the key {target.key_file} "
                        f"for user {target.user}",
                        hint="the machine's authorized key changed; run `vagrant ssh-config` in "
                        "the lab directory to see which key Vagrant uses, or `labctl up` again",
                    ) from None
            except (OSError, EOFError, paramiko.SSHException) as exc:
                # Refused, timed out, unreachable, no banner yet, reset mid-handshake.
                last = _not_ready(exc, self.connect_timeout)
            delay = next(delays, None)
            if delay is None:
                raise SshUnreachableError(
                    f"{target.name} ({target.address}) is not reachable over SSH after "
                    f"{attempt} attempts: {last}",
                    hint="check the machine is running (`labctl status`); a machine that just "
                    "booted may need longer, a stopped one needs `labctl up`",
                )
            self.sleep(delay)

    def _connect_once(self, target: SshTarget) -> paramiko.SSHClient:
        import paramiko  # noqa: PLC0415 - see _connect_with_retries

        client = paramiko.SSHClient()
        # Keys are pinned per machine, as OpenSSH's HostKeyAlias does: VirtualBox re-picks its
        # forwarded SSH ports at every boot, so after halt/up one host:port may reach another
        # machine of the lab. Only this machine's pinned keys are offered for its address.
        for keytype, key in pinned_keys(self.known_hosts, target.name).items():
            client.get_host_keys().add(known_hosts_name(target), keytype, key)
        client.set_missing_host_key_policy(
            trust_on_first_use(self.known_hosts, target, self.trust_new)
        )
        # Only the given key, as IdentitiesOnly; a jump host without one gets what ssh offers.
        own_keys = target.key_file is None
        try:
            client.connect(
                hostname=target.host,
                port=target.port,
                username=target.user,
                key_filename=None if own_keys else str(target.key_file),
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=own_keys,
                look_for_keys=own_keys,
                sock=self._tunnel(target) if target.jump else None,
            )
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            # Keeps NAT and idle timeouts from dropping a connection reused across many checks.
            transport.set_keepalive(15)
        return client

    def _tunnel(self, target: SshTarget) -> paramiko.Channel:
        """A channel through the jump host's connection to the machine's SSH port, as
        `ssh -W host:port` opens. The jump host is connected (and its key checked) first; a
        refused forward (the machine not up yet, or not routable from there) is retried like a
        refused connection."""
        import paramiko  # noqa: PLC0415 - see _connect_with_retries

        jump = target.jump
        assert jump is not None  # noqa: S101 - only called for targets with a jump host
        for _ in range(2):
            transport = self._connection(jump).client.get_transport()
            if transport is not None and transport.is_active():
                break
            self._drop(jump)  # the jump host's connection died: connect it again, once
        else:
            raise OSError(f"the connection to jump host {jump.name} closed")
        try:
            return transport.open_channel(
                "direct-tcpip", (target.host, target.port), ("127.0.0.1", 0),
                timeout=self.connect_timeout,
            )  # fmt: skip
        except paramiko.ChannelException as exc:
            raise OSError(f"{jump.name} could not forward to {target.host}:{target.port}: "
                          f"{exc.text}") from None  # fmt: skip


def _not_ready(exc: BaseException, timeout: float) -> str:
    """Why a connection attempt failed, in words a user can act on."""
    import paramiko  # noqa: PLC0415 - see SshPool._connect_with_retries

    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        causes = {_not_ready(cause, timeout) for cause in exc.errors.values()}
        return "; ".join(sorted(causes))
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    for kinds, words in _CAUSES:
        if isinstance(exc, kinds):
            return words
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to it from this host (one behind a jump host is reached through it)"
    if isinstance(exc, paramiko.SSHException) and "banner" in str(exc).lower():
        return "no SSH banner yet (sshd still starting?)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


_CAUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ConnectionRefusedError, "connection refused (nothing listens on the port yet)"),
    (
        (EOFError, ConnectionResetError),
        "connection closed during the SSH handshake (sshd still starting?)",
    ),
)


class _TransportLostError(Exception):
    """The connection died under a command; the pool reconnects once and retries."""


# Clones of one box can share the box's SSH host keys (bento's boxes keep theirs), which would
# make pinning them mean nothing: on a machine's first contact they are replaced, then pinned.
# `ssh-keygen -A` writes every missing key type; restarting sshd makes it serve the new ones
# (sessions already open survive it: Debian's and Ubuntu's ssh.service kill only the listener).
RENEW_HOST_KEYS = (
    "sudo sh -c 'rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub && ssh-keygen -A && "
    "{ systemctl restart ssh.service || systemctl restart sshd.service; }'"
)


def renew_host_keys(
    target: SshTarget, known_hosts: Path, *, retry: RetryPolicy | None = None
) -> bool:
    """Give a machine whose key the lab has not pinned yet fresh SSH host keys; False when its
    key is pinned already (not its first boot), so a later boot keeps its identity.

    The connection that does it trusts the box's key once without recording it: those keys
    are about to be thrown away, and the first pin (trust on first use) follows at once.
    """
    import tempfile  # noqa: PLC0415 - only on a first boot
    from pathlib import Path  # noqa: PLC0415 - a type-only import at the top

    if pinned_keys(known_hosts, target.name):
        return False
    with (
        tempfile.TemporaryDirectory(prefix="labctl-keys-") as scratch,
        SshPool(Path(scratch) / "known_hosts", retry=retry or RetryPolicy()) as once,
    ):
        result = once.run(target, RENEW_HOST_KEYS, timeout=60)
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise SshError(
            f"{target.name}: could not replace the box's SSH host keys (exit "
            f"{result.exit_status}): {detail[-1] if detail else 'no output'}",
            hint="the machine needs sudo without a password, ssh-keygen and systemd's "
            "ssh.service; `labctl ssh` to look, or `labctl destroy` and `labctl up`",
        )
    return True


def _exec(
    client: paramiko.SSHClient,
    target: SshTarget,
    command: str,
    timeout: float,
    *,
    stdin: str | bytes | BinaryIO | None,
    open_timeout: float,
) -> CommandResult:
    import paramiko  # noqa: PLC0415 - see SshPool._connect_with_retries

    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise _TransportLostError
    start = time.monotonic()
    try:
        channel = transport.open_session(timeout=open_timeout)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _TransportLostError from exc
    out, err = bytearray(), bytearray()
    with channel:
        channel.exec_command(command)
        if isinstance(stdin, str):
            channel.sendall(stdin.encode())
        elif isinstance(stdin, bytes):
            channel.sendall(stdin)
        elif stdin is not None:
            while chunk := stdin.read(_READ_CHUNK):
                channel.sendall(chunk)
        channel.shutdown_write()
        deadline = start + timeout
        while True:
            drained = _drain(channel, out, err)
            if (
                channel.exit_status_ready()
                and (channel.eof_received or channel.closed)
                and not drained
            ):
                _drain(channel, out, err)
                break
            if time.monotonic() >= deadline:
                raise CommandTimeoutError(
                    f"{target.name}: `{_short(command)}` did not finish within {timeout:g} s",
                    hint="the machine may be overloaded or the service it waits for is down; "
                    "rerun with a longer timeout or look at the machine with `labctl ssh`",
                )
            if not transport.is_active():
                raise _TransportLostError
            select.select([channel], [], [], _POLL_SECONDS)
        status = channel.recv_exit_status()
    return CommandResult(
        exit_status=status,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        elapsed=time.monotonic() - start,
    )


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> bool:
    """Read what is buffered on both streams; True when anything was read."""
    got = False
    while channel.recv_ready():
        out += channel.recv(_READ_CHUNK)
        got = True
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(_READ_CHUNK)
        got = True
    return got


def _short(command: str, limit: int = 80) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
