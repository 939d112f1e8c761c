"""The handout in a real browser: Debian's headless chromium renders the page a student opens.

A lab directory is built in tmp_path the way `up` leaves it (rendered files, secrets, kubeconfig,
ssh.json, checks.json), the real `handout` command writes the page, and chromium takes a
screenshot and dumps the DOM it built. Without chromium the test is skipped with the reason;
under CI=true it fails, because .ci/run installs chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from labctl.checks import render_json
from labctl.checks.model import CheckResult, Status
from labctl.cli.handout import handout
from labctl.lab.labdir import lab_dir_for, lab_paths, render_into
from labctl.registry import plan_lab
from labctl.spec.loader import load_lab
from labctl.workshop.handout import IndexEntry, parse_checks, write_index

if TYPE_CHECKING:
    from labctl.plan import Plan

pytestmark = pytest.mark.integration

SPEC = """\
name: team-07
servers: {count: 3}
agents: {count: 4}
addons:
  argocd: {enabled: true}
  gitlab: {enabled: true}
"""
ARGO_PW = "Xq7-argo-admin-pw"
FAILED_MESSAGE = "Argo CD shows <b>OutOfSync</b> after 120 s & the commit is 3f9c2d1"
# Real CA data runs to a thousand characters on one line: the page must scroll, not spill.
CA_DATA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpN"
    * 10
)
KUBECONFIG = f"""\
apiVersion: v1
kind: Config
clusters:
- name: labctl-team-07
  cluster:
    certificate-authority-data: {CA_DATA}
    server: https://192.168.56.10:6443
contexts:
- name: labctl-team-07
  context: {{cluster: labctl-team-07, user: labctl-team-07}}
current-context: labctl-team-07
users:
- name: labctl-team-07
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENDQVRlZ0F3SUJBZ0lJVmE
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUNsYWJjdGwta2V5
"""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """Debian's chromium, or skip (fail under CI=true, where .ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true: .ci/run must install it", pytrace=False)
    pytest.skip(reason)


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def build_lab(root: Path) -> tuple[Plan, Path]:
    """A lab directory as `labctl up` leaves it, without booting anything."""
    spec = root / "lab.yaml"
    spec.write_text(SPEC)
    plan = plan_lab(load_lab(spec).lab)
    lab_dir = lab_dir_for(spec, plan.name)
    render_into(plan, lab_dir)  # Vagrantfile, inventory, k3s-token, gitlab-root-password
    paths = lab_paths(lab_dir)
    Path(str(paths.argocd_password_file)).write_text(ARGO_PW + "\n")
    (lab_dir / "kubeconfig").write_text(KUBECONFIG)
    ssh = {
        m.name: {
            "name": m.name,
            "host": "127.0.0.1",
            "port": 2200 + i,
            "user": "vagrant",
            "key_file": str(lab_dir / ".vagrant" / "machines" / m.name / "libvirt" / "private_key"),
        }
        for i, m in enumerate(plan.machines)
    }
    (lab_dir / "ssh.json").write_text(json.dumps(ssh))
    results = [
        CheckResult(name, Status.PASSED, f"{name}: as planned", 0.5)
        if name != "gitops"
        else CheckResult(name, Status.FAILED, FAILED_MESSAGE, 120.0)
        for name in plan.checks
    ]
    (lab_dir / "checks.json").write_text(render_json(results, plan.name))
    return plan, lab_dir


class _Dom(HTMLParser):
    """Elements, attributes and text of the DOM chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values the pixel rows hold (PNG read by hand)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_handout_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    plan, lab_dir = build_lab(tmp_path)
    out = tmp_path / "handouts"

    app = typer.Typer()
    app.command()(handout)
    result = CliRunner().invoke(app, [str(tmp_path / "lab.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out / "team-07.html"
    assert (page.stat().st_mode & 0o777) == 0o600
    entries = [
        IndexEntry.from_plan(plan, parse_checks((lab_dir / "checks.json").read_text())),
        IndexEntry("team-08", "192.168.57.0/24", 8, "team-08.html", None, "failed in boot"),
    ]
    index = write_index(entries, out, title="Workshop: K3s in a day")

    shot = tmp_path / "handout.png"
    shown = run_chromium(
        browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
        page.as_uri(),
    )  # fmt: skip
    assert shot.exists(), shown.stderr[-2000:]
    data = shot.read_bytes()
    width, height, colours = png_size_and_colours(data)
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "a page of text and a diagram compresses to far more than this"
    assert colours > 50, "the screenshot is blank or a single colour"

    dumped = run_chromium(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    text = " ".join(" ".join(dom.text).split())
    assert {"svg", "rect", "line", "text"} <= set(dom.tags), "the topology SVG is in the DOM"
    for machine in plan.machines:
        assert machine.name in text
        assert machine.ip in text
    for expected in (
        "lab network 192.168.56.0/24",
        "labctl ssh server-1",
        f"ssh -i {lab_dir}/.vagrant/machines/team-07-agent-4/libvirt/private_key -p 2206 "
        "vagrant@127.0.0.1",
        "http://demo.team-07.lab/api",
        "http://argocd.team-07.lab",
        "http://192.168.56.17",
        ARGO_PW,
        (Path(str(lab_paths(lab_dir).gitlab_password_file))).read_text().strip(),
        "client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUNsYWJjdGwta2V5",
        FAILED_MESSAGE,  # as text: the <b> in it did not become an element
        f"{len(plan.checks) - 1} passed, 1 failed",
    ):
        assert expected in text, expected
    assert "b" not in dom.tags
    assert "script" not in dom.tags
    assert (lab_dir / "secrets" / "k3s-token").read_text().strip() not in dumped.stdout
    for name, value in dom.attrs:
        if name in ("src", "srcset", "poster", "data"):
            pytest.fail(f"the page loads something: {name}={value}")
        if name == "href":  # links only to the lab's own hosts, never to the internet
            assert value.startswith(("http://192.168.56.", "http://demo.team-07.lab",
                                     "http://argocd.team-07.lab")), value  # fmt: skip

    index_shot = tmp_path / "index.png"
    run_chromium(
        browser, tmp_path / "profile", f"--screenshot={index_shot}", "--window-size=1280,600",
        index.as_uri(),
    )  # fmt: skip
    assert index_shot.stat().st_size > 10_000
    index_dom = run_chromium(browser, tmp_path / "profile", "--dump-dom", index.as_uri()).stdout
    assert 'href="team-07.html"' in index_dom
    assert ">ready<" in index_dom or ">failing<" in index_dom
    assert ARGO_PW not in index_dom
