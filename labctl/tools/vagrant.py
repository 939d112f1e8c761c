"""The Vagrant edge: the only module that imports python-vagrant.

Nothing python-vagrant returns is trusted as-is: a failed command raises BootError with the tail
of Vagrant's own message, and `vagrant ssh-config` must name every machine with host, port, user
and key before labctl uses it. Parsing is kept in pure functions so it is tested without Vagrant.

A machine on a remote libvirt hypervisor is reached through the hypervisor: `vagrant ssh-config`
gives it vagrant-libvirt's ProxyCommand (`ssh 'HOST' [-p PORT] [-l 'USER'] [-i 'KEY'] -W
%h:%p`), which becomes the machine's jump host, so labctl's own SSH, Ansible and `labctl ssh`
follow it with the jump host's key pinned in the lab's known_hosts like any machine's.

Boot strategy: VirtualBox ignores `--parallel` and both VirtualBox (linked-clone master, box
import) and lxc (box unpack) do first-time work on the first machine, so that machine boots
alone and the rest boot as concurrent `vagrant up NAME` processes. libvirt boots in parallel
natively, so one `vagrant up` covers all of its machines.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BootError

if TYPE_CHECKING:
    from labctl.tools.ssh import SshTarget

LineSink = Callable[[str, str], None]  # (machine, line)


@dataclass(frozen=True)
class MachineStatus:
    """One machine as `vagrant status` reports it."""

    name: str
    state: str
    provider: str | None


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """`vagrant ssh-config` output -> {machine: {option: value}} (option names lowercased)."""
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip().strip('"')
        if key.lower() == "host":
            current = hosts.setdefault(value, {})
        elif current is not None:
            current.setdefault(key.lower(), value)
    return hosts


def targets_from_ssh_config(text: str) -> dict[str, SshTarget]:
    """How to reach each machine `vagrant ssh-config` describes; every machine must have a
    host, port, user and key, and a ProxyCommand only of the form labctl can follow."""
    from labctl.tools.ssh import SshTarget  # noqa: PLC0415 - a plain dataclass; paramiko stays lazy

    targets: dict[str, SshTarget] = {}
    for name, options in parse_ssh_config(text).items():
        missing = [k for k in ("hostname", "port", "user", "identityfile") if k not in options]
        if missing:
            raise BootError(
                f"vagrant ssh-config gave no {', '.join(missing)} for {name}",
                "the machine may not be running; `labctl status` shows its state",
            )
        proxy = options.get("proxycommand")
        targets[name] = SshTarget(
            name=name,
            host=options["hostname"],
            port=int(options["port"]),
            user=options["user"],
            key_file=Path(options["identityfile"]),
            jump=jump_from_proxy_command(proxy, name) if proxy else None,
        )
    return targets


def parse_status(text: str) -> list[MachineStatus]:
    """`vagrant status --machine-readable` -> machines in Vagrantfile order."""
    states: dict[str, str] = {}
    providers: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(",", 3)
        if len(parts) < 4 or not parts[1]:
            continue
        _, name, kind, data = parts
        if kind == "state":
            states[name] = data
        elif kind == "provider-name":
            providers[name] = data
    return [MachineStatus(name, state, providers.get(name)) for name, state in states.items()]


NO_SNAPSHOTS = "No snapshots have been taken yet!"


def parse_snapshot_list(text: str) -> list[str]:
    """`vagrant snapshot list NAME --machine-readable` -> the machine's snapshot names, sorted.

    Names come as `ui,detail` lines; a machine without snapshots says so in a `ui,output` line
    followed by a `ui,detail` explanation, which is not a name.
    """
    names: list[str] = []
    for line in text.splitlines():
        parts = line.split(",", 4)
        if len(parts) < 5 or parts[2] != "ui":
            continue
        kind, data = parts[3], parts[4].strip()
        if kind == "output" and data.startswith(NO_SNAPSHOTS):
            return []
        if kind == "detail" and data:
            names.append(data)
    return sorted(names)


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def decode_output(raw: bytes) -> str:
    """Vagrant writes UTF-8 whatever the host's code page; a byte that is not UTF-8 becomes U+FFFD
    instead of an error (python-vagrant decodes with the locale's encoding: cp949 on Korean
    Windows fails on a Korean user name in a key path)."""
    return raw.decode("utf-8", errors="replace")


_UTF8_CLIENTS: dict[type, type] = {}


def _utf8_client(base: type) -> type:
    """python-vagrant's client with its two output readers decoding through decode_output."""
    if base in _UTF8_CLIENTS:
        return _UTF8_CLIENTS[base]

    class Utf8Vagrant(base):  # type: ignore[misc]  # python-vagrant is untyped
        def _run_vagrant_command(self, args: list[str | None]) -> str:
            with self.err_cm() as err:
                raw = subprocess.check_output(
                    self._make_vagrant_command(args), cwd=self.root, env=self.env, stderr=err
                )
            return decode_output(raw)

        def _stream_vagrant_command(self, args: list[str | None]) -> Iterator[str]:
            command = self._make_vagrant_command(args)
            with self.err_cm() as err:
                proc = subprocess.Popen(
                    command, cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=err
                )
                with proc:
                    for raw in proc.stdout or ():
                        yield decode_output(raw)
            if proc.returncode != 0:
                raise subprocess.CalledProcessError(proc.returncode, command)

    _UTF8_CLIENTS[base] = Utf8Vagrant
    return Utf8Vagrant


