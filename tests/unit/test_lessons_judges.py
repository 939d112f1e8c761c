"""Every lesson judge on recorded kubectl output: a done state and a not-yet state, asserting
the line the learner reads (English, and Korean where the wording is the point).

Fixtures: fixtures/lessons/ (built by its build.py from real `kubectl --dry-run=client -o json`
output plus API-shaped status) and the smoke checks' fixtures/checks/ for nodes, the datastore
probe, whoami answers and the Argo CD Application. They prove judging, not that a lab works.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.checks.model import StepRecord
from labctl.lessons.judges import Seen, run_judge
from labctl.lessons.kubectl import on_server, parse_kubectl
from labctl.lessons.registry import BY_NAME
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import CommandResult

if TYPE_CHECKING:
    from labctl.lessons.verdicts import Finding
    from labctl.plan import Plan

FIXTURES = Path(__file__).parent / "fixtures"
PLAN = plan_lab(parse_lab("name: demo\n").lab)

NODES = "kubectl get nodes -o json"
DEPLOY = "kubectl get deployment web -n lesson-deployments -o json"
POD = "kubectl get pod hello -n lesson-pods -o json"
NOT_FOUND_DEPLOY = 'Error from server (NotFound): deployments.apps "web" not found\n'


def fx(name: str) -> str:
    folder = "checks" if (FIXTURES / "checks" / name).exists() else "lessons"
    return (FIXTURES / folder / name).read_text()


def judge(
    name: str,
    command: str | None,
    stdout: str = "",
    /,
    *,
    exit_status: int = 0,
    stderr: str = "",
    answer: str | None = None,
    plan: Plan = PLAN,
    **params: object,
) -> Finding:
    spec = BY_NAME[name]
    record = StepRecord(
        "probe-0",
        "demo-server-1",
        on_server(command) if command else "shared",
        CommandResult(exit_status, stdout, stderr, 0.05),
        1,
        0.0,
        0.05,
    )
    seen = Seen(record, parse_kubectl(command) if command else None, plan, answer)
    return run_judge(spec, seen, spec.params.model_validate(params))


def test_every_registered_judge_is_exercised_here() -> None:
    called = set(re.findall(r'judge\(\s*"([a-z-]+)"', Path(__file__).read_text()))
    assert sorted(set(BY_NAME) - called) == []


# ---------------------------------------------------------------- nodes


def test_nodes_ready_done_and_not_yet() -> None:
    ok = judge("nodes-ready", NODES, fx("nodes-healthy.json"))
    assert ok.done
    assert ok.said.en == "3 of 3 nodes are Ready: demo-server-1, demo-agent-1, demo-agent-2"
    bad = judge("nodes-ready", NODES, fx("nodes-broken.json"))
    assert not bad.done
    assert bad.said.en == (
        "2 of 3 nodes are Ready; demo-agent-2 is NotReady; this step wants every node Ready"
    )
    assert "노드 3개 중 2개만 Ready입니다" in bad.said.ko


def test_node_notready_waits_for_the_stopped_agent() -> None:
    assert not judge("node-notready", NODES, fx("nodes-healthy.json")).done
    stopped = judge("node-notready", NODES, fx("nodes-broken.json"))
    assert stopped.done
    assert stopped.said.en.startswith("demo-agent-2 is NotReady (Kubelet stopped posting")


def test_control_plane_answer() -> None:
    nodes = fx("nodes-healthy.json")
    assert judge("control-plane-answer", NODES, nodes, answer="demo-server-1").done
    agent = judge("control-plane-answer", NODES, nodes, answer="demo-agent-1")
    assert not agent.done
    assert "it is an agent" in agent.said.en
    unknown = judge("control-plane-answer", NODES, nodes, answer="server-9")
    assert unknown.said.en.startswith("there is no node 'server-9'; the nodes are demo-server-1")
    missing = judge("control-plane-answer", NODES, nodes)
    assert missing.said.en == "this step wants your answer: `labctl lesson check --answer NODE`"
    assert missing.said.ko == "이 단계는 답을 입력해야 합니다: `labctl lesson check --answer NODE`"


def test_kubelet_version_and_runtime_answers() -> None:
    nodes = fx("nodes-healthy.json")
    assert judge("kubelet-version-answer", NODES, nodes, answer="v1.31.12+k3s1").done
    assert not judge("kubelet-version-answer", NODES, nodes, answer="v1.31.12").done
    runtime = judge("runtime-answer", NODES, nodes, answer="containerd")
    assert runtime.done
    assert "containerd://2.0.5-k3s2" in runtime.said.en
    assert not judge("runtime-answer", NODES, nodes, answer="docker").done


# ---------------------------------------------------------------- control plane, datastore


def test_datastore_answer_reads_the_smoke_checks_probe() -> None:
    sqlite, etcd = fx("db-files-sqlite.json"), fx("db-files-etcd.json")
    assert judge("datastore-answer", None, sqlite, answer="kine").done
    assert judge("datastore-answer", None, sqlite, answer="SQLite").done
    wrong = judge("datastore-answer", None, sqlite, answer="etcd")
    assert not wrong.done
    assert wrong.said.en.startswith("'etcd' is not what this lab uses")
    assert judge("datastore-answer", None, etcd, answer="etcd").done
    nothing = judge("datastore-answer", None, '{"sqlite": false, "etcd": false}', answer="etcd")
    assert not nothing.done
    assert "neither" in nothing.said.en


def test_readyz_answer() -> None:
    raw = "kubectl get --raw /readyz?verbose"
    text = fx("readyz-verbose.txt")
    done = judge("readyz-answer", raw, text, answer="etcd")
    assert done.done
    assert "kine answers it" in done.said.en
    assert judge("readyz-answer", raw, text, answer="etcd-readiness").done
    other = judge("readyz-answer", raw, text, answer="ping")
    assert not other.done
    assert other.said.en == "[+]ping is a check, but not the datastore's"
    failing = judge("readyz-answer", raw, fx("readyz-verbose-etcd-failed.txt"), answer="etcd")
    assert failing.said.en == "the API server is not ready: etcd failing"


def test_count_answer() -> None:
    command = "kubectl get namespaces -o json"
    assert judge("count-answer", command, fx("namespaces.json"), answer="5").done
    wrong = judge("count-answer", command, fx("namespaces.json"), answer="4")
    assert not wrong.done
    assert "count again" in wrong.said.en


# ---------------------------------------------------------------- pods


def test_pod_running_and_missing() -> None:
    ok = judge("pod-running", POD, fx("pod-hello-running.json"))
    assert ok.said.en == "Pod hello is Running on demo-agent-1 with IP 10.42.1.15"
    pulling = judge("pod-running", POD, fx("pod-hello-pulling.json"))
    assert pulling.said.en == "Pod hello is ContainerCreating; this step wants it Running"
    gone = judge(
        "pod-running",
        POD,
        exit_status=1,
        stderr='Error from server (NotFound): pods "hello" not found\n',
    )
    assert gone.said.en == "there is no Pod hello in namespace lesson-pods yet"
    assert gone.said.ko == "lesson-pods 네임스페이스에 hello 파드가 아직 없습니다"


def test_pod_node_answer_takes_full_and_short_names() -> None:
    pod = fx("pod-hello-running.json")
    assert judge("pod-node-answer", POD, pod, answer="demo-agent-1").done
    assert judge("pod-node-answer", POD, pod, answer="agent-1").done
    assert not judge("pod-node-answer", POD, pod, answer="agent-2").done


def test_exec_output() -> None:
    command = "kubectl exec hello -n lesson-pods -- cat /tmp/note.txt"
    assert judge("exec-output", command, "hello\n", contains="hello").done
    no_file = judge(
        "exec-output",
        command,
        exit_status=1,
        contains="hello",
        stderr="cat: can't open '/tmp/note.txt': No such file or directory\n"
        "command terminated with exit code 1\n",
    )
    assert no_file.said.en == "the file is not in Pod hello yet"
    no_pod = judge(
        "exec-output",
        command,
        exit_status=1,
        contains="hello",
        stderr='Error from server (NotFound): pods "hello" not found\n',
    )
    assert no_pod.said.en == "there is no Pod hello in namespace lesson-pods yet"


def test_pod_gone() -> None:
    command = "kubectl get pods -n lesson-pods -o json"
    assert judge("pod-gone", command, fx("pods-empty.json"), name="hello").done
    still = judge("pod-gone", command, fx("pods-with-hello.json"), name="hello")
    assert still.said.en == "Pod hello still exists; this step wants it deleted"
    ending = judge("pod-gone", command, fx("pods-hello-terminating.json"), name="hello")
    assert not ending.done
    assert "still terminating" in ending.said.en


# ---------------------------------------------------------------- deployments


def test_deployment_replicas_says_what_it_saw_and_wants() -> None:
    assert judge("deployment-replicas", DEPLOY, fx("deployment-3-ready.json"), replicas=3).done
    scaling = judge("deployment-replicas", DEPLOY, fx("deployment-scaling-3-of-5.json"), replicas=5)
    assert scaling.said.en == "Deployment web has 3 ready replicas; this step wants 5"
    assert scaling.said.ko == (
        "web 디플로이먼트의 준비된 레플리카는 3개입니다. 이 단계에서는 5개가 필요합니다"
    )
    asks = judge("deployment-replicas", DEPLOY, fx("deployment-3-ready.json"), replicas=5)
    assert asks.said.en == "Deployment web asks for 3 replicas; this step wants 5"
    starting = judge("deployment-replicas", DEPLOY, fx("deployment-0-ready.json"), replicas=3)
    assert starting.said.en == "Deployment web has 0 ready replicas; this step wants 3"
    missing = judge(
        "deployment-replicas", DEPLOY, exit_status=1, stderr=NOT_FOUND_DEPLOY, replicas=3
    )
    assert missing.said.en == "there is no Deployment web in namespace lesson-deployments yet"


def test_deployment_image_rollout_and_rollback() -> None:
    rolled = judge(
        "deployment-image",
        DEPLOY,
        fx("deployment-rolled-1.27.json"),
        image="nginx:1.27",
        min_revision=2,
    )
    assert rolled.said.en == "Deployment web runs nginx:1.27 on 5 pods (revision 2)"
    rolling = judge(
        "deployment-image",
        DEPLOY,
        fx("deployment-rolling-1.27.json"),
        image="nginx:1.27",
        min_revision=2,
    )
    assert rolling.said.en == "the rollout of web is not finished: 2 of 5 updated, 4 ready"
    old = judge("deployment-image", DEPLOY, fx("deployment-5-ready.json"), image="nginx:1.27")
    assert old.said.en == "Deployment web runs nginx:1.26; this step wants nginx:1.27"
    back = judge(
        "deployment-image",
        DEPLOY,
        fx("deployment-rolled-back.json"),
        image="nginx:1.26",
        min_revision=3,
    )
    assert back.done
    # Revision 1 runs nginx:1.26 too: only the rollback's revision 3 counts as rolled back.
    never = judge(
        "deployment-image",
        DEPLOY,
        fx("deployment-5-ready.json"),
        image="nginx:1.26",
        min_revision=3,
    )
    assert not never.done
    assert "revision 1" in never.said.en


def test_event_seen() -> None:
    command = "kubectl get events -n lesson-deployments -o json"
    killed = judge(
        "event-seen",
        command,
        fx("events-pod-killed.json"),
        reason="Killing",
        kind="Pod",
        name_prefix="web-",
    )
    assert killed.said.en == ("saw Killing for Pod web-6d4cf56db6-2xk9p: Stopping container nginx")
    scaled = judge(
        "event-seen",
        command,
        fx("events-scaled.json"),
        reason="Killing",
        kind="Pod",
        name_prefix="web-",
    )
    assert scaled.said.en == "no Killing event for a Pod web-* in lesson-deployments yet"


# ---------------------------------------------------------------- services


def test_service_type_and_node_port() -> None:
    svc = "kubectl get service web -n lesson-services -o json"
    assert judge("service-type", svc, fx("service-clusterip.json"), type="ClusterIP").done
    assert not judge("service-type", svc, fx("service-clusterip.json"), type="NodePort").done
    assert judge("nodeport-answer", svc, fx("service-nodeport.json"), answer="31234").done
    wrong = judge("nodeport-answer", svc, fx("service-nodeport.json"), answer="80")
    assert not wrong.done
    none = judge("nodeport-answer", svc, fx("service-clusterip.json"), answer="31234")
    assert none.said.en == "Service web has no node port; make it type NodePort"


def test_service_endpoints() -> None:
    eps = "kubectl get endpoints web -n lesson-services -o json"
    assert judge("service-endpoints", eps, fx("endpoints-3.json"), at_least=3).done
    empty = judge("service-endpoints", eps, fx("endpoints-none.json"), at_least=3)
    assert empty.said.en == (
        "Service web has 0 ready endpoints; this step wants at least 3 "
        "(does its selector match the pods' labels?)"
    )


def test_hostnames_seen_counts_distinct_pods() -> None:
    command = (
        "kubectl exec client -n lesson-services -- sh -c 'for i in 1 2; do wget -qO- "
        "http://web/api; done'"
    )
    ok = judge("hostnames-seen", command, fx("balancing-healthy.txt"), at_least=2)
    assert ok.done
    assert ok.said.en.startswith("12 answers came from 3 pods")
    one = judge("hostnames-seen", command, fx("balancing-one-pod.txt"), at_least=2)
    assert one.said.en == (
        "every answer came from demo-7c9d8b6f5d-9wz2m; this step wants at least 2 pods"
    )
    dns = judge(
        "hostnames-seen",
        command,
        exit_status=1,
        at_least=2,
        stderr="wget: bad address 'web'\ncommand terminated with exit code 1\n",
    )
    assert not dns.done
    assert "bad address 'web'" in dns.said.en


def test_http_hostname_through_traefik() -> None:
    command = (
        "kubectl exec client -n lesson-ingress -- wget -qO- --header 'Host: shop.lesson.lab'"
        " http://traefik.kube-system/blue"
    )
    assert judge("http-hostname", command, fx("whoami-blue.txt"), prefix="blue-").done
    wrong = judge("http-hostname", command, fx("whoami-blue.txt"), prefix="green-")
    assert wrong.said.en == (
        "the answer came from blue-5f7d9c8b6-k2m4p; this step wants a green-* pod"
    )
    missing = judge(
        "http-hostname",
        command,
        exit_status=1,
        prefix="blue-",
        stderr="wget: server returned error: HTTP/1.1 404 Not Found\n",
    )
    assert not missing.done
    assert "404 Not Found" in missing.said.en


def test_ingress_routes() -> None:
    command = "kubectl get ingress shop -n lesson-ingress -o json"
    paths = {"/blue": "blue", "/green": "green"}
    ok = judge(
        "ingress-routes", command, fx("ingress-shop.json"), host="shop.lesson.lab", paths=paths
    )
    assert ok.said.en == (
        "Ingress shop routes shop.lesson.lab/blue -> blue, shop.lesson.lab/green -> green"
    )
    half = judge(
        "ingress-routes",
        command,
        fx("ingress-shop-blue-only.json"),
        host="shop.lesson.lab",
        paths=paths,
    )
    assert half.said.en.startswith("Ingress shop routes /green -> nothing; this step wants")
    host = judge(
        "ingress-routes", command, fx("ingress-shop.json"), host="web.lesson.lab", paths=paths
    )
    assert "no rule for host web.lesson.lab" in host.said.en


def test_hpa_metrics_and_growth() -> None:
    command = "kubectl get hpa web -n lesson-services -o json"
    blind = judge("hpa-metrics", command, fx("hpa-no-metrics.json"), replicas=1)
    assert not blind.done
    assert "no CPU reading yet" in blind.said.en
    assert judge("hpa-metrics", command, fx("hpa-idle.json"), replicas=1).done
    idle = judge("hpa-grown", command, fx("hpa-idle.json"), above=1)
    assert idle.said.en == (
        "HPA web keeps 1 replica(s) at 4% CPU; this step wants more than 1 "
        "(is the load generator running?)"
    )
    grown = judge("hpa-grown", command, fx("hpa-grown.json"), above=1)
    assert grown.said.en == "HPA web grew the Deployment to 3 replicas at 168% CPU"


# ---------------------------------------------------------------- node failure, GitOps


def test_pods_on_ready_nodes() -> None:
    command = "kubectl get nodes,pods -n lesson-failure -o json"
    stuck = judge(
        "pods-on-ready-nodes", command, fx("nodes-pods-stuck.json"), prefix="web-", replicas=4
    )
    assert stuck.said.en.startswith("2 web-* pods are still bound to demo-agent-2 (NotReady)")
    moved = judge(
        "pods-on-ready-nodes", command, fx("nodes-pods-moved.json"), prefix="web-", replicas=4
    )
    assert moved.done
    assert moved.said.en == ("4 web-* pods run on Ready nodes only: demo-agent-1, demo-server-1")


def test_argocd_synced() -> None:
    command = "kubectl get applications.argoproj.io demo -n argocd -o json"
    assert judge("argocd-synced", command, fx("argocd-application-healthy.json")).done
    broken = judge("argocd-synced", command, fx("argocd-application-broken.json"))
    assert not broken.done
    assert "this step wants Synced and Healthy" in broken.said.en


@pytest.mark.parametrize("stdout", ["", "not json", "[]"])
def test_output_a_judge_cannot_read_is_not_done_with_a_reason(stdout: str) -> None:
    finding = judge("deployment-replicas", DEPLOY, stdout, replicas=3)
    assert not finding.done
    assert finding.said.en
    assert finding.said.ko
