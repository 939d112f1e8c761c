"""A VM that never boots, through a FAKE vagrant (tests/fakes/vagrant-never-boots): labctl must
stop at the boot phase with exit 4, Vagrant's own words and the log path, and record it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_VAGRANT_DIR = Path(__file__).parents[1] / "fakes" / "vagrant-never-boots"

pytestmark = pytest.mark.integration


def test_a_machine_that_never_boots_fails_the_boot_phase_with_exit_4(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text("name: hang\nagents: {count: 1}\n")
    env = {**os.environ, "PATH": f"{FAKE_VAGRANT_DIR}{os.pathsep}{os.environ['PATH']}"}

    def labctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labctl", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip

    assert labctl("render").returncode == 0
    result = labctl("up", "--from", "boot", "--until", "boot")
    assert result.returncode == 4, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "error: vagrant up hang-server-1 failed:"
    assert "Timed out while waiting for the machine to boot." in result.stderr
    assert "vagrant-up-hang-server-1.log" in lines[-1]
    assert "Traceback" not in result.stderr
    state = json.loads((tmp_path / ".labctl" / "hang" / "state.json").read_text())
    assert state["phases"]["boot"]["status"] == "failed"
    assert "wait-ssh" not in state["phases"]
