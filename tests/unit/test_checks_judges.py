"""Every judge on recorded outputs of a healthy and a broken lab, asserting what the user reads.

The fixtures under fixtures/checks/ are written in the shapes the Kubernetes API, etcd's JSON
gateway, Argo CD, GitLab and traefik/whoami print; they prove judging, not that a lab works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.checks import addons, cluster, workloads
from labctl.checks.model import Records, Status, StepRecord
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import CommandResult

if TYPE_CHECKING:
    from labctl.plan import Plan

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
DEFAULT = "name: demo\n"
HA = "name: ha\nservers: {count: 3}\nagents: {count: 2, memory: 1GiB}\n"
FULL = "name: full\naddons:\n  argocd: {enabled: true}\n  gitlab: {enabled: true, memory: 6GiB}\n"
WALL = 1764234000.0


def plan_of(text: str) -> Plan:
    return plan_lab(parse_lab(text).lab)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def rec(
    step: str,
    stdout: str = "",
    *,
    exit_status: int = 0,
    stderr: str = "",
    machine: str = "demo-server-1",
    started: float = WALL,
    finished: float | None = None,
) -> StepRecord:
    return StepRecord(
        step,
        machine,
        f"command of {step}",
        CommandResult(exit_status, stdout, stderr, 0.05),
        1,
        started,
        started + 0.05 if finished is None else finished,
    )


def records(*items: StepRecord, keyed: bool = False) -> Records:
    return {(f"{r.step}@{r.machine}" if keyed else r.step): r for r in items}


# ---------------------------------------------------------------- nodes-ready / node-ips


def test_nodes_ready_passes_when_every_planned_node_is_ready() -> None:
    verdict = cluster.judge_nodes_ready(
        records(rec("nodes", fixture("nodes-healthy.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.PASSED
    assert verdict.message == "3/3 nodes Ready (1 server, 2 agents)"


def test_nodes_ready_names_the_notready_node_and_why() -> None:
    verdict = cluster.judge_nodes_ready(
        records(rec("nodes", fixture("nodes-broken.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "2/3 nodes Ready; demo-agent-2 is NotReady (Kubelet stopped posting node status.)"
    )


def test_nodes_ready_counts_missing_and_unplanned_nodes() -> None:
    nodes = json.loads(fixture("nodes-healthy.json"))
    nodes["items"][2]["metadata"]["name"] = "stray"
    verdict = cluster.judge_nodes_ready(records(rec("nodes", json.dumps(nodes))), plan_of(DEFAULT))
    assert verdict.message == (
        "2/3 nodes Ready; not registered: demo-agent-2; not in the plan: stray"
    )


def test_nodes_ready_reports_a_failing_kubectl_with_its_stderr() -> None:
    failing = rec(
        "nodes",
        exit_status=1,
        stderr="The connection to the server 127.0.0.1:6443 was refused - did you specify "
        "the right host or port?\n",
    )
    verdict = cluster.judge_nodes_ready(records(failing), plan_of(DEFAULT))
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith("demo-server-1: `command of nodes` exited 1: ")
    assert "6443 was refused" in verdict.message


def test_node_ips_pass_on_planned_addresses() -> None:
    verdict = cluster.judge_node_ips(
        records(rec("nodes", fixture("nodes-healthy.json"))), plan_of(DEFAULT)
    )
    assert verdict == cluster.Verdict(
        Status.PASSED, "every node advertises its address on 192.168.56.0/24"
    )


def test_node_ips_call_out_the_nat_address() -> None:
    verdict = cluster.judge_node_ips(
        records(rec("nodes", fixture("nodes-broken.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "demo-agent-1 advertises 10.0.2.15, the NAT interface, instead of 192.168.56.11 "
        "(K3s needs --node-ip and --flannel-iface on the lab network)"
    )


def test_node_ips_on_ha_lab() -> None:
    verdict = cluster.judge_node_ips(
        records(rec("nodes", fixture("nodes-ha-healthy.json"))), plan_of(HA)
    )
    assert verdict.status is Status.PASSED


# ---------------------------------------------------------------- system-pods


def test_system_pods_healthy_counts_completed_jobs() -> None:
    verdict = cluster.judge_system_pods(
        records(rec("pods", fixture("system-pods-healthy.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.PASSED
    assert verdict.message == (
        "5 pods Running (coredns, traefik, metrics-server, local-storage), 2 completed jobs"
    )


def test_system_pods_names_crashloop_and_missing_traefik() -> None:
    verdict = cluster.judge_system_pods(
        records(rec("pods", fixture("system-pods-broken.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "coredns-697968c856-x7tq2: CrashLoopBackOff, restarted 7 times; no traefik pod"
    )


def test_system_pods_does_not_expect_a_disabled_component() -> None:
    plan = plan_of(DEFAULT + "k3s: {disable: [traefik]}\n")
    pods = json.loads(fixture("system-pods-healthy.json"))
    pods["items"] = [p for p in pods["items"] if not p["metadata"]["name"].startswith("traefik")]
    verdict = cluster.judge_system_pods(records(rec("pods", json.dumps(pods))), plan)
    assert verdict.status is Status.PASSED
    assert "traefik" not in verdict.message.split("(")[1].split(")")[0]


# ---------------------------------------------------------------- datastore


def test_datastore_sqlite_on_one_server() -> None:
    verdict = cluster.judge_datastore(
        records(rec("db-files", fixture("db-files-sqlite.json"))), plan_of(DEFAULT)
    )
    assert verdict == cluster.Verdict(
        Status.PASSED, "kine/SQLite (/var/lib/rancher/k3s/server/db/state.db) on demo-server-1"
    )


def test_datastore_etcd_on_one_server_fails() -> None:
    verdict = cluster.judge_datastore(
        records(rec("db-files", fixture("db-files-etcd.json"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "demo-server-1 runs embedded etcd, but a one-server lab should use kine/SQLite"
    )


def test_datastore_etcd_members_equal_servers() -> None:
    verdict = cluster.judge_datastore(
        records(
            rec("db-files", fixture("db-files-etcd.json"), machine="ha-server-1"),
            rec("etcd-members", fixture("etcd-members-healthy.json"), machine="ha-server-1"),
        ),
        plan_of(HA),
    )
    assert verdict == cluster.Verdict(Status.PASSED, "embedded etcd: 3 members = 3 servers")


def test_datastore_etcd_missing_member_wrong_peer_and_learner() -> None:
    verdict = cluster.judge_datastore(
        records(
            rec("db-files", fixture("db-files-etcd.json")),
            rec("etcd-members", fixture("etcd-members-broken.json")),
        ),
        plan_of(HA),
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "etcd has 2 members for 3 servers: ha-server-2 (192.168.56.11) is not a member; "
        "ha-server-3 (192.168.56.12) is not a member; "
        "ha-server-2-a71c3b90 is not a server of the plan (https://10.0.2.15:2380); "
        "ha-server-2-a71c3b90 is still a learner"
    )


def test_datastore_ha_without_etcd_dir() -> None:
    verdict = cluster.judge_datastore(
        records(rec("db-files", fixture("db-files-sqlite.json"))), plan_of(HA)
    )
    assert (
        verdict.message == "no embedded etcd (/var/lib/rancher/k3s/server/db/etcd) on ha-server-1"
    )


# ---------------------------------------------------------------- clock


def _clock_records(plan: Plan, times: dict[str, str]) -> Records:
    return records(
        *(
            rec("time", times.get(m.name, f"{WALL + 0.4:.2f}\n"), machine=m.name)
            for m in plan.machines
        ),
        keyed=True,
    )


def test_clock_within_tolerance() -> None:
    plan = plan_of(DEFAULT)
    verdict = cluster.judge_clock(_clock_records(plan, {}), plan)
    assert verdict.status is Status.PASSED
    assert verdict.message == "3 clocks within 5 s of the host (largest skew 0.4 s, demo-server-1)"


def test_clock_names_the_machine_behind() -> None:
    plan = plan_of(DEFAULT)
    verdict = cluster.judge_clock(_clock_records(plan, {"demo-agent-2": "1764233958.10\n"}), plan)
    assert verdict.status is Status.FAILED
    assert verdict.message == "demo-agent-2 is 41.9 s behind the host (is time sync running?)"


def test_clock_with_garbage_output_fails_clearly() -> None:
    plan = plan_of(DEFAULT)
    verdict = cluster.judge_clock(
        _clock_records(plan, {"demo-agent-1": "date: invalid option\n"}), plan
    )
    assert verdict == cluster.Verdict(
        Status.FAILED, "demo-agent-1: `date +%s.%N` printed 'date: invalid option'"
    )


# ---------------------------------------------------------------- dns


def test_dns_healthy() -> None:
    verdict = workloads.judge_dns(
        records(rec("lookup", fixture("dns-healthy.txt"))), plan_of(DEFAULT)
    )
    assert verdict == workloads.Verdict(
        Status.PASSED, "a pod resolves kubernetes.default (10.43.0.1) and 3 node names"
    )


def test_dns_broken() -> None:
    verdict = workloads.judge_dns(
        records(rec("lookup", fixture("dns-broken.txt"))), plan_of(DEFAULT)
    )
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "a pod's DNS: kubernetes.default.svc.cluster.local does not resolve (is CoreDNS "
        "running?); demo-agent-1 resolves to 10.0.2.15, planned 192.168.56.11; "
        "demo-agent-2 does not resolve"
    )


# ---------------------------------------------------------------- pod-network


def test_pod_network_picks_a_pod_and_another_node() -> None:
    pods = json.loads(fixture("demo-pods-healthy.json"))["items"]
    pod, node = workloads.crossing(pods, plan_of(DEFAULT))
    assert (pod["metadata"]["name"], pod["spec"]["nodeName"], node) == (
        "demo-7c9d8b6f5d-4xkqp",
        "demo-agent-1",
        "demo-agent-2",
    )


def test_pod_network_reached_and_unreached() -> None:
    plan = plan_of(DEFAULT)
    ok = workloads.judge_pod_network(
        records(rec("reach", fixture("pod-network-reached.txt"))), plan
    )
    assert ok.message == (
        "a pod on demo-agent-2 -> demo-7c9d8b6f5d-4xkqp (10.42.1.7:80) on demo-agent-1: reached"
    )
    bad = workloads.judge_pod_network(
        records(rec("reach", fixture("pod-network-unreached.txt"))), plan
    )
    assert bad.status is Status.FAILED
    assert bad.message.endswith("no answer within 5 s (flannel between the nodes? vxlan 8472/udp)")


def test_pod_network_on_a_one_node_lab_is_skipped() -> None:
    plan = plan_of("name: demo\nagents: {count: 0}\n")
    pods = json.loads(fixture("demo-pods-healthy.json"))["items"]
    for pod in pods:
        pod["spec"]["nodeName"] = "demo-server-1"
    with pytest.raises(workloads.CheckCannotRunError) as caught:
        workloads.crossing(pods, plan)
    assert caught.value.status is Status.SKIPPED


# ---------------------------------------------------------------- deployment


def test_deployment_healthy_and_two_of_three() -> None:
    plan = plan_of(DEFAULT)
    ok = workloads.judge_deployment(
        records(rec("deployment", fixture("deployment-healthy.json"))), plan
    )
    assert ok == workloads.Verdict(Status.PASSED, "demo/demo: 3/3 replicas available")
    bad = workloads.judge_deployment(
        records(rec("deployment", fixture("deployment-broken.json"))), plan
    )
    assert bad == workloads.Verdict(
        Status.FAILED,
        "demo/demo: 2/3 replicas available (Deployment does not have minimum availability.)",
    )


def test_deployment_not_found() -> None:
    verdict = workloads.judge_deployment(
        records(
            rec(
                "deployment",
                exit_status=1,
                stderr='Error from server (NotFound): deployments.apps "demo" not found\n',
            )
        ),
        plan_of(DEFAULT),
    )
    assert verdict.status is Status.FAILED
    assert verdict.message.endswith(
        'exited 1: Error from server (NotFound): deployments.apps "demo" not found'
    )


# ---------------------------------------------------------------- replicaset-self-heal


def _heal_records(after: str, finished: float) -> Records:
    return records(
        rec("before", fixture("demo-pods-healthy.json")),
        rec("delete", 'pod "demo-7c9d8b6f5d-4xkqp" deleted\n', started=WALL + 1),
        rec("after", fixture(after), started=WALL + 1.2, finished=finished),
    )


def test_self_heal_names_the_replacement_and_time() -> None:
    verdict = workloads.judge_self_heal(
        _heal_records("demo-pods-healed.json", WALL + 8.4), plan_of(DEFAULT)
    )
    assert verdict == workloads.Verdict(
        Status.PASSED,
        "deleted demo-7c9d8b6f5d-4xkqp; demo-7c9d8b6f5d replaced it with "
        "demo-7c9d8b6f5d-h2j5v in 7 s",
    )


def test_self_heal_fails_when_the_bound_passes() -> None:
    verdict = workloads.judge_self_heal(
        _heal_records("demo-pods-after-delete.json", WALL + 121.0), plan_of(DEFAULT)
    )
    assert verdict == workloads.Verdict(
        Status.FAILED,
        "deleted demo-7c9d8b6f5d-4xkqp; after 120 s only 2/3 pods ready "
        "(demo-7c9d8b6f5d-h2j5v: ContainerCreating)",
    )


def test_self_heal_ignores_the_terminating_pod() -> None:
    before = json.loads(fixture("demo-pods-healthy.json"))["items"]
    after = json.loads(fixture("demo-pods-after-delete.json"))["items"]
    assert not workloads._healed(after, before)


# ---------------------------------------------------------------- service-balancing


def test_balancing_reaches_three_pods() -> None:
    plan = plan_of(DEFAULT)
    verdict = workloads.judge_balancing(
        records(
            rec("service", fixture("service-demo.json")),
            rec("requests", fixture("balancing-healthy.txt")),
        ),
        plan,
    )
    assert verdict == workloads.Verdict(
        Status.PASSED,
        "12 requests to 10.43.118.37:80 reached 3 pods: demo-7c9d8b6f5d-4xkqp, "
        "demo-7c9d8b6f5d-9wz2m, demo-7c9d8b6f5d-r8t6n",
    )


def test_balancing_one_pod_and_failed_requests() -> None:
    plan = plan_of(DEFAULT)
    one_pod = fixture("balancing-one-pod.txt").split("\n\n")
    verdict = workloads.judge_balancing(
        records(
            rec("service", fixture("service-demo.json")),
            rec("requests", "\n\n".join(one_pod[:9]), exit_status=28),
        ),
        plan,
    )
    assert verdict == workloads.Verdict(
        Status.FAILED,
        "every answer from 10.43.118.37:80 came from demo-7c9d8b6f5d-9wz2m (3 of 12 requests "
        "failed); expected several",
    )


# ---------------------------------------------------------------- ingress


def test_ingress_200_from_a_demo_pod_and_404() -> None:
    plan = plan_of(DEFAULT)
    ok = workloads.judge_ingress(records(rec("request", fixture("ingress-healthy.txt"))), plan)
    assert ok == workloads.Verdict(
        Status.PASSED,
        "http://demo.demo.lab/api via 192.168.56.10: HTTP 200 from demo-7c9d8b6f5d-r8t6n",
    )
    bad = workloads.judge_ingress(records(rec("request", fixture("ingress-404.txt"))), plan)
    assert bad == workloads.Verdict(
        Status.FAILED,
        "http://demo.demo.lab/api via 192.168.56.10: HTTP 404 (no Ingress routes this host)",
    )


def test_ingress_skipped_without_traefik() -> None:
    assert workloads.ingress_skip(plan_of(DEFAULT + "k3s: {disable: [traefik]}\n")) == (
        "traefik is disabled in lab.yaml"
    )
    assert workloads.ingress_skip(plan_of(DEFAULT)) is None


# ---------------------------------------------------------------- argocd / gitlab / gitops


def test_argocd_login_ok_and_refused() -> None:
    plan = plan_of(FULL)
    version = rec("version", fixture("argocd-version.json"), machine="full-server-1")
    ok = addons.judge_argocd(records(version, rec("login", '{"http_code": 200}')), plan)
    assert ok == addons.Verdict(
        Status.PASSED, "Argo CD at http://argocd.full.lab (v2.14.11+8283115): admin login works"
    )
    bad = addons.judge_argocd(records(version, rec("login", '{"http_code": 401}')), plan)
    assert bad == addons.Verdict(
        Status.FAILED,
        "Argo CD at http://argocd.full.lab: admin login returned HTTP 401 "
        "(the saved password is wrong)",
    )


def test_argocd_behind_a_404() -> None:
    verdict = addons.judge_argocd(
        records(rec("version", "404 page not found\n"), rec("login", '{"http_code": 404}')),
        plan_of(FULL),
    )
    assert verdict == addons.Verdict(
        Status.FAILED,
        "demo-server-1: `command of version` did not print JSON (Extra data at line 1): "
        "'404 page not found'",
    )


def test_gitlab_ready_and_signin() -> None:
    plan = plan_of(FULL)
    ok = addons.judge_gitlab(
        records(
            rec("readiness", fixture("gitlab-readiness-ok.json")),
            rec("signin", '{"http_code": 200}'),
        ),
        plan,
    )
    assert ok == addons.Verdict(Status.PASSED, "GitLab on full-gitlab is ready; root signs in")
    bad = addons.judge_gitlab(
        records(
            rec("readiness", fixture("gitlab-readiness-failed.json")),
            rec("signin", '{"http_code": 200}'),
        ),
        plan,
    )
    assert bad == addons.Verdict(
        Status.FAILED, "GitLab on full-gitlab is not ready: master_check not ok"
    )
    refused = addons.judge_gitlab(
        records(
            rec("readiness", fixture("gitlab-readiness-ok.json")),
            rec("signin", '{"http_code": 400}'),
        ),
        plan,
    )
    assert refused.message == (
        "GitLab on full-gitlab: root sign-in returned HTTP 400 (the saved password is wrong)"
    )


def _gitops_records(app: str, applied: str, restored: str) -> Records:
    return records(
        rec("application", fixture(app)),
        rec("deployment", fixture("deployment-healthy.json")),
        rec("change", '{"from": 3, "to": 4}\n', machine="full-gitlab", started=WALL),
        rec("refresh", "application.argoproj.io/demo annotated\n"),
        rec("applied", fixture(applied), started=WALL + 1, finished=WALL + 23),
        rec("revert", '{"from": 4, "to": 3}\n', machine="full-gitlab", started=WALL + 30),
        rec("refresh-back", "application.argoproj.io/demo annotated\n"),
        rec("restored", fixture(restored), started=WALL + 31, finished=WALL + 50),
    )


def test_gitops_commit_applied_and_reverted() -> None:
    verdict = addons.judge_gitops(
        _gitops_records(
            "argocd-application-healthy.json",
            "deployment-scaled-4.json",
            "deployment-healthy.json",
        ),
        plan_of(FULL),
    )
    assert verdict == addons.Verdict(
        Status.PASSED,
        "Application argocd/demo Synced and Healthy; a commit to root/demo set replicas 3 -> 4 "
        "in 23 s, and back",
    )


def test_gitops_out_of_sync() -> None:
    verdict = addons.judge_gitops(
        _gitops_records(
            "argocd-application-broken.json",
            "deployment-scaled-4.json",
            "deployment-healthy.json",
        ),
        plan_of(FULL),
    )
    assert verdict == addons.Verdict(
        Status.FAILED, "Application argocd/demo is OutOfSync and Degraded, not Synced and Healthy"
    )


def test_gitops_commit_not_applied_in_time() -> None:
    verdict = addons.judge_gitops(
        _gitops_records(
            "argocd-application-healthy.json",
            "deployment-healthy.json",
            "deployment-healthy.json",
        ),
        plan_of(FULL),
    )
    assert verdict == addons.Verdict(
        Status.FAILED,
        "a commit setting replicas to 4 was not applied within 240 s (deployment wants 3, "
        "3 available)",
    )
