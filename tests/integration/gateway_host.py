"""The facilitator's host for the attendee-access test: its own sshd on a loopback address, and
a laptop user standing in for an attendee (own home, no access to the lab directories).

The sshd is the host's OpenSSH server started with a configuration of the test's own that
includes `<dir>/sshd_config.d/*.conf`, as Debian's does for /etc/ssh: labctl changes it exactly
as it would change /etc/ssh. Everything lives under /run (root, 0755), since sshd's StrictModes
refuses a keys file below a world-writable folder such as /tmp.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LAPTOP_USER = "labctl-laptop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GatewaySshd:
    folder: Path
    port: int

    @property
    def config(self) -> Path:
        return self.folder / "sshd_config"

    def settings(self, user: str) -> dict[str, str]:
        out = subprocess.run(
            ["/usr/sbin/sshd", "-T", "-f", str(self.config), "-C",
             f"user={user},host=localhost,addr=127.0.0.1"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return dict(line.partition(" ")[::2] for line in out.splitlines())

    def stop(self) -> None:
        pid = self.folder / "sshd.pid"
        if pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid.read_text()), signal.SIGTERM)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_sshd() -> GatewaySshd:
    folder = Path(tempfile.mkdtemp(prefix="labctl-gw-", dir="/run"))
    folder.chmod(0o755)
    (folder / "sshd_config.d").mkdir(mode=0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    key = folder / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    gw = GatewaySshd(folder, free_port())
    gw.config.write_text(
        f"Include {folder}/sshd_config.d/*.conf\n"
        f"ListenAddress 127.0.0.1\nPort {gw.port}\nHostKey {key}\nPidFile {folder}/sshd.pid\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    subprocess.run(["/usr/sbin/sshd", "-f", str(gw.config)], check=True)
    return gw


@dataclass
class Laptop:
    home: Path

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["setpriv", f"--reuid={LAPTOP_USER}", f"--regid={LAPTOP_USER}", "--clear-groups",
             "env", f"HOME={self.home}", *argv],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["setpriv", f"--reuid={LAPTOP_USER}", f"--regid={LAPTOP_USER}", "--clear-groups",
             "env", f"HOME={self.home}", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def save(self, rel: str, text: str, mode: int = 0o600) -> Path:
        path = self.home / rel
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        shutil.chown(path.parent, LAPTOP_USER, LAPTOP_USER)
        shutil.chown(path, LAPTOP_USER, LAPTOP_USER)
        return path

    def remove(self) -> None:
        subprocess.run(["userdel", "--remove", LAPTOP_USER], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def make_laptop() -> Laptop:
    home = Path("/run") / LAPTOP_USER
    subprocess.run(["userdel", "--remove", LAPTOP_USER], capture_output=True, check=False)
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh",
                    LAPTOP_USER], check=True)  # fmt: skip
    return Laptop(home)
