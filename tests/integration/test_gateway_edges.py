"""The gateway's host edges for real, without the test bed: labctl.lab.gateway adds the account,
the keys-file lines and the drop-in on a configuration of the test's own (checked by the real
sshd), keeps what it did not write, and takes away exactly what it added. Needs root (useradd);
the account has a name of its own, so the test runs beside any other."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

import pytest

from labctl.errors import GatewayError
from labctl.lab.access import GatewayPaths, Reach, keys_line
from labctl.lab.gateway import close_gateway, open_gateway

pytestmark = [pytest.mark.integration]
ACCOUNT = "labctl-gwedge"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1mNCaFbgSWUZRs5AOwhL6NPddX0FC1L5N0yuqMhcka"


def _exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


@pytest.fixture
def sshd_dir():  # type: ignore[no-untyped-def]
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI runs as root with openssh-server installed (tests/testbed/install-deps.sh)"
            )
        pytest.skip("needs root and OpenSSH's server")
    folder = Path(tempfile.mkdtemp(prefix="labctl-gwedge-", dir="/run"))
    folder.chmod(0o755)
    (folder / "sshd_config.d").mkdir(mode=0o755)
    key = folder / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (folder / "sshd_config").write_text(
        f"Include {folder}/sshd_config.d/*.conf\nHostKey {key}\nPidFile {folder}/none.pid\n"
    )
    yield folder
    subprocess.run(["userdel", ACCOUNT], capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def test_open_and_close_take_away_exactly_what_they_added(sshd_dir: Path) -> None:
    paths = GatewayPaths(PurePosixPath(str(sshd_dir / "sshd_config")), ACCOUNT)
    a = keys_line(KEY, (Reach("10.9.0.11", 22, "ssh a"),), "labctl-attendee:a:1")
    b = keys_line(KEY, (Reach("10.9.1.11", 22, "ssh b"),), "labctl-attendee:b:2")
    first = list(open_gateway(paths, a, "labctl-attendee:a:1"))
    assert any("added account" in line for line in first)
    assert any("sshd is not running" in line for line in first)
    assert _exists(ACCOUNT)
    assert pwd.getpwnam(ACCOUNT).pw_shell.endswith(("nologin", "false"))
    second = list(open_gateway(paths, b, "labctl-attendee:b:2"))
    assert not any("drop-in" in line or "wrote" in line for line in second), second
    assert list(open_gateway(paths, b, "labctl-attendee:b:2")) == [], "nothing to do twice"

    keys = Path(str(paths.keys))
    keys.write_text(keys.read_text() + "restrict ssh-ed25519 AAAAhand someone-elses-key\n")
    list(close_gateway(paths, "labctl-attendee:a:1"))
    list(close_gateway(paths, "labctl-attendee:b:2"))
    assert keys.read_text() == "restrict ssh-ed25519 AAAAhand someone-elses-key\n"
    assert Path(str(paths.dropin)).exists(), "the account still serves a key labctl did not add"
    assert _exists(ACCOUNT)

    keys.write_text("")
    list(close_gateway(paths, "labctl-attendee:b:2"))
    assert not keys.exists()
    assert not Path(str(paths.dropin)).exists()
    assert not Path(str(paths.folder)).exists()
    assert not _exists(ACCOUNT)


def test_a_config_without_the_include_is_refused_and_left_as_it_was(sshd_dir: Path) -> None:
    config = sshd_dir / "sshd_config"
    config.write_text(config.read_text().splitlines()[1] + "\n")  # HostKey only, no Include
    paths = GatewayPaths(PurePosixPath(str(config)), ACCOUNT)
    line = keys_line(KEY, (Reach("10.9.0.11", 22, "ssh a"),), "labctl-attendee:a:1")
    with pytest.raises(GatewayError, match="Include") as err:
        list(open_gateway(paths, line, "labctl-attendee:a:1"))
    assert "first line" in err.value.hint
    assert not Path(str(paths.dropin)).exists(), "the drop-in sshd would not read is taken back"
    list(close_gateway(paths, "labctl-attendee:a:1"))
    assert not _exists(ACCOUNT)
