"""The check catalogue with its machinery: each catalogue entry's steps and judge, in order."""

from __future__ import annotations

from labctl.catalogue import CATALOGUE, CHECK_NAMES
from labctl.checks import addons, cluster, workloads
from labctl.checks.model import Check, Judge, Step

_MACHINERY: dict[str, tuple[tuple[Step, ...], Judge]] = {
    "nodes-ready": (cluster.NODES_STEPS, cluster.judge_nodes_ready),
    "node-ips": (cluster.NODES_STEPS, cluster.judge_node_ips),
    "system-pods": (cluster.SYSTEM_PODS_STEPS, cluster.judge_system_pods),
    "datastore": (cluster.DATASTORE_STEPS, cluster.judge_datastore),
    "dns": (workloads.DNS_STEPS, workloads.judge_dns),
    "pod-network": (workloads.POD_NETWORK_STEPS, workloads.judge_pod_network),
    "deployment": (workloads.DEPLOYMENT_STEPS, workloads.judge_deployment),
    "replicaset-self-heal": (workloads.SELF_HEAL_STEPS, workloads.judge_self_heal),
    "service-balancing": (workloads.BALANCING_STEPS, workloads.judge_balancing),
    "ingress": (workloads.INGRESS_STEPS, workloads.judge_ingress),
    "argocd": (addons.ARGOCD_STEPS, addons.judge_argocd),
    "gitlab": (addons.GITLAB_STEPS, addons.judge_gitlab),
    "gitops": (addons.GITOPS_STEPS, addons.judge_gitops),
    "clock": (cluster.CLOCK_STEPS, cluster.judge_clock),
}
_SKIP_REASONS = {"ingress": workloads.ingress_skip}

CHECKS: tuple[Check, ...] = tuple(
    Check(info, *_MACHINERY[info.name], skip_reason=_SKIP_REASONS.get(info.name))
    for info in CATALOGUE
)
BY_NAME: dict[str, Check] = {check.name: check for check in CHECKS}

if tuple(BY_NAME) != CHECK_NAMES or len(_MACHINERY) != len(CHECK_NAMES):  # pragma: no cover
    raise RuntimeError("labctl.checks.registry and labctl.catalogue list different checks")
