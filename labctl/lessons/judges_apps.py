"""Lesson judges of workloads: Pods, Deployments, Services, Ingress, HPA, Argo CD (pure)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from labctl.checks.kube import json_stream, name_of, node_ready, pod_problem, pod_ready
from labctl.lessons.reading import failed, need_answer, read_items, read_object

if TYPE_CHECKING:
    from labctl.lessons.judges import NoParams, Seen

from labctl.lessons.verdicts import Finding, NotReadable, done, not_yet


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _obj(seen: Seen, kind: str) -> dict[str, Any]:
    return read_object(seen.record, kind, seen.name, seen.namespace)


# ---------------------------------------------------------------- pods


def pod_running(seen: Seen, _params: NoParams) -> Finding:
    pod = _obj(seen, "pod")
    node = pod.get("spec", {}).get("nodeName") or "?"
    ip = pod.get("status", {}).get("podIP") or "?"
    if pod_ready(pod):
        return done(
            f"Pod {seen.name} is Running on {node} with IP {ip}",
            f"{seen.name} 파드가 {node}에서 실행 중입니다 (IP {ip})",
        )
    why = pod_problem(pod) or "not ready"
    return not_yet(
        f"Pod {seen.name} is {why}; this step wants it Running",
        f"{seen.name} 파드 상태: {why}. 이 단계는 Running 상태여야 합니다",
    )


def pod_node_answer(seen: Seen, _params: NoParams) -> Finding:
    pod = _obj(seen, "pod")
    answer = need_answer(seen.answer, "NODE")
    node = str(pod.get("spec", {}).get("nodeName") or "")
    if not node:
        return not_yet(
            f"Pod {seen.name} is not scheduled on a node yet",
            f"{seen.name} 파드가 아직 어떤 노드에도 배치되지 않았습니다",
        )
    if answer in (node, node.removeprefix(f"{seen.plan.name}-")):
        return done(
            f"yes: the scheduler put {seen.name} on {node}",
            f"맞습니다: 스케줄러가 {seen.name} 파드를 {node}에 배치했습니다",
        )
    return not_yet(
        f"{seen.name} does not run on {answer!r}; look at the NODE column of -o wide",
        f"{seen.name} 파드는 {answer!r}에서 실행되지 않습니다. -o wide의 NODE 열을 보세요",
    )


class Contains(_Params):
    contains: str = Field(min_length=1)


def exec_output(seen: Seen, params: Contains) -> Finding:
    result = seen.record.result
    if not result.ok:
        if "(NotFound)" in result.stderr:
            read_object(seen.record, "pod", seen.name, seen.namespace)
        if "No such file" in result.stderr or "can't open" in result.stderr:
            return not_yet(
                f"the file is not in Pod {seen.name} yet",
                f"{seen.name} 파드 안에 아직 파일이 없습니다",
            )
        raise failed(seen.record)
    if params.contains in result.stdout:
        return done(
            f"Pod {seen.name} answered {result.stdout.strip()[:60]!r}",
            f"{seen.name} 파드의 응답: {result.stdout.strip()[:60]!r}",
        )
    return not_yet(
        f"Pod {seen.name} answered {result.stdout.strip()[:60]!r}; this step wants "
        f"{params.contains!r} in it",
        f"{seen.name} 파드의 응답은 {result.stdout.strip()[:60]!r}입니다. "
        f"{params.contains!r}이(가) 들어 있어야 합니다",
    )


class Named(_Params):
    name: str = Field(min_length=1)


def pod_gone(seen: Seen, params: Named) -> Finding:
    pods = {name_of(p): p for p in read_items(seen.record)}
    pod = pods.get(params.name)
    if pod is None:
        return done(
            f"Pod {params.name} is gone and nothing brought it back: a bare Pod has no controller",
            f"{params.name} 파드가 사라졌고 다시 생기지 않았습니다. "
            "컨트롤러가 없는 파드이기 때문입니다",
        )
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return not_yet(
            f"Pod {params.name} is still terminating; check again in a few seconds",
            f"{params.name} 파드가 아직 종료 중입니다. 몇 초 뒤 다시 확인하세요",
        )
    return not_yet(
        f"Pod {params.name} still exists; this step wants it deleted",
        f"{params.name} 파드가 아직 있습니다. 이 단계는 파드를 삭제해야 합니다",
    )


# ---------------------------------------------------------------- deployments


class Replicas(_Params):
    replicas: int = Field(ge=0, le=20)


def _counts(deployment: dict[str, Any]) -> tuple[int, int, int]:
    spec = int(deployment.get("spec", {}).get("replicas", 1))
    status = deployment.get("status", {})
    return spec, int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0)


def deployment_replicas(seen: Seen, params: Replicas) -> Finding:
    wanted, ready, _ = _counts(_obj(seen, "deployment"))
    want = params.replicas
    if wanted == want and ready == want:
        return done(
            f"Deployment {seen.name} has {ready} of {want} replicas ready",
            f"{seen.name} 디플로이먼트의 레플리카 {want}개가 모두 준비되었습니다",
        )
    if wanted != want:
        return not_yet(
            f"Deployment {seen.name} asks for {wanted} replicas; this step wants {want}",
            f"{seen.name} 디플로이먼트의 replicas는 {wanted}개입니다. "
            f"이 단계에서는 {want}개가 필요합니다",
        )
    return not_yet(
        f"Deployment {seen.name} has {ready} ready replicas; this step wants {want}",
        f"{seen.name} 디플로이먼트의 준비된 레플리카는 {ready}개입니다. 이 단계에서는 {want}개가 "
        "필요합니다",
    )


class Image(_Params):
    image: str = Field(min_length=1)
    min_revision: int = Field(default=1, ge=1)


def deployment_image(seen: Seen, params: Image) -> Finding:
    deployment = _obj(seen, "deployment")
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    image = str(containers[0].get("image")) if containers else "?"
    annotations = deployment.get("metadata", {}).get("annotations") or {}
    revision = int(annotations.get("deployment.kubernetes.io/revision", "0") or 0)
    wanted, ready, updated = _counts(deployment)
    meta, status = deployment.get("metadata", {}), deployment.get("status", {})
    observed = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    if image != params.image:
        return not_yet(
            f"Deployment {seen.name} runs {image}; this step wants {params.image}",
            f"{seen.name} 디플로이먼트의 이미지는 {image}입니다. 이 단계에서는 "
            f"{params.image}이어야 합니다",
        )
    if revision < params.min_revision:
        return not_yet(
            f"Deployment {seen.name} is at revision {revision}; this step wants revision "
            f"{params.min_revision} or later (a rollback makes a new revision)",
            f"{seen.name} 디플로이먼트의 리비전은 {revision}입니다. 이 단계는 리비전 "
            f"{params.min_revision} 이상이어야 합니다 (롤백도 새 리비전을 만듭니다)",
        )
    if not observed or updated < wanted or ready < wanted:
        return not_yet(
            f"the rollout of {seen.name} is not finished: {updated} of {wanted} "
            f"updated, {ready} ready",
            f"{seen.name} 롤아웃이 아직 끝나지 않았습니다: {wanted}개 중 {updated}개 "
            f"업데이트, {ready}개 준비됨",
        )
    return done(
        f"Deployment {seen.name} runs {image} on {ready} pods (revision {revision})",
        f"{seen.name} 디플로이먼트가 파드 {ready}개에서 {image}를 실행 중입니다 "
        f"(리비전 {revision})",
    )


class EventMatch(_Params):
    reason: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    name_prefix: str = ""


def event_seen(seen: Seen, params: EventMatch) -> Finding:
    for event in read_items(seen.record):
        involved = event.get("involvedObject") or {}
        name = str(involved.get("name", ""))
        if (
            event.get("reason") == params.reason
            and involved.get("kind") == params.kind
            and name.startswith(params.name_prefix)
        ):
            text = event.get("message") or ""
            return done(
                f"saw {params.reason} for {params.kind} {name}: {text}",
                f"{params.kind} {name}의 {params.reason} 이벤트를 확인했습니다: {text}",
            )
    return not_yet(
        f"no {params.reason} event for a {params.kind} {params.name_prefix}* in "
        f"{seen.namespace} yet",
        f"{seen.namespace}에 {params.kind} {params.name_prefix}*의 {params.reason} 이벤트가 아직 "
        "없습니다",
    )


# ---------------------------------------------------------------- services


class ServiceType(_Params):
    type: str = Field(pattern="^(ClusterIP|NodePort|LoadBalancer)$")


def service_type(seen: Seen, params: ServiceType) -> Finding:
    spec = _obj(seen, "service").get("spec", {})
    kind, ip = spec.get("type", "ClusterIP"), spec.get("clusterIP", "?")
    if kind != params.type:
        return not_yet(
            f"Service {seen.name} is {kind}; this step wants {params.type}",
            f"{seen.name} 서비스의 타입은 {kind}입니다. 이 단계에서는 {params.type}이어야 합니다",
        )
    return done(
        f"Service {seen.name} is {kind} at {ip}",
        f"{seen.name} 서비스는 {kind}이고 주소는 {ip}입니다",
    )


def nodeport_answer(seen: Seen, _params: NoParams) -> Finding:
    spec = _obj(seen, "service").get("spec", {})
    ports = [int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")]
    if not ports:
        return not_yet(
            f"Service {seen.name} has no node port; make it type NodePort",
            f"{seen.name} 서비스에 노드 포트가 없습니다. 타입을 NodePort로 바꾸세요",
        )
    answer = need_answer(seen.answer, "PORT")
    if answer.isdigit() and int(answer) in ports:
        return done(
            f"yes: every node forwards port {answer} to Service {seen.name}",
            f"맞습니다: 모든 노드가 {answer} 포트를 {seen.name} 서비스로 전달합니다",
        )
    return not_yet(
        f"{answer!r} is not the node port of {seen.name}; look at PORT(S)",
        f"{answer!r}은(는) {seen.name}의 노드 포트가 아닙니다. PORT(S) 열을 보세요",
    )


class AtLeast(_Params):
    at_least: int = Field(default=2, ge=1)


def service_endpoints(seen: Seen, params: AtLeast) -> Finding:
    endpoints = read_object(seen.record, "service", seen.name, seen.namespace)
    addresses = [
        a.get("ip") for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []
    ]
    if len(addresses) >= params.at_least:
        return done(
            f"Service {seen.name} sends traffic to {len(addresses)} pods: "
            f"{', '.join(map(str, addresses))}",
            f"{seen.name} 서비스가 파드 {len(addresses)}개로 트래픽을 보냅니다: "
            f"{', '.join(map(str, addresses))}",
        )
    return not_yet(
        f"Service {seen.name} has {len(addresses)} ready endpoints; this step wants at least "
        f"{params.at_least} (does its selector match the pods' labels?)",
        f"{seen.name} 서비스의 준비된 엔드포인트는 {len(addresses)}개입니다. "
        f"최소 {params.at_least}개가 필요합니다 (셀렉터가 파드의 레이블과 맞나요?)",
    )


_HOSTNAME = re.compile(r"^Hostname: (\S+)", re.MULTILINE)


def _hostnames(text: str) -> list[str]:
    found = [
        str(v["hostname"]) for v in json_stream(text) if isinstance(v, dict) and v.get("hostname")
    ]
    return found or _HOSTNAME.findall(text)


def hostnames_seen(seen: Seen, params: AtLeast) -> Finding:
    if not seen.record.result.ok and "(NotFound)" in seen.record.result.stderr:
        read_object(seen.record, "pod", seen.name, seen.namespace)
    names = _hostnames(seen.record.result.stdout)
    distinct = sorted(set(names))
    if len(distinct) >= params.at_least:
        return done(
            f"{len(names)} answers came from {len(distinct)} pods: {', '.join(distinct)}",
            f"응답 {len(names)}개가 파드 {len(distinct)}개에서 왔습니다: {', '.join(distinct)}",
        )
    if not names:
        raise (
            failed(seen.record)
            if not seen.record.result.ok
            else NotReadable(
                "no answer named a pod (is the Service there and are its pods ready?)",
                "파드 이름이 담긴 응답이 없습니다 (서비스가 있고 파드가 준비되었나요?)",
            )
        )
    return not_yet(
        f"every answer came from {', '.join(distinct)}; this step wants at least "
        f"{params.at_least} pods",
        f"모든 응답이 {', '.join(distinct)}에서 왔습니다. 최소 파드 {params.at_least}개가 "
        "응답해야 합니다",
    )


class Prefix(_Params):
    prefix: str = Field(min_length=1)


def http_hostname(seen: Seen, params: Prefix) -> Finding:
    if not seen.record.result.ok:
        if "(NotFound)" in seen.record.result.stderr:
            read_object(seen.record, "pod", seen.name, seen.namespace)
        raise failed(seen.record)
    names = _hostnames(seen.record.result.stdout)
    if names and names[0].startswith(params.prefix):
        return done(
            f"Traefik sent the request to {names[0]}",
            f"Traefik이 요청을 {names[0]} 파드로 보냈습니다",
        )
    got = names[0] if names else "no pod name"
    return not_yet(
        f"the answer came from {got}; this step wants a {params.prefix}* pod",
        f"응답한 곳: {got}. 이 단계에서는 {params.prefix}* 파드가 응답해야 합니다",
    )


class Routes(_Params):
    host: str = Field(min_length=1)
    paths: dict[str, str] = Field(min_length=1)


def ingress_routes(seen: Seen, params: Routes) -> Finding:
    rules = _obj(seen, "ingress").get("spec", {}).get("rules") or []
    rule = next((r for r in rules if r.get("host") == params.host), None)
    if rule is None:
        hosts = ", ".join(str(r.get("host")) for r in rules) or "none"
        return not_yet(
            f"Ingress {seen.name} has no rule for host {params.host} (hosts: {hosts})",
            f"{seen.name} 인그레스에 {params.host} 호스트 규칙이 없습니다 (있는 호스트: {hosts})",
        )
    routes = {
        str(p.get("path")): str(p.get("backend", {}).get("service", {}).get("name"))
        for p in rule.get("http", {}).get("paths") or []
    }
    wrong = [
        f"{path} -> {routes.get(path, 'nothing')}"
        for path, svc in params.paths.items()
        if routes.get(path) != svc
    ]
    if wrong:
        want = ", ".join(f"{p} -> {s}" for p, s in params.paths.items())
        return not_yet(
            f"Ingress {seen.name} routes {'; '.join(wrong)}; this step wants {want}",
            f"{seen.name} 인그레스의 경로: {'; '.join(wrong)}. 필요한 경로: {want}",
        )
    shown = ", ".join(f"{params.host}{p} -> {s}" for p, s in params.paths.items())
    return done(f"Ingress {seen.name} routes {shown}", f"{seen.name} 인그레스 경로: {shown}")


# ---------------------------------------------------------------- autoscaling


def _cpu(hpa: dict[str, Any]) -> int | None:
    for metric in hpa.get("status", {}).get("currentMetrics") or []:
        current = (metric.get("resource") or {}).get("current") or {}
        if current.get("averageUtilization") is not None:
            return int(current["averageUtilization"])
    return None


def hpa_metrics(seen: Seen, params: Replicas) -> Finding:
    hpa = _obj(seen, "hpa")
    cpu, now = _cpu(hpa), int(hpa.get("status", {}).get("currentReplicas") or 0)
    if cpu is None:
        return not_yet(
            f"HPA {seen.name} has no CPU reading yet: metrics-server needs about a minute, and "
            "the pods need a CPU request",
            f"{seen.name} HPA가 아직 CPU 사용률을 읽지 못했습니다. metrics-server가 값을 모으는 데 "
            "1분쯤 걸리고, 파드에 CPU requests가 있어야 합니다",
        )
    if now != params.replicas:
        return not_yet(
            f"HPA {seen.name} sees {now} replicas; this step starts from "
            f"{params.replicas} (scale the Deployment first)",
            f"{seen.name} HPA가 보는 레플리카는 {now}개입니다. 이 단계는 "
            f"{params.replicas}개에서 시작합니다 (먼저 디플로이먼트를 스케일하세요)",
        )
    return done(
        f"HPA {seen.name} reads {cpu}% CPU over {now} replica(s)",
        f"{seen.name} HPA가 레플리카 {now}개의 CPU 사용률 {cpu}%를 읽고 있습니다",
    )


class Above(_Params):
    above: int = Field(ge=1)


def hpa_grown(seen: Seen, params: Above) -> Finding:
    hpa = _obj(seen, "hpa")
    now = int(hpa.get("status", {}).get("currentReplicas") or 0)
    cpu = _cpu(hpa)
    shown = "unknown" if cpu is None else f"{cpu}%"
    if now > params.above:
        return done(
            f"HPA {seen.name} grew the Deployment to {now} replicas at {shown} CPU",
            f"{seen.name} HPA가 CPU {shown}에서 레플리카를 {now}개로 늘렸습니다",
        )
    return not_yet(
        f"HPA {seen.name} keeps {now} replica(s) at {shown} CPU; this step wants more than "
        f"{params.above} (is the load generator running?)",
        f"{seen.name} HPA는 CPU {shown}에서 레플리카 {now}개를 유지하고 있습니다. "
        f"{params.above}개보다 많아야 합니다 (부하 생성기가 돌고 있나요?)",
    )


# ---------------------------------------------------------------- node failure and GitOps


class Spread(_Params):
    prefix: str = Field(min_length=1)
    replicas: int = Field(ge=1)


def pods_on_ready_nodes(seen: Seen, params: Spread) -> Finding:
    objects = read_items(seen.record)
    nodes = {name_of(o): node_ready(o) for o in objects if o.get("kind") == "Node"}
    pods = [
        o
        for o in objects
        if o.get("kind") == "Pod"
        and name_of(o).startswith(params.prefix)
        and not o.get("metadata", {}).get("deletionTimestamp")
    ]
    stuck = sorted(
        {
            str(p.get("spec", {}).get("nodeName"))
            for p in pods
            if not nodes.get(str(p.get("spec", {}).get("nodeName")), False)
        }
    )
    good = [p for p in pods if pod_ready(p) and nodes.get(str(p["spec"].get("nodeName")), False)]
    if stuck:
        count = sum(1 for p in pods if str(p.get("spec", {}).get("nodeName")) in stuck)
        return not_yet(
            f"{count} {params.prefix}* pods are still bound to {', '.join(stuck)} (NotReady); "
            "Kubernetes waits 300 s, the pods' not-ready toleration, before it evicts them",
            f"{params.prefix}* 파드 {count}개가 아직 {', '.join(stuck)}에 남아 있습니다 "
            "(NotReady). 쿠버네티스는 파드를 옮기기 전에 not-ready 톨러레이션인 300초를 기다립니다",
        )
    if len(good) < params.replicas:
        return not_yet(
            f"{len(good)} of {params.replicas} {params.prefix}* pods are ready on Ready nodes",
            f"Ready 노드에서 준비된 {params.prefix}* 파드는 {params.replicas}개 중 "
            f"{len(good)}개입니다",
        )
    where = ", ".join(sorted({str(p["spec"].get("nodeName")) for p in good}))
    return done(
        f"{len(good)} {params.prefix}* pods run on Ready nodes only: {where}",
        f"{params.prefix}* 파드 {len(good)}개가 모두 Ready 노드에서 실행 중입니다: {where}",
    )


def argocd_synced(seen: Seen, _params: NoParams) -> Finding:
    status = _obj(seen, "application").get("status", {})
    sync = status.get("sync", {}).get("status", "Unknown")
    health = status.get("health", {}).get("status", "Unknown")
    revision = str(status.get("sync", {}).get("revision", ""))[:8]
    if (sync, health) == ("Synced", "Healthy"):
        return done(
            f"Application {seen.name} is Synced and Healthy at commit {revision}",
            f"{seen.name} 애플리케이션이 커밋 {revision} 기준으로 Synced, Healthy 상태입니다",
        )
    return not_yet(
        f"Application {seen.name} is {sync} and {health}; this step wants Synced and Healthy",
        f"{seen.name} 애플리케이션 상태: {sync}, {health}. 이 단계는 Synced, Healthy "
        "상태여야 합니다",
    )
