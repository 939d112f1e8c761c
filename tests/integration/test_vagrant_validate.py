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
    (tmp_path / "Vagrantfile").write_text(
        (GOLDEN / f"{shape}-{provider}" / "Vagrantfile").read_text()
    )
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


BROKEN = {
    "virtualbox": ("vb.linked_clone = true", "vb.linked_clones = 1", "linked_clones"),
    "libvirt": ('lv.graphics_type = "none"', "lv.graphic_type = 1", "graphic_type"),
    "lxc": ('lxc.backingstore = "dir"', "lxc.backing_store = 1", "backing_store"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_vagrant_validate_would_catch_a_broken_provider_block(
    provider: str, tmp_path: Path
) -> None:
    """Proves each provider's real validator runs on our files: an unknown setting is refused."""
    vagrant = need("vagrant")
    good, bad, named = BROKEN[provider]
    text = (GOLDEN / f"default-{provider}" / "Vagrantfile").read_text()
    assert good in text
    (tmp_path / "Vagrantfile").write_text(text.replace(good, bad))
    result = subprocess.run(
        [vagrant, "validate"],
        cwd=tmp_path,
        env=vagrant_env(tmp_path / ".vagrant.d", provider),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
