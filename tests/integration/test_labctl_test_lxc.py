"""`labctl test` for real on the lxc test bed, through its failure path.

K3s phases run on tests/fakes/k3s-fake (offline path); the fake has no Kubernetes API, so the
addons phase (kubectl apply of the demo app) fails as it would on a broken cluster. That is the
path CI most needs to trust: exit code 5, the later steps skipped, the lab destroyed anyway,
and JUnit/JSON/HTML reports written. A green run needs a real K3s; it cannot happen here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_ansible_roles import make_offline_dir

pytestmark = [pytest.mark.integration, pytest.mark.root]

XSD = Path(__file__).parents[1] / "unit" / "fixtures" / "checks" / "junit.xsd"
SPEC = """\
name: lctest
provider: lxc
box: labctl/debian-bookworm
network: {cidr: 192.168.61.0/24}
servers: {count: 1, cpus: 1, memory: 1024}
agents: {count: 1, cpus: 1, memory: 768}
"""


def test_labctl_test_fails_at_addons_on_the_fake_and_still_tears_down(
    lxc_box: dict[str, object], tmp_path: Path
) -> None:
    del lxc_box
    (tmp_path / "lab.yaml").write_text(SPEC)
    offline = make_offline_dir(tmp_path / "offline")
    result = subprocess.run(
        [sys.executable, "-m", "labctl", "test", "--offline", str(offline), "--yes",
         "--junit", "junit.xml", "--json", "run.json", "--html", "report.html"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200, check=False,
        stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 5, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads((tmp_path / "run.json").read_text())
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("preflight", "passed"), ("up", "failed"), ("idempotence", "skipped"),
        ("checks", "skipped"), ("destroy", "passed"),
    ]  # fmt: skip
    phases = {p["name"]: p["status"] for p in run["phases"]}
    for name in ("render", "boot", "wait-ssh", "prepare", "k3s-servers", "k3s-agents",
                 "kubeconfig"):  # fmt: skip
        assert phases[name] == "done", phases
    assert phases["addons"] == "failed"
    left = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True).stdout
    assert "lctest-" not in left, "the lab must be destroyed after a failed test"
    assert "labctl test failed at up" in result.stderr

    lxml_etree = pytest.importorskip("lxml.etree")
    schema = lxml_etree.XMLSchema(lxml_etree.parse(str(XSD)))
    junit = lxml_etree.parse(str(tmp_path / "junit.xml"))
    assert schema.validate(junit), schema.error_log
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failed == ["addons"]
    page = (tmp_path / "report.html").read_text()
    assert "FAILED" in page
    assert "<svg" in page
