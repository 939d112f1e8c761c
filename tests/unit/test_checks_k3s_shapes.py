"""Checks against what a real K3s does where hand-written fixtures let the old commands pass.

- HA datastore: K3s (since PR 8402) serves etcd's JSON gateway on https://127.0.0.1:2382 only,
  with the etcd client certificate it writes under tls/etcd/; 2379 speaks gRPC alone.
- ingress and argocd with `k3s.disable: [servicelb]`: nothing listens on a node's port 80, so
  the recordings answer the node address with curl's connection refusal, as the node would,
  and only Traefik's cluster IP (the Service shape K3s's traefik chart creates) with the page.
These are recorded outputs, not a cluster: they prove the commands and judges, not K3s.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from labctl.checks.cluster import DATASTORE_STEPS
from labctl.checks.model import Context, Credentials, Status
from labctl.checks.replay import RecordedOutputReplay, Recording, result
from tests.unit.test_checks_runner import SECRETS, FakeClocks, plan_of, run

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
NO_SERVICELB = "name: demo\nk3s: {disable: [servicelb]}\n"
NO_SERVICELB_ARGOCD = (
    "name: full\nk3s: {disable: [servicelb]}\naddons:\n  argocd: {enabled: true}\n"
)
REFUSED = result(
    "",
    exit_status=7,
    stderr="curl: (7) Failed to connect to 192.168.56.10 port 80 after 0 ms: "
    "Couldn't connect to server\n",
)


def test_etcd_member_list_uses_k3s_http_gateway_and_client_certificate() -> None:
    plan = plan_of("name: ha\nservers: {count: 3}\n")
    (step,) = [s for s in DATASTORE_STEPS if s.name == "etcd-members"]
    words = shlex.split(step.command(Context(plan, {}, Credentials())))
    assert "https://127.0.0.1:2382/v3/cluster/member/list" in words
    tls = "/var/lib/rancher/k3s/server/tls/etcd"
    assert words[words.index("--cert") + 1] == f"{tls}/client.crt"
    assert words[words.index("--key") + 1] == f"{tls}/client.key"
    assert words[words.index("--cacert") + 1] == f"{tls}/server-ca.crt"


def _no_servicelb_replay(*extra: Recording) -> RecordedOutputReplay:
    return RecordedOutputReplay(
        [
            *extra,
            Recording(
                "demo-server-1",
                "get service traefik -n kube-system -o json",
                (result((FIXTURES / "traefik-service.json").read_text()),),
            ),
            Recording(
                "demo-server-1",
                "http://10.43.81.201/api",
                (result((FIXTURES / "ingress-healthy.txt").read_text()),),
            ),
            Recording("*", "http://192.168.56.10", (REFUSED,)),
        ]
    )


def test_ingress_without_servicelb_reaches_traefik_at_its_cluster_ip() -> None:
    (got,) = run(plan_of(NO_SERVICELB), _no_servicelb_replay(), FakeClocks(), only=["ingress"])
    assert (got.status, got.message) == (
        Status.PASSED,
        "http://demo.demo.lab/api via 10.43.81.201: HTTP 200 from demo-7c9d8b6f5d-r8t6n",
    )


def test_ingress_with_servicelb_still_asks_the_lab_address() -> None:
    replay = _no_servicelb_replay()
    (got,) = run(plan_of("name: demo\n"), replay, FakeClocks(), only=["ingress"])
    assert got.status is Status.FAILED
    assert "192.168.56.10" in got.message
    assert not any("get service traefik" in c.command for c in replay.calls)


def test_argocd_without_servicelb_goes_through_traefiks_cluster_ip() -> None:
    plan = plan_of(NO_SERVICELB_ARGOCD)
    replay = RecordedOutputReplay(
        [
            Recording(
                "full-server-1",
                "get service traefik -n kube-system -o json",
                (result((FIXTURES / "traefik-service.json").read_text()),),
            ),
            Recording("*", "http://10.43.81.201/api/version", (result('{"Version": "v2.14.11"}'),)),
            Recording("*", "http://10.43.81.201/api/v1/session", (result('{"http_code": 200}'),)),
            Recording("*", "http://192.168.56.10", (REFUSED,)),
        ]
    )
    (got,) = run(plan, replay, FakeClocks(), only=["argocd"], credentials=SECRETS)
    assert (got.status, got.message) == (
        Status.PASSED,
        "Argo CD at http://argocd.full.lab (v2.14.11): admin login works",
    )


def test_traefik_service_without_cluster_ip_is_reported() -> None:
    headless = Recording(
        "demo-server-1",
        "get service traefik",
        (result('{"spec": {"clusterIP": "None", "ports": []}}'),),
    )
    (got,) = run(
        plan_of(NO_SERVICELB), _no_servicelb_replay(headless), FakeClocks(), only=["ingress"]
    )
    assert (got.status, got.message) == (
        Status.FAILED,
        "service kube-system/traefik has no cluster IP and web port",
    )
