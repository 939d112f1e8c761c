"""Host keys are pinned per machine, not per address:port (issue 17 item 6).

VirtualBox forwards each machine's SSH from a host port it re-picks at every boot (2222, then
the first free one in 2200-2250; concurrent boots race for them), so after `halt`/`up` one
machine can answer on the port another had. VirtualBox cannot run here, so that is shown with a
NAMED DOUBLE: `PortReshufflingSshd`, in-process SSH servers (paramiko's server side) with
per-machine host keys on fixed loopback ports, whose machines trade ports between "boots".
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
import pytest
import yaml

from labctl.errors import HostKeyMismatchError
from labctl.render import ssh_inventory
from labctl.tools.ssh import RetryPolicy, SshPool, SshTarget, renew_host_keys

if TYPE_CHECKING:
    from collections.abc import Iterator

ONE_TRY = RetryPolicy(attempts=1, first_delay=0.01, max_delay=0.01, auth_attempts=1)


class _Machine(paramiko.ServerInterface):
    """sshd of one lab machine: any key of the user is accepted; `hostname` prints its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ran = threading.Event()
        self.command = b""

    def check_channel_request(self, kind: str, chanid: int) -> int:
        del chanid
        ok = kind == "session"
        return paramiko.OPEN_SUCCEEDED if ok else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username: str) -> str:
        del username
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        del username, key
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        del channel
        self.command = command
        self.ran.set()
        return True


class PortReshufflingSshd:
    """A DOUBLE of VirtualBox's NAT port forwards: port -> (machine name, host key)."""

    def __init__(self, host_keys: dict[str, paramiko.PKey], ports: int) -> None:
        self.host_keys = dict(host_keys)
        # What `ssh-keygen -A` on a machine produces after its keys were removed.
        self.fresh: dict[str, paramiko.PKey] = {}
        self.listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(ports)]
        self.ports = [s.getsockname()[1] for s in self.listeners]
        self.answering: dict[int, str] = {}
        self.stop = threading.Event()
        for listener in self.listeners:
            threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def boot(self, placement: dict[str, int]) -> None:
        """Machines come up on these ports (a new `vagrant up`)."""
        self.answering = {port: name for name, port in placement.items()}

    def _serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            port = listener.getsockname()[1]
            threading.Thread(target=self._session, args=(conn, port), daemon=True).start()

    def _session(self, conn: socket.socket, port: int) -> None:
        name = self.answering[port]
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_keys[name])
        machine = _Machine(name)
        try:
            transport.start_server(server=machine)
            channel = transport.accept(5)
            if channel is not None and machine.ran.wait(5):
                if b"ssh-keygen -A" in machine.command:
                    self.host_keys[name] = self.fresh[name]  # sshd serves them after restart
                channel.sendall(f"{name}\n".encode())
                channel.send_exit_status(0)
                channel.close()
            # Lets the client read the exit status before the connection closes.
            while transport.is_active() and not self.stop.is_set():
                self.stop.wait(0.05)
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()

    def close(self) -> None:
        self.stop.set()
        for listener in self.listeners:
            listener.close()


@pytest.fixture(scope="module")
def keys() -> dict[str, paramiko.PKey]:
    names = ("a", "b", "impostor", "box", "fresh-a", "fresh-b")
    return {name: paramiko.RSAKey.generate(1024) for name in names}


@pytest.fixture
def sshd(keys: dict[str, paramiko.PKey]) -> Iterator[PortReshufflingSshd]:
    double = PortReshufflingSshd(keys, ports=2)
    yield double
    double.close()


@pytest.fixture
def user_key(tmp_path: Path) -> Path:
    path = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(path))
    return path


def _hostname(known_hosts: Path, target: SshTarget) -> str:
    with SshPool(known_hosts, connect_timeout=5.0, retry=ONE_TRY) as pool:
        return pool.run(target, "hostname", 5).stdout.strip()


def test_machines_that_traded_ports_after_a_reboot_are_still_recognised(
    sshd: PortReshufflingSshd, user_key: Path, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    p1, p2 = sshd.ports
    sshd.boot({"a": p1, "b": p2})
    assert _hostname(known_hosts, SshTarget("a", "127.0.0.1", p1, "vagrant", user_key)) == "a"
    assert _hostname(known_hosts, SshTarget("b", "127.0.0.1", p2, "vagrant", user_key)) == "b"
    assert sorted(line.split()[0] for line in known_hosts.read_text().splitlines()) == ["a", "b"]

    sshd.boot({"a": p2, "b": p1})  # halt, up: the forwarded ports were picked the other way
    assert _hostname(known_hosts, SshTarget("a", "127.0.0.1", p2, "vagrant", user_key)) == "a"
    assert _hostname(known_hosts, SshTarget("b", "127.0.0.1", p1, "vagrant", user_key)) == "b"
    assert len(known_hosts.read_text().splitlines()) == 2  # nothing re-learnt


def test_another_key_for_a_pinned_machine_is_still_refused(
    sshd: PortReshufflingSshd, user_key: Path, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    p1, _ = sshd.ports
    sshd.boot({"a": p1})
    assert _hostname(known_hosts, SshTarget("a", "127.0.0.1", p1, "vagrant", user_key)) == "a"
    sshd.boot({"impostor": p1})
    with pytest.raises(HostKeyMismatchError) as caught:
        _hostname(known_hosts, SshTarget("a", "127.0.0.1", p1, "vagrant", user_key))
    assert "delete the line for a from" in (caught.value.hint or "")


def test_ansible_pins_by_machine_too() -> None:
    targets = {
        "demo-server-1": SshTarget("demo-server-1", "127.0.0.1", 2200, "vagrant", Path("/k"))
    }
    doc = yaml.safe_load(ssh_inventory(targets, Path("/lab/known_hosts")))  # type: ignore[arg-type]
    host = doc["all"]["hosts"]["demo-server-1"]
    assert host["ansible_ssh_extra_args"] == "-o HostKeyAlias=demo-server-1"


def _pinned(known_hosts: Path) -> dict[str, str]:
    return {line.split()[0]: line.split()[2] for line in known_hosts.read_text().splitlines()}


def test_clones_of_one_box_get_their_own_host_keys_before_the_first_pin(
    keys: dict[str, paramiko.PKey], user_key: Path, tmp_path: Path
) -> None:
    """Both machines boot with the box's key (clones); the first contact renews it."""
    double = PortReshufflingSshd({"a": keys["box"], "b": keys["box"]}, ports=2)
    double.fresh = {"a": keys["fresh-a"], "b": keys["fresh-b"]}
    try:
        known_hosts = tmp_path / "known_hosts"
        p1, p2 = double.ports
        double.boot({"a": p1, "b": p2})
        a = SshTarget("a", "127.0.0.1", p1, "vagrant", user_key)
        b = SshTarget("b", "127.0.0.1", p2, "vagrant", user_key)
        for target in (a, b):
            assert renew_host_keys(target, known_hosts, retry=ONE_TRY)
            assert _hostname(known_hosts, target) == target.name
        pinned = _pinned(known_hosts)
        assert pinned == {
            "a": keys["fresh-a"].get_base64(),
            "b": keys["fresh-b"].get_base64(),
        }
        assert not renew_host_keys(a, known_hosts, retry=ONE_TRY)  # a later boot keeps them
    finally:
        double.close()
