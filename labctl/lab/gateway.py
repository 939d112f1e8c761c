"""The gateway's edges: this host's sshd, its account and keys file, and the attendee key.

Changing the host needs root: as root labctl runs the tools itself, otherwise through `sudo -n`
(a facilitator runs `sudo -v` first, or labctl says so). Every change is shown as it is made,
checked with `sshd -t` before sshd is told (SIGHUP to the pid in its PidFile, what `systemctl
reload ssh` does), and undone when sshd refuses it. Labs of a fleet come up side by side, so
the read-modify-write of the shared keys file holds a file lock.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from labctl.errors import GatewayError
from labctl.lab.access import (
    EFFECTIVE,
    GatewayPaths,
    dropin_text,
    keys_with,
    keys_without,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


def attendee_key(lab_dir: Path) -> tuple[str, str]:
    """(private key in OpenSSH format, public key line): made once per lab, 0600, in its secrets."""
    from labctl.lab.access import KEY_FILE  # noqa: PLC0415
    from labctl.lab.keys import keypair  # noqa: PLC0415

    return keypair(lab_dir / KEY_FILE)


def forget_attendee_key(lab_dir: Path) -> bool:
    """Keys die with the lab: remove the pair from its secrets."""
    from labctl.lab.access import KEY_FILE  # noqa: PLC0415
    from labctl.lab.keys import forget_keypair  # noqa: PLC0415

    return forget_keypair(lab_dir / KEY_FILE)


class Host:
    """Runs the host's tools as root: directly when labctl is root, else through `sudo -n`."""

    def __init__(self) -> None:
        self.prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]

    def run(self, argv: list[str], *, check: bool = True, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [*self.prefix, *argv], input=stdin, capture_output=True, text=True, check=False
            )
        except FileNotFoundError as exc:
            raise GatewayError(
                f"{exc.filename} is not installed on this host, which the gateway needs",
                "the gateway is a Linux host's OpenSSH server: install openssh-server, passwd "
                "(useradd) and, unless labctl runs as root, sudo",
            ) from None
        if check and done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            if self.prefix and "password is required" in done.stderr:
                raise GatewayError(
                    "changing this host's sshd needs root, and sudo asks for a password",
                    "run `sudo -v` first (or run labctl as root), then the command again",
                )
            raise GatewayError(
                f"`{' '.join(argv)}` failed (exit {done.returncode}): "
                f"{why[-1] if why else 'no message'}",
                "fix what it says, then run the command again",
            )
        return done.stdout

    def read(self, path: PurePosixPath) -> str | None:
        if not self._exists(path):
            return None
        return self.run(["cat", str(path)])

    def _exists(self, path: PurePosixPath) -> bool:
        done = subprocess.run([*self.prefix, "test", "-e", str(path)], check=False)
        return done.returncode == 0

    def write(self, path: PurePosixPath, text: str, mode: str = "0644") -> None:
        """Atomic: a temporary file beside it, then a rename; owned by root."""
        tmp = f"{path}.labctl-tmp"
        self.run(["install", "-d", "-m", "0755", str(path.parent)])
        self.run(["tee", tmp], stdin=text)
        self.run(["chmod", mode, tmp])
        self.run(["mv", "-f", tmp, str(path)])

    def remove(self, path: PurePosixPath) -> bool:
        if not self._exists(path):
            return False
        self.run(["rm", "-f", str(path)])
        return True


def _sshd() -> str:
    found = shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).exists()), None
    )
    if found is None:
        raise GatewayError(
            "this host has no OpenSSH server (sshd) to be the attendees' gateway",
            "install it (apt install openssh-server) and start it, then run the command again",
        )
    return found


def _settings(host: Host, sshd_config: str, match: str | None = None) -> dict[str, list[str]]:
    """`sshd -T`: the configuration sshd would run with, keyword -> values (lowercase keys)."""
    argv = [_sshd(), "-T", "-f", sshd_config, *(["-C", match] if match else [])]
    settings: dict[str, list[str]] = {}
    for line in host.run(argv).splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), []).append(value)
    return settings


def _nologin() -> str:
    for path in ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false"):
        if Path(path).exists():
            return path
    return "/bin/false"


def _account_exists(account: str) -> bool:
    import pwd  # noqa: PLC0415 - POSIX only; the gateway is a Linux or macOS host

    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def _lock(account: str):  # type: ignore[no-untyped-def]
    from filelock import FileLock  # noqa: PLC0415

    folder = Path.home() / ".cache" / "labctl"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"gateway-{account}.lock"))


