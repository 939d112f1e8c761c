"""A fleet for real on the lxc test bed: two labs from one spec, each its own subnet, bridge,
token and lab directory; status, handouts with the facilitator index, then teardown.

K3s phases run on tests/fakes/k3s-fake through --offline and stop after the access phase
(the fake has no API for the demo app), so `fleet status` shows each lab waiting at addons.

The same fleet proves attendee access (`--gateway`): the host's sshd, started by the test on a
loopback address, is the gateway; a laptop user with its own home and none of the lab
directories follows the handout: logs in through the gateway, forwards the API server, and
finds everything else refused; `fleet destroy` leaves nothing of it on the host.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli import labctl
from tests.integration.gateway_host import make_laptop, start_sshd
from tests.integration.test_ansible_roles import make_offline_dir

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.gateway_host import GatewaySshd, Laptop

pytestmark = [pytest.mark.integration, pytest.mark.root]

SPEC = """\
name: fl
provider: lxc
box: labctl/debian-bookworm
servers: {count: 1, cpus: 1, memory: 1024}
agents: {count: 1, cpus: 1, memory: 512}
"""


ACCOUNT = "labctl-gwtest"


def test_two_labs_from_one_spec(lxc_box: dict[str, object], tmp_path: Path) -> None:
    del lxc_box
    gateway = start_sshd()
    laptop = make_laptop()
    (tmp_path / "lab.yaml").write_text(
        SPEC + f"access: {{gateway: example.invalid, sshd_config: {gateway.config}, "
        f"account: {ACCOUNT}}}\n"
    )
    offline = make_offline_dir(tmp_path / "offline")
    try:
        plan = json.loads(labctl(tmp_path, "fleet", "up", "--count", "2", "--prefix", "fleetx",
                                 "--dry-run", "-o", "json").stdout)  # fmt: skip
        cidrs = [lab["network"]["cidr"] for lab in plan["labs"]]
        assert [lab["name"] for lab in plan["labs"]] == ["fleetx-01", "fleetx-02"]
        assert len(set(cidrs)) == 2

        up = labctl(tmp_path, "fleet", "up", "--count", "2", "--prefix", "fleetx",
                    "--gateway", f"127.0.0.1:{gateway.port}",
                    "--offline", str(offline), "--until", "access", check=False)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        assert "2 of 2 labs succeeded." in up.stdout
        assert f"Match User {ACCOUNT}" in up.stdout, "the facilitator sees the sshd change"
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
        _attendee_access(tmp_path, fleet_dir, laptop, gateway)
    finally:
        down = labctl(tmp_path, "fleet", "destroy", "--prefix", "fleetx", "--yes", check=False)
        try:
            assert down.returncode == 0, down.stdout + down.stderr
            left = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True,
                                  check=True).stdout  # fmt: skip
            assert "fleetx-" not in left
            _nothing_left(tmp_path / "fleet-fleetx", gateway)
        finally:
            gateway.stop()
            laptop.remove()


def _attendee_access(tmp_path: Path, fleet_dir: Path, laptop: Laptop, gateway: GatewaySshd) -> None:
    """The handout's laptop steps, by a user who cannot read the lab directories."""
    assert laptop.run("test", "-r", str(fleet_dir / ".labctl")).returncode != 0
    out = fleet_dir / "handouts"
    for name in ("labctl-fleetx-01", "labctl-fleetx-01.known_hosts", "labctl-fleetx-01.ssh_config"):
        laptop.save(f".ssh/{name}", (out / name).read_text())
    laptop.save(".ssh/config", (out / "labctl-fleetx-01.ssh_config").read_text())
    page = (out / "fleetx-01.html").read_text()
    assert 'download="labctl-fleetx-01"' in page
    assert "ssh -N -L 16443:" in (out / "fleetx-01.md").read_text()
    ips = {lab: json.loads((fleet_dir / ".labctl" / lab / "access.json").read_text())["reach"]
           for lab in ("fleetx-01", "fleetx-02")}  # fmt: skip
    server1, server2 = ips["fleetx-01"][0][0], ips["fleetx-02"][0][0]

    login = laptop.run("ssh", "-o", "BatchMode=yes", "fleetx-01-server-1", "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "fleetx-01-server-1"
    shell = laptop.run("ssh", "-o", "BatchMode=yes", "fleetx-01-gateway", "id")
    assert shell.returncode != 0
    assert "uid=" not in shell.stdout
    for target in (f"{server2}:22", f"{server2}:6443", f"{server1}:10250", "127.0.0.1:22"):
        hop = laptop.run("ssh", "-o", "BatchMode=yes", "-W", target, "fleetx-01-gateway")
        assert hop.returncode != 0, target
        assert "administratively prohibited" in hop.stderr, (target, hop.stderr)

    forward = laptop.popen("ssh", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-N",
                           "-L", f"16443:{server1}:6443", "fleetx-01-gateway")  # fmt: skip
    try:
        reply = _fake_api_readyz(16443)
    finally:
        forward.terminate()
        forward.wait(10)
    assert reply == {"ok": True, "body": "ok"}, reply

    check = labctl(tmp_path, "fleet", "access", "check", "--prefix", "fleetx", "-o", "json",
                   check=False)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    results = json.loads(_json_part(check.stdout))
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    refused = [r for r in results if r["what"].startswith("refused lab fleetx-02")]
    assert refused, "the check tries lab 01's key on lab 02"
    assert {r["lab"] for r in results} == {"fleetx-01", "fleetx-02"}

    # The check fails when a key reaches too far: lab 01's line without its permitopen list.
    keys = gateway.folder / "labctl" / f"{ACCOUNT}.keys"
    good = keys.read_text()
    loose = "\n".join(
        "restrict,port-forwarding " + line.split(" ", 1)[1] if "fleetx-01" in line else line
        for line in good.splitlines()
    )
    keys.write_text(loose + "\n")
    try:
        leak = labctl(tmp_path, "fleet", "access", "check", "--prefix", "fleetx", "-o", "json",
                      check=False)  # fmt: skip
    finally:
        keys.write_text(good)
    assert leak.returncode == 6, leak.stdout + leak.stderr
    failed = {r["what"] for r in json.loads(_json_part(leak.stdout)) if not r["ok"]}
    assert any(w.startswith("refused lab fleetx-02") for w in failed), failed


def _json_part(stdout: str) -> str:
    return stdout[stdout.index("[") : stdout.rindex("]") + 1]


def _fake_api_readyz(port: int) -> object:
    """The K3s test double's API (a JSON line per request), through the laptop's forward."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b'{"op": "readyz"}\n')
                return json.loads(sock.makefile().readline())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _nothing_left(fleet_dir: Path, gateway: GatewaySshd) -> None:
    import pwd

    assert not list((gateway.folder / "sshd_config.d").iterdir())
    assert not (gateway.folder / "labctl").exists()
    try:
        pwd.getpwnam(ACCOUNT)
        raise AssertionError(f"account {ACCOUNT} is still there")
    except KeyError:
        pass
    settings = gateway.settings(ACCOUNT)
    assert settings["allowtcpforwarding"] == "yes", "the Match block is gone"
    assert not list(fleet_dir.glob(".labctl/*/access.json"))
    assert not list(fleet_dir.glob(".labctl/*/secrets/attendee-ed25519*")), "keys die with labs"
