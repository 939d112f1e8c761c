"""A fleet for real on the lxc test bed: two labs from one spec, each its own subnet, bridge,
token and lab directory; status, handouts with the facilitator index, then teardown.

K3s phases run on tests/fakes/k3s-fake through --offline and stop after the kubeconfig phase
(the fake has no API for the demo app), so `fleet status` shows each lab waiting at addons.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli import labctl
from tests.integration.test_ansible_roles import make_offline_dir

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

SPEC = """\
name: fl
provider: lxc
box: labctl/debian-bookworm
servers: {count: 1, cpus: 1, memory: 1024}
agents: {count: 1, cpus: 1, memory: 512}
"""


def test_two_labs_from_one_spec(lxc_box: dict[str, object], tmp_path: Path) -> None:
    del lxc_box
    (tmp_path / "lab.yaml").write_text(SPEC)
    offline = make_offline_dir(tmp_path / "offline")
    try:
        plan = json.loads(labctl(tmp_path, "fleet", "up", "--count", "2", "--prefix", "fleetx",
                                 "--dry-run", "-o", "json").stdout)  # fmt: skip
        cidrs = [lab["network"]["cidr"] for lab in plan["labs"]]
        assert [lab["name"] for lab in plan["labs"]] == ["fleetx-01", "fleetx-02"]
        assert len(set(cidrs)) == 2

        up = labctl(tmp_path, "fleet", "up", "--count", "2", "--prefix", "fleetx",
                    "--offline", str(offline), "--until", "kubeconfig", check=False)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        assert "2 of 2 labs succeeded." in up.stdout
        fleet_dir = tmp_path / "fleet-fleetx"
        for name, cidr in zip(["fleetx-01", "fleetx-02"], cidrs, strict=True):
            spec = (fleet_dir / f"{name}.yaml").read_text()
            assert f"cidr: {cidr}" in spec
            token = fleet_dir / ".labctl" / name / "secrets" / "k3s-token"
            assert oct(token.stat().st_mode & 0o777) == "0o600"
        tokens = {(fleet_dir / ".labctl" / n / "secrets" / "k3s-token").read_text()
                  for n in ("fleetx-01", "fleetx-02")}  # fmt: skip
        assert len(tokens) == 2, "each lab has its own cluster token"

        status = json.loads(labctl(tmp_path, "fleet", "status", "--prefix", "fleetx",
                                   "-o", "json", check=False).stdout)  # fmt: skip
        assert [(s["name"], s["ready"], s["next_phase"]) for s in status] == [
            ("fleetx-01", False, "addons"), ("fleetx-02", False, "addons"),
        ]  # fmt: skip

        pages = labctl(tmp_path, "fleet", "handout", "--prefix", "fleetx", check=False)
        assert pages.returncode == 0, pages.stderr
        index = (fleet_dir / "handouts" / "index.html").read_text()
        assert "fleetx-01" in index
        assert "fleetx-02" in index
        assert (fleet_dir / "handouts" / "fleetx-02.html").exists()
    finally:
        down = labctl(tmp_path, "fleet", "destroy", "--prefix", "fleetx", "--yes", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    left = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True).stdout
    assert "fleetx-" not in left
