"""The probe pods' commands, run for real where a real tool is here.

- The dns probe's script runs under Debian's busybox (the same nslookup code as the probe image's
  busybox 1.36: search domains since 1.30) in a private network and mount namespace, against
  tests/fakes/coredns-fake on 127.0.0.1:53, which knows the nodes only bare, as K3s's CoreDNS
  NodeHosts does, with a pod's resolv.conf (cluster search domains, ndots:5).
- Probe pods are created, waited for, read and deleted through tests/fakes/kubectl-probe-fake,
  whose `run -i` loses what the container printed before the attach, as real kubectl does.
Nothing here shows that a lab works; it shows the commands survive what real busybox and kubectl do.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.checks.demo import PROBE_IMAGE
from labctl.checks.model import Context, Credentials, Records, Status, StepRecord
from labctl.checks.probe import probe_pod
from labctl.checks.workloads import DNS_STEPS, KUBERNETES_SERVICE, dns_script, judge_dns
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import CommandResult

if TYPE_CHECKING:
    from labctl.plan import Plan

FAKES = Path(__file__).parent.parent / "fakes"
BUSYBOX = shutil.which("busybox")
# What K3s writes into a pod's /etc/resolv.conf (the nameserver is the stub here).
POD_RESOLV_CONF = (
    "search default.svc.cluster.local svc.cluster.local cluster.local\n"
    "nameserver 127.0.0.1\n"
    "options ndots:5\n"
)


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-m", "-n", "true"], check=False, capture_output=True)
    return probe.returncode == 0


needs_busybox_and_namespaces = pytest.mark.skipif(
    BUSYBOX is None or not _namespaces_work(),
    reason="needs Debian's busybox package and root for a private network/mount namespace",
)


def plan_of(text: str) -> Plan:
    return plan_lab(parse_lab(text).lab)


def _bin(tmp_path: Path) -> Path:
    """A PATH directory: busybox applets the pod has, `sudo` and `k3s` (the kubectl fake), and
    a `sleep` that returns at once (the poll's bound is wall-clock time, so it still holds)."""
    bindir = tmp_path / "bin"
    if bindir.exists():
        return bindir
    bindir.mkdir()
    if BUSYBOX:
        for applet in ("nslookup", "awk"):
            (bindir / applet).symlink_to(BUSYBOX)
    shims = {"sudo": 'exec "$@"', "sleep": "exit 0"}
    for name, body in shims.items():
        (bindir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bindir / name).chmod(0o755)
    (bindir / "k3s").symlink_to(FAKES / "kubectl-probe-fake")
    return bindir


def in_a_pod_network(
    tmp_path: Path, command: str, names: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run `command` where 127.0.0.1:53 is the CoreDNS fake and /etc/resolv.conf is a pod's."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(POD_RESOLV_CONF)
    served = " ".join(shlex.quote(f"{k}={v}") for k, v in names.items())
    driver = (
        "ip link set lo up && "
        f"mount --bind {resolv} /etc/resolv.conf && "
        f"{FAKES / 'coredns-fake'} 53 {served} >{tmp_path}/ready 2>{tmp_path}/queries & "
        f"for i in $(seq 50); do grep -q ready {tmp_path}/ready 2>/dev/null && break; "
        "/bin/sleep 0.1; done; "
        f"PATH={_bin(tmp_path)}:/usr/bin:/bin sh -c {shlex.quote(command)}; rc=$?; "
        "kill %1; exit $rc"
    )
    return subprocess.run(
        ["unshare", "-m", "-n", "sh", "-c", driver],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECTL_FAKE_STATE": str(tmp_path)},
    )


def _lab_names(plan: Plan) -> dict[str, str]:
    served = {m.name: m.ip for m in plan.servers + plan.agents}
    return {KUBERNETES_SERVICE: "10.43.0.1", **served}


def _lookup_record(stdout: str, exit_status: int = 0) -> Records:
    result = CommandResult(exit_status, stdout, "", 0.1)
    return {"lookup": StepRecord("lookup", "demo-server-1", "dns probe", result, 1, 0.0, 0.1)}


# ---------------------------------------------------------------- dns (real busybox)


@needs_busybox_and_namespaces
def test_busybox_never_asks_for_a_dotless_name_bare(tmp_path: Path) -> None:
    """The fact the dns check is built on: each search domain is tried, the bare name never."""
    done = in_a_pod_network(
        tmp_path, "nslookup -type=a demo-server-1", {"demo-server-1": "1.2.3.4"}
    )
    asked = (tmp_path / "queries").read_text().split("\n")
    assert done.returncode != 0
    assert "query demo-server-1.default.svc.cluster.local 1" in asked
    assert "query demo-server-1 1" not in asked


@needs_busybox_and_namespaces
def test_dns_script_resolves_bare_node_names_under_real_busybox(tmp_path: Path) -> None:
    plan = plan_of("name: demo\n")
    done = in_a_pod_network(
        tmp_path, f"busybox sh -c {shlex.quote(dns_script(plan))}", _lab_names(plan)
    )
    assert done.returncode == 0, done.stderr
    verdict = judge_dns(_lookup_record(done.stdout), plan)
    assert verdict.status is Status.PASSED, verdict.message
    assert verdict.message == "a pod resolves kubernetes.default (10.43.0.1) and 3 node names"


@needs_busybox_and_namespaces
def test_dns_check_end_to_end_through_the_probe_pod(tmp_path: Path) -> None:
    """The dns step's whole command: probe pod through the kubectl fake, busybox inside."""
    plan = plan_of("name: demo\nagents: {count: 1}\n")
    ctx = Context(plan, {}, Credentials())
    command = DNS_STEPS[0].command(ctx)
    done = in_a_pod_network(tmp_path, command, _lab_names(plan))
    assert done.returncode == 0, done.stderr
    assert judge_dns(_lookup_record(done.stdout), plan).status is Status.PASSED
    assert json.loads((tmp_path / "pods.json").read_text()) == {}  # the probe pod is gone


@needs_busybox_and_namespaces
def test_dns_judge_fails_a_node_coredns_does_not_know(tmp_path: Path) -> None:
    plan = plan_of("name: demo\n")
    names = _lab_names(plan)
    del names["demo-agent-2"]
    done = in_a_pod_network(tmp_path, f"busybox sh -c {shlex.quote(dns_script(plan))}", names)
    verdict = judge_dns(_lookup_record(done.stdout), plan)
    assert verdict.message == "a pod's DNS: demo-agent-2 does not resolve"


# ---------------------------------------------------------------- probe pods (kubectl fake)


def run_probe(tmp_path: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": f"{_bin(tmp_path)}:/usr/bin:/bin",
            "KUBECTL_FAKE_STATE": str(tmp_path),
            **env,
        },
    )


def test_probe_reads_the_log_of_a_pod_that_printed_before_any_attach(tmp_path: Path) -> None:
    done = run_probe(tmp_path, probe_pod("t", "echo '{\"ok\": true}'"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"ok": true}\n'
    assert json.loads((tmp_path / "pods.json").read_text()) == {}


def test_the_fake_loses_output_printed_before_an_attach(tmp_path: Path) -> None:
    """The double is no kinder than kubectl: `run --rm -i` of a fast probe prints nothing."""
    done = run_probe(
        tmp_path,
        "k3s kubectl run p --image=x --restart=Never --rm -i --quiet --command -- echo hi",
    )
    assert (done.returncode, done.stdout) == (0, "")


def test_probe_pinned_to_a_node_and_on_the_bundled_image(tmp_path: Path) -> None:
    command = probe_pod("t", "true", node="demo-agent-1")
    assert "--rm" not in shlex.split(command)
    assert f"--image={PROBE_IMAGE}" in shlex.split(command)
    assert PROBE_IMAGE == "rancher/mirrored-library-busybox:1.36.1"
    assert '"nodeName": "demo-agent-1"' in command


def test_probe_that_cannot_start_fails_in_bound_with_the_reason(tmp_path: Path) -> None:
    done = run_probe(
        tmp_path, probe_pod("t", "true", within=1), KUBECTL_FAKE_UNPULLABLE=PROBE_IMAGE
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "probe pod labctl-probe-t did not finish within 1 s: Pending ErrImagePull"
    )
    assert json.loads((tmp_path / "pods.json").read_text()) == {}


def test_probe_whose_script_fails_says_so_and_keeps_its_output(tmp_path: Path) -> None:
    done = run_probe(tmp_path, probe_pod("t", "echo partial; exit 3"))
    assert done.returncode == 1
    assert done.stdout == "partial\n"
    assert done.stderr.strip() == "probe pod labctl-probe-t ended Failed"


def test_probe_replaces_a_leftover_pod_of_an_interrupted_run(tmp_path: Path) -> None:
    first = run_probe(
        tmp_path, "k3s kubectl run labctl-probe-t --image=x --restart=Never --command -- true"
    )
    assert first.returncode == 0
    done = run_probe(tmp_path, probe_pod("t", "echo fresh"))
    assert (done.returncode, done.stdout) == (0, "fresh\n")
