"""Host-side commands in a Python where what Windows lacks cannot be imported (issue: Windows
hosts). ansible, ansible_runner and pexpect (Ansible runs on the host only in `controller: host`
mode), pty, termios, fcntl, resource, tty, pwd and grp are blocked by a meta-path finder that
`sitecustomize` installs before labctl starts, as they are missing on Windows. Each command must
work as it does here: same exit code, no traceback, no import error."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

BLOCKED = ("ansible", "ansible_runner", "pexpect", "pty", "termios", "fcntl", "resource", "tty",
           "pwd", "grp")  # fmt: skip
SITECUSTOMIZE = f"""
import sys
BLOCKED = {BLOCKED!r}
class _AsOnWindows:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (as on Windows)", name=name)
        return None
for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[loaded]
sys.meta_path.insert(0, _AsOnWindows())
"""
SPEC = "name: win\nservers: {count: 1}\nagents: {count: 1}\n"


def _run(cwd: Path, site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "labctl", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_the_blocker_blocks(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    probe = subprocess.run([sys.executable, "-c", "import fcntl"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(site)}, check=False)  # fmt: skip
    assert probe.returncode != 0
    assert "as on Windows" in probe.stderr


@pytest.mark.parametrize(
    "args",
    [("validate",), ("render",), ("up", "--dry-run"), ("status",), ("doctor",), ("--help",)],
    ids=" ".join,
)
def test_host_side_commands_need_none_of_them(tmp_path: Path, args: tuple[str, ...]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    here, windows = tmp_path / "here", tmp_path / "windows"
    for folder in (here, windows):
        folder.mkdir()
        (folder / "lab.yaml").write_text(SPEC)
    expected = _run(here, None, *args)
    got = _run(windows, site, *args)
    assert "Traceback" not in got.stderr, got.stderr
    assert "as on Windows" not in got.stdout + got.stderr, got.stdout + got.stderr
    assert got.returncode == expected.returncode, (got.stdout, got.stderr)