def _reload(host: Host, sshd_config: str) -> str:
    """Tell the running sshd to read its configuration again (SIGHUP, as systemd's reload)."""
    pidfile = _settings(host, sshd_config).get("pidfile", ["/run/sshd.pid"])[0]
    text = host.read(PurePosixPath(pidfile)) if pidfile != "none" else None
    pid = int(text.strip()) if text and text.strip().isdigit() else None
    if pid is None:
        return "sshd is not running: it reads the change when it starts"
    if os.geteuid() == 0:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            return f"sshd is not running (stale {pidfile}): it reads the change when it starts"
    else:
        host.run(["kill", "-HUP", str(pid)])
    return f"sshd (pid {pid}) reloaded its configuration"


def open_gateway(paths: GatewayPaths, line: str, comment: str) -> Iterator[str]:
    """Put a lab's entry in place: the account, its drop-in, the lab's keys-file line; yields a
    line per change."""
    host = Host()
    account, sshd_config = paths.account, str(paths.sshd_config)
    with _lock(account):
        if not _account_exists(account):
            host.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                      "--shell", _nologin(), "--password", "*", "--comment",
                      "labctl gateway, port forwarding only", account])  # fmt: skip
            host.write(paths.created_marker, "labctl added this account; it removes it\n")
            yield f"added account {account} (no shell, no password)"
        old = host.read(paths.keys) or ""
        new = keys_with(old, line, comment)
        if new != old:
            host.write(paths.keys, new)
            options = line.split(" ", 1)[0]
            yield f"{paths.keys}: this lab's key, with {options}"
        wanted = dropin_text(paths)
        before = host.read(paths.dropin)
        if before != wanted:
            host.write(paths.dropin, wanted)
            try:
                host.run([_sshd(), "-t", "-f", sshd_config])
                _check_effective(host, paths)
            except GatewayError:  # sshd keeps running on what it had: put that back
                if before is None:
                    host.remove(paths.dropin)
                else:
                    host.write(paths.dropin, before)
                raise
            yield f"wrote {paths.dropin} (checked with sshd -t and sshd -T):"
            for text in wanted.splitlines():
                yield "  " + text.replace("\t", "    ")
            yield _reload(host, sshd_config)


def _check_effective(host: Host, paths: GatewayPaths) -> None:
    """`sshd -T -C` for the account: the drop-in's settings must be the ones sshd would use."""
    match = f"user={paths.account},host=localhost,addr=127.0.0.1"
    settings = _settings(host, str(paths.sshd_config), match)
    wrong = {k: v for k, v in EFFECTIVE.items() if settings.get(k, [""])[0] != v}
    if wrong or settings.get("authorizedkeysfile", [""])[0] != str(paths.keys):
        raise GatewayError(
            f"sshd does not read {paths.dropin}: {paths.sshd_config} has no Include of "
            f"{paths.dropin.parent}/*.conf before its own Match blocks",
            f"add `Include {paths.dropin.parent}/*.conf` as the first line of "
            f"{paths.sshd_config}, then run the command again",
        )


def close_gateway(paths: GatewayPaths, comment: str) -> Iterator[str]:
    """Remove a lab's entry; with the last lab's, the drop-in, keys file and labctl's account."""
    host = Host()
    with _lock(paths.account):
        old = host.read(paths.keys)
        if old is not None:
            new = keys_without(old, comment)
            if new != old:
                host.write(paths.keys, new)
                yield f"removed this lab's key from {paths.keys}"
            if new.strip():  # other labs' entries, or lines someone else added: the file stays
                return
            host.remove(paths.keys)
        if host.remove(paths.dropin):
            yield f"removed {paths.dropin}"
            yield _reload(host, str(paths.sshd_config))
        if host.remove(paths.created_marker) and _account_exists(paths.account):
            host.run(["userdel", paths.account])
            yield f"removed account {paths.account}"
        host.run(["rmdir", "--ignore-fail-on-non-empty", str(paths.folder)], check=False)


def gateway_host_keys(sshd_config: str) -> list[tuple[str, str]]:
    """(type, base64) of each host key the gateway's sshd offers, from its HostKey .pub files."""
    host = Host()
    keys = []
    for path in _settings(host, sshd_config).get("hostkey", []):
        text = host.read(PurePosixPath(path + ".pub"))
        if text and len(text.split()) >= 2:
            kind, blob = text.split()[:2]
            keys.append((kind, blob))
    if not keys:
        raise GatewayError(
            f"the sshd of {sshd_config} names no host key with a .pub beside it",
            "run `ssh-keygen -A` to make the host keys, then the command again",
        )
    return keys
