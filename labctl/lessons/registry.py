"""Every lesson judge by the name lesson files use, and the smoke checks' probes lessons share."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from labctl.checks import cluster
from labctl.lessons import judges_apps as apps
from labctl.lessons.judges import (
    LessonJudge,
    Reads,
    control_plane_answer,
    count_answer,
    datastore_answer,
    kubelet_version_answer,
    node_notready,
    nodes_ready,
    readyz_answer,
    runtime_answer,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.checks.model import Step

_NODES = Reads("get", ("node",), named=False)


def _one(kind: str) -> Reads:
    return Reads("get", (kind,), named=True)


_EXEC = Reads("exec", json=False)

JUDGES: tuple[LessonJudge, ...] = (
    LessonJudge("nodes-ready", _NODES, nodes_ready),
    LessonJudge("node-notready", _NODES, node_notready),
    LessonJudge("control-plane-answer", _NODES, control_plane_answer, wants_answer=True),
    LessonJudge("kubelet-version-answer", _NODES, kubelet_version_answer, wants_answer=True),
    LessonJudge("runtime-answer", _NODES, runtime_answer, wants_answer=True),
    LessonJudge(
        "datastore-answer", Reads("shared", shared="db-files"), datastore_answer, wants_answer=True
    ),
    LessonJudge(
        "readyz-answer",
        Reads("raw", json=False, raw_prefix="/readyz?verbose"),
        readyz_answer,
        wants_answer=True,
    ),
    LessonJudge(
        "count-answer",
        Reads("get", ("namespace", "node"), named=False),
        count_answer,
        wants_answer=True,
    ),
    LessonJudge("pod-running", _one("pod"), apps.pod_running),
    LessonJudge("pod-node-answer", _one("pod"), apps.pod_node_answer, wants_answer=True),
    LessonJudge("exec-output", _EXEC, apps.exec_output, apps.Contains),
    LessonJudge("pod-gone", Reads("get", ("pod",), named=False), apps.pod_gone, apps.Named),
    LessonJudge("deployment-replicas", _one("deployment"), apps.deployment_replicas, apps.Replicas),
    LessonJudge("deployment-image", _one("deployment"), apps.deployment_image, apps.Image),
    LessonJudge(
        "event-seen", Reads("get", ("event",), named=False), apps.event_seen, apps.EventMatch
    ),
    LessonJudge("service-type", _one("service"), apps.service_type, apps.ServiceType),
    LessonJudge("nodeport-answer", _one("service"), apps.nodeport_answer, wants_answer=True),
    LessonJudge("service-endpoints", _one("endpoints"), apps.service_endpoints, apps.AtLeast),
    LessonJudge("hostnames-seen", _EXEC, apps.hostnames_seen, apps.AtLeast),
    LessonJudge("http-hostname", _EXEC, apps.http_hostname, apps.Prefix),
    LessonJudge("ingress-routes", _one("ingress"), apps.ingress_routes, apps.Routes),
    LessonJudge("hpa-metrics", _one("hpa"), apps.hpa_metrics, apps.Replicas),
    LessonJudge("hpa-grown", _one("hpa"), apps.hpa_grown, apps.Above),
    LessonJudge(
        "pods-on-ready-nodes",
        Reads("get", ("node", "pod"), named=False, all_kinds=True),
        apps.pods_on_ready_nodes,
        apps.Spread,
    ),
    LessonJudge("argocd-synced", _one("application"), apps.argocd_synced),
)
BY_NAME: Mapping[str, LessonJudge] = MappingProxyType({j.name: j for j in JUDGES})

# Probes lessons take from the smoke checks instead of spelling them again.
SHARED_PROBES: Mapping[str, Step] = MappingProxyType({"db-files": cluster.DATASTORE_STEPS[0]})
