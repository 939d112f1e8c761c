"""The smoke-check catalogue: names and what each proves (pure data).

The spec validates `checks.skip` against these names; the check runner adds commands and judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Addon = Literal["argocd", "gitlab"]


@dataclass(frozen=True)
class CheckInfo:
    """A smoke check as the learner sees it: its name, what it proves, what it needs."""

    name: str
    proves: str
    needs: tuple[Addon, ...] = ()


CATALOGUE: tuple[CheckInfo, ...] = (
    CheckInfo("nodes-ready", "every node is Ready and the count matches the plan"),
    CheckInfo("node-ips", "each node's InternalIP is its planned address on the lab network"),
    CheckInfo("system-pods", "kube-system pods (coredns, traefik, metrics) are Running"),
    CheckInfo("datastore", "kine/SQLite on one server, etcd members equal servers on HA"),
    CheckInfo("dns", "a pod resolves kubernetes.default and the lab's host names"),
    CheckInfo("pod-network", "a pod on one node reaches a pod on another node"),
    CheckInfo("deployment", "the demo Deployment has 3/3 replicas available"),
    CheckInfo("replicaset-self-heal", "a deleted demo pod is replaced by its ReplicaSet"),
    CheckInfo("service-balancing", "requests through the demo Service reach several pods"),
    CheckInfo("ingress", "an HTTP request through Traefik reaches the demo app"),
    CheckInfo(
        "argocd", "the Argo CD API answers and the saved admin password logs in", ("argocd",)
    ),
    CheckInfo("gitlab", "GitLab is ready and the saved root password signs in", ("gitlab",)),
    CheckInfo(
        "gitops",
        "Argo CD keeps the demo app Synced and Healthy from GitLab",
        ("argocd", "gitlab"),
    ),
    CheckInfo("clock", "node clocks are within 5 s of the host"),
)

CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CATALOGUE)