class VagrantLab:
    """Vagrant commands run in a lab directory, with their output logged under `log_dir`."""

    @classmethod
    def for_lab(cls, lab_dir: Path) -> VagrantLab:
        """Logs go to a new `runs/<stamp>-vagrant/` folder, beside the Ansible runs."""
        return cls(lab_dir, lab_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-vagrant")

    def __init__(self, lab_dir: Path, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.lab_dir = lab_dir
        self.log_dir = log_dir
        self.env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", **(env or {})}
        self.env.pop("VAGRANT_CWD", None)

    def _client(self, log_name: str):  # type: ignore[no-untyped-def]  # python-vagrant is untyped
        import vagrant  # noqa: PLC0415 - the one import of python-vagrant

        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = vagrant.make_file_cm(str(self.log_dir / log_name))  # type: ignore[no-untyped-call]
        return _utf8_client(vagrant.Vagrant)(root=str(self.lab_dir), env=self.env,
                                             out_cm=log, err_cm=log)  # fmt: skip

    def _fail(self, action: str, log_name: str, exc: Exception) -> BootError:
        tail = _tail(self.log_dir / log_name)
        detail = f":\n{tail}" if tail else f" ({exc})"
        return BootError(
            f"vagrant {action} failed{detail}",
            f"the full log is {self.log_dir / log_name}; fix the cause and run `labctl up` again",
        )

    def status(self) -> list[MachineStatus]:
        """Every machine of the Vagrantfile and its state."""
        client = self._client("vagrant-status.log")
        try:
            text = client._run_vagrant_command(["status", "--machine-readable"])
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail("status", "vagrant-status.log", exc) from None
        machines = parse_status(text)
        if not machines:
            raise BootError(
                "vagrant status listed no machines",
                f"check {self.lab_dir / 'Vagrantfile'}; `labctl render` writes it again",
            )
        return machines

    def up_one(self, name: str, provider: str, on_line: LineSink) -> float:
        """`vagrant up NAME --no-provision`, streaming its lines; returns seconds taken."""
        log_name = f"vagrant-up-{name}.log"
        started = time.monotonic()
        client = self._client(log_name)
        try:
            lines = client.up(
                vm_name=name, provider=provider, no_provision=True, stream_output=True
            )
            with (self.log_dir / log_name).open("a", encoding="utf-8") as log:
                for line in lines:
                    log.write(line)
                    on_line(name, line.rstrip())
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail(f"up {name}", log_name, exc) from None
        return time.monotonic() - started

    def up_all(
        self, names: Sequence[str], provider: str, on_line: LineSink, *, together: bool = False
    ) -> dict[str, float]:
        """Boot every machine: in one `vagrant up` where the provider parallelizes natively
        (`together`), else the first alone, then the rest concurrently."""
        if not names:
            return {}
        if together:
            return self._up_together(names, provider, on_line)
        timings = {names[0]: self.up_one(names[0], provider, on_line)}
        timings.update(self._concurrently(names[1:], provider, on_line))
        return timings

    def _up_together(
        self, names: Sequence[str], provider: str, on_line: LineSink
    ) -> dict[str, float]:
        log_name = "vagrant-up.log"
        started = time.monotonic()
        client = self._client(log_name)
        try:
            for line in client.up(provider=provider, no_provision=True, stream_output=True):
                on_line(names[0], line.rstrip())
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail("up", log_name, exc) from None
        elapsed = time.monotonic() - started
        return dict.fromkeys(names, elapsed)

    def _concurrently(
        self, names: Sequence[str], provider: str, on_line: LineSink
    ) -> dict[str, float]:
        timings: dict[str, float] = {}
        errors: list[BootError] = []
        lock = threading.Lock()

        def boot(name: str) -> None:
            try:
                elapsed = self.up_one(name, provider, on_line)
                with lock:
                    timings[name] = elapsed
            except BootError as exc:
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=boot, args=(n,), name=f"up-{n}") for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return timings

    def ssh_targets(self) -> dict[str, SshTarget]:
        """How to reach each running machine, from one `vagrant ssh-config` call."""

        client = self._client("vagrant-ssh-config.log")
        try:
            text = client._run_vagrant_command(["ssh-config"])
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail("ssh-config", "vagrant-ssh-config.log", exc) from None
        return targets_from_ssh_config(text)

    def halt(self) -> None:
        client = self._client("vagrant-halt.log")
        try:
            client.halt()
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail("halt", "vagrant-halt.log", exc) from None

    def destroy(self) -> None:
        client = self._client("vagrant-destroy.log")
        try:
            client.destroy()
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail("destroy -f", "vagrant-destroy.log", exc) from None

    def _snapshot(self, action: str, argv: list[str], log_name: str) -> str:
        client = self._client(log_name)
        try:
            text: str = client._run_vagrant_command(["snapshot", *argv])
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise self._fail(f"snapshot {action}", log_name, exc) from None
        return text

    def snapshot_save(self, machine: str, name: str) -> None:
        """`vagrant snapshot save --force MACHINE NAME`: one machine, replacing a same-named one.

        Per machine, because `vagrant snapshot save NAME` alone skips machines not created with
        only a warning and exits 0.
        """
        self._snapshot(
            f"save {machine} {name}",
            ["save", "--force", machine, name],
            f"vagrant-snapshot-save-{machine}.log",
        )
        if name not in self.snapshot_list(machine):
            raise BootError(
                f"vagrant snapshot save {machine} {name} exited 0 but the snapshot is not listed",
                f"the full log is {self.log_dir / f'vagrant-snapshot-save-{machine}.log'}",
            )

    def snapshot_restore(self, machine: str, name: str, *, start: bool = True) -> None:
        """`vagrant snapshot restore --no-provision [--no-start] MACHINE NAME`.

        VirtualBox halts the machine, restores and starts it (unless `start` is False);
        vagrant-libvirt reverts the domain (running if the snapshot was taken running).
        Provisioners never run: labctl provisions.
        """
        self._snapshot(
            f"restore {machine} {name}",
            ["restore", "--no-provision", *([] if start else ["--no-start"]), machine, name],
            f"vagrant-snapshot-restore-{machine}.log",
        )

    def snapshot_delete(self, machine: str, name: str) -> None:
        """`vagrant snapshot delete MACHINE NAME`."""
        self._snapshot(
            f"delete {machine} {name}",
            ["delete", machine, name],
            f"vagrant-snapshot-delete-{machine}.log",
        )

    def snapshot_list(self, machine: str) -> list[str]:
        """The names of one machine's provider snapshots."""
        text = self._snapshot(
            f"list {machine}",
            ["list", "--machine-readable", machine],
            f"vagrant-snapshot-list-{machine}.log",
        )
        return parse_snapshot_list(text)


# What a ProxyCommand labctl follows runs: OpenSSH's client.
OPENSSH_CLIENTS = frozenset({"ssh", "ssh.exe"})


def jump_from_proxy_command(command: str, machine: str) -> SshTarget:
    """The jump host of a ProxyCommand of the form `ssh [-p P] [-l U] [-i K] HOST -W %h:%p`
    (what vagrant-libvirt writes for a remote hypervisor), named by its host.

    Anything else (nc, a script, options labctl cannot carry over) is refused: following it
    blindly would skip the jump host's key check.
    """
    from labctl.tools.ssh import SshTarget  # noqa: PLC0415 - a plain dataclass

    def refuse(why: str) -> BootError:
        return BootError(
            f"vagrant ssh-config gives {machine} the ProxyCommand {command!r}, which labctl "
            f"cannot follow: {why}",
            "labctl follows `ssh [-p PORT] [-l USER] [-i KEY] HOST -W %h:%p`; remove a custom "
            "libvirt proxy_command, or reach the machines without one",
        )

    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if not words or Path(words[0]).name not in OPENSSH_CLIENTS:
        raise refuse("it does not run ssh")
    values: dict[str, str] = {}
    hosts: list[str] = []
    rest = iter(words[1:])
    for word in rest:
        if word in ("-p", "-l", "-i", "-W"):
            value = next(rest, None)
            if value is None:
                raise refuse(f"{word} has no value")
            values[word] = value
        elif word.startswith("-"):
            raise refuse(f"it passes {word}")
        else:
            hosts.append(word)
    if values.get("-W") != "%h:%p" or len(hosts) != 1:
        raise refuse("it is not one host forwarding with -W %h:%p")
    user, _, host = hosts[0].rpartition("@")
    try:
        port = int(values.get("-p", "22"))
    except ValueError:
        raise refuse(f"port {values['-p']!r} is not a number") from None
    key = values.get("-i")
    return SshTarget(
        name=host,
        host=host,
        port=port,
        # ssh's own default when neither -l nor user@ says: the local user.
        user=values.get("-l") or user or _local_user(),
        key_file=Path(key).expanduser() if key else None,
    )


def _local_user() -> str:
    import getpass  # noqa: PLC0415 - only for a ProxyCommand that names no user

    return getpass.getuser()
