"""Every rendered Vagrantfile passes Ruby's syntax check and real `vagrant validate`.

VirtualBox itself cannot be installed here, so the VirtualBox files are validated with a FAKE
VBoxManage (tests/fakes/vboxmanage) that only reports a version: Vagrant's own VirtualBox config
validator then runs for real. libvirt files are validated by the real vagrant-libvirt plugin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.specs import PROVIDERS, SHAPES

GOLDEN = Path(__file__).parents[1] / "unit" / "golden"
FAKE_VBOXMANAGE_DIR = Path(__file__).parents[1] / "fakes" / "vboxmanage"

pytestmark = pytest.mark.integration


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing; .ci/run must install it")
        pytest.skip(f"{tool} is not installed (apt install vagrant ruby vagrant-libvirt)")
    return found


def vagrant_env(home: Path, provider: str) -> dict[str, str]:
    env = {**os.environ, "VAGRANT_HOME": str(home), "VAGRANT_CHECKPOINT_DISABLE": "1"}
    if provider == "virtualbox":
        env["PATH"] = f"{FAKE_VBOXMANAGE_DIR}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rendered_vagrantfile_validates(shape: str, provider: str, tmp_path: Path) -> None:
    vagrant, ruby = need("vagrant"), need("ruby")
    (tmp_path / "Vagrantfile").write_text((GOLDEN / f"{shape}-{provider}" / "Vagrantfile").read_text())
    syntax = subprocess.run(
        [ruby, "-c", "Vagrantfile"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    result = subprocess.run(
        [vagrant, "validate"],
        cwd=tmp_path,
        env=vagrant_env(tmp_path / ".vagrant.d", provider),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vagrantfile validated successfully." in result.stdout


def test_vagrant_validate_would_catch_a_broken_provider_block(tmp_path: Path) -> None:
    """Proves the fake lets Vagrant's real validator run: an unknown setting is refused."""
    vagrant = need("vagrant")
    text = (GOLDEN / "default-virtualbox" / "Vagrantfile").read_text()
    (tmp_path / "Vagrantfile").write_text(text.replace("vb.linked_clone = true", "vb.linked_clones = 1"))
    result = subprocess.run(
        [vagrant, "validate"],
        cwd=tmp_path,
        env=vagrant_env(tmp_path / ".vagrant.d", "virtualbox"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "linked_clones" in result.stdout + result.stderr
