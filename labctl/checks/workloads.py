"""Checks through workloads: DNS and the pod network from probe pods, the demo Deployment, its
ReplicaSet healing, Service load balancing and the Traefik Ingress."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from labctl.checks.demo import (
    DEMO_API_PATH,
    DEMO_DEPLOYMENT,
    DEMO_NAMESPACE,
    DEMO_REPLICAS,
    DEMO_SELECTOR,
    DEMO_SERVICE,
    demo_host,
)
from labctl.checks.kube import (
    condition,
    json_stream,
    kubectl,
    name_of,
    need,
    need_json,
    need_ok,
    plural,
    pod_problem,
    pod_ready,
)
from labctl.checks.model import (
    CheckCannotRunError,
    Context,
    Poll,
    Records,
    Status,
    Step,
    Target,
    Verdict,
    fixed,
    judging,
)
from labctl.checks.probe import PROBE_STEP_TIMEOUT_S, probe_pod

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.tools.ssh import CommandResult

KUBERNETES_SERVICE = "kubernetes.default.svc.cluster.local"
SELF_HEAL_WITHIN_S = 120.0
BALANCING_REQUESTS = 12


def _demo_pods_step(name: str, poll: Poll | None = None) -> Step:
    return Step(
        name,
        Target.PRIMARY,
        fixed(kubectl("get", "pods", "-n", DEMO_NAMESPACE, "-l", DEMO_SELECTOR, "-o", "json")),
        poll=poll,
    )


def _live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods not on their way out (a deleted pod lingers with a deletionTimestamp)."""
    return [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]


# ---------------------------------------------------------------- dns


def dns_script(plan: Plan) -> str:
    names = " ".join([KUBERNETES_SERVICE, *(m.name for m in plan.servers + plan.agents)])
    # The name is looked up with a trailing dot: busybox nslookup (1.30 and later) sends a
    # dotless name only with each search domain appended, never bare, and CoreDNS knows the
    # nodes only bare (K3s's NodeHosts). busybox prints the server first ("Address:
    # 10.43.0.10:53"), then the answers.
    return (
        f"for n in {names}; do "
        'a=$(nslookup -type=a "$n." 2>/dev/null | '
        "awk '/^Address/ && !/:53$/ && !/#53$/ {a=$NF} END {print a}'); "
        'printf \'{"name": "%s", "address": "%s"}\\n\' "$n" "$a"; done'
    )


DNS_STEPS = (
    Step(
        "lookup",
        Target.PRIMARY,
        lambda ctx: probe_pod("dns", dns_script(ctx.plan)),
        timeout=PROBE_STEP_TIMEOUT_S,
    ),
)


@judging
def judge_dns(records: Records, plan: Plan) -> Verdict:
    """From a pod, kubernetes.default resolves, and each node name resolves to its lab address
    (K3s's CoreDNS serves the nodes from its NodeHosts)."""
    answers = {
        str(v.get("name")): str(v.get("address") or "")
        for v in json_stream(need_ok(records, "lookup").result.stdout)
        if isinstance(v, dict)
    }
    problems = []
    if not answers.get(KUBERNETES_SERVICE):
        problems.append(f"{KUBERNETES_SERVICE} does not resolve (is CoreDNS running?)")
    for machine in plan.servers + plan.agents:
        address = answers.get(machine.name, "")
        if not address:
            problems.append(f"{machine.name} does not resolve")
        elif address != machine.ip:
            problems.append(f"{machine.name} resolves to {address}, planned {machine.ip}")
    if problems:
        return Verdict(Status.FAILED, "a pod's DNS: " + "; ".join(problems))
    return Verdict(
        Status.PASSED,
        f"a pod resolves kubernetes.default ({answers[KUBERNETES_SERVICE]}) and "
        f"{plural(len(plan.servers) + len(plan.agents), 'node name')}",
    )


# ---------------------------------------------------------------- pod-network


def _pod_port(pod: dict[str, Any]) -> int:
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("containerPort"):
                return int(port["containerPort"])
    return 80


def crossing(pods: list[dict[str, Any]], plan: Plan) -> tuple[dict[str, Any], str]:
    """A ready demo pod and another node to reach it from (pure, so the judge can redo it)."""
    ready = sorted(
        (p for p in _live(pods) if pod_ready(p) and p.get("status", {}).get("podIP")),
        key=name_of,
    )
    if not ready:
        raise CheckCannotRunError("no ready demo pod to reach (see the deployment check)")
    nodes = [m.name for m in plan.agents + plan.servers]
    for pod in ready:
        other = [n for n in nodes if n != pod.get("spec", {}).get("nodeName")]
        if other:
            return pod, other[0]
    raise CheckCannotRunError("a lab of one node has no pod network to cross", Status.SKIPPED)


def _reach_script(pod: dict[str, Any], node: str) -> str:
    address = f"{pod['status']['podIP']}:{_pod_port(pod)}"
    facts = {"from_node": node, "to_pod": name_of(pod), "to_node": pod["spec"].get("nodeName")}
    prefix = json.dumps(facts)[:-1]  # the object, left open for "reached"
    return (
        f"if wget -q -T 5 -O /dev/null http://{address}/; then r=true; else r=false; fi; "
        f'printf \'%s, "to": "{address}", "reached": %s}}\\n\' {shlex.quote(prefix)} "$r"'
    )


def _reach_command(ctx: Context) -> str:
    pod, node = crossing(need_json(ctx.records, "demo-pods").get("items") or [], ctx.plan)
    return probe_pod("net", _reach_script(pod, node), node=node)


POD_NETWORK_STEPS = (
    _demo_pods_step("demo-pods"),
    Step("reach", Target.PRIMARY, _reach_command, timeout=PROBE_STEP_TIMEOUT_S),
)


@judging
def judge_pod_network(records: Records, _plan: Plan) -> Verdict:
    """A probe pod pinned to one node fetched a page from a demo pod on another node."""
    answers = [
        v for v in json_stream(need_ok(records, "reach").result.stdout) if isinstance(v, dict)
    ]
    if not answers:
        return Verdict(Status.FAILED, "the probe pod printed no result")
    got = answers[-1]
    route = (
        f"a pod on {got.get('from_node')} -> {got.get('to_pod')} "
        f"({got.get('to')}) on {got.get('to_node')}"
    )
    if got.get("reached") is True:
        return Verdict(Status.PASSED, f"{route}: reached")
    return Verdict(
        Status.FAILED, f"{route}: no answer within 5 s (flannel between the nodes? vxlan 8472/udp)"
    )


# ---------------------------------------------------------------- deployment

DEPLOYMENT_STEPS = (
    Step(
        "deployment",
        Target.PRIMARY,
        fixed(kubectl("get", "deployment", DEMO_DEPLOYMENT, "-n", DEMO_NAMESPACE, "-o", "json")),
    ),
)


def replicas(deployment: dict[str, Any]) -> tuple[int, int]:
    """(wanted, available) replicas of a Deployment; the API omits zero counts."""
    wanted = int(deployment.get("spec", {}).get("replicas", 1))
    available = int(deployment.get("status", {}).get("availableReplicas") or 0)
    return wanted, available


@judging
def judge_deployment(records: Records, _plan: Plan) -> Verdict:
    """The demo Deployment wants 3 replicas and has 3 available."""
    deployment = need_json(records, "deployment")
    wanted, available = replicas(deployment)
    label = f"{DEMO_NAMESPACE}/{DEMO_DEPLOYMENT}"
    if wanted != DEMO_REPLICAS:
        return Verdict(
            Status.FAILED, f"{label} wants {wanted} replicas, the demo needs {DEMO_REPLICAS}"
        )
    if available < wanted:
        why = ""
        for kind in ("Available", "Progressing"):
            cond = condition(deployment, kind) or {}
            if cond.get("status") != "True" and cond.get("message"):
                why = f" ({cond['message']})"
                break
        return Verdict(Status.FAILED, f"{label}: {available}/{wanted} replicas available{why}")
    return Verdict(Status.PASSED, f"{label}: {available}/{wanted} replicas available")


# ---------------------------------------------------------------- replicaset-self-heal


def victim(pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The demo pod to delete: the first ready one by name (pure, so the judge finds it again)."""
    ready = sorted((p for p in _live(pods) if pod_ready(p)), key=name_of)
    if not ready:
        raise CheckCannotRunError("no ready demo pod to delete (see the deployment check)")
    return ready[0]


def _healed(after: list[dict[str, Any]], before: list[dict[str, Any]]) -> bool:
    gone = name_of(victim(before))
    ready_before = sum(1 for p in _live(before) if pod_ready(p))
    ready_now = [p for p in _live(after) if pod_ready(p) and name_of(p) != gone]
    return len(ready_now) >= ready_before


def _healed_poll(result: CommandResult, ctx: Context) -> bool:
    if not result.ok:
        return False
    before = need_json(ctx.records, "before").get("items") or []
    return _healed(json.loads(result.stdout).get("items") or [], before)


def _delete_command(ctx: Context) -> str:
    pod = victim(need_json(ctx.records, "before").get("items") or [])
    return kubectl("delete", "pod", name_of(pod), "-n", DEMO_NAMESPACE, "--wait=false")


SELF_HEAL_STEPS = (
    _demo_pods_step("before"),
    Step("delete", Target.PRIMARY, _delete_command),
    _demo_pods_step("after", Poll(_healed_poll, within=SELF_HEAL_WITHIN_S, every=3.0)),
)


def _owner(pod: dict[str, Any]) -> str:
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet":
            return str(ref.get("name"))
    return "its ReplicaSet"


@judging
def judge_self_heal(records: Records, _plan: Plan) -> Verdict:
    """After one demo pod is deleted, its ReplicaSet brings the ready count back in time."""
    before = need_json(records, "before").get("items") or []
    gone = victim(before)
    need_ok(records, "delete")
    after_record = need(records, "after")
    after = need_json(records, "after").get("items") or []
    took = after_record.finished_at - records["delete"].started_at
    ready_before = sum(1 for p in _live(before) if pod_ready(p))
    if _healed(after, before):
        old = {name_of(p) for p in before}
        new = sorted(name_of(p) for p in _live(after) if name_of(p) not in old)
        replaced = f" with {', '.join(new)}" if new else ""
        return Verdict(
            Status.PASSED,
            f"deleted {name_of(gone)}; {_owner(gone)} replaced it{replaced} in {took:.0f} s",
        )
    ready = [p for p in _live(after) if pod_ready(p) and name_of(p) != name_of(gone)]
    waiting = [f"{name_of(p)}: {why}" for p in _live(after) if (why := pod_problem(p))]
    detail = f" ({'; '.join(waiting)})" if waiting else ""
    return Verdict(
        Status.FAILED,
        f"deleted {name_of(gone)}; after {took:.0f} s only {len(ready)}/{ready_before} "
        f"pods ready{detail}",
    )


# ---------------------------------------------------------------- service-balancing


def _service_address(ctx_records: Records) -> str:
    service = need_json(ctx_records, "service")
    ip = service.get("spec", {}).get("clusterIP")
    ports = service.get("spec", {}).get("ports") or []
    if not ip or ip == "None" or not ports:
        raise CheckCannotRunError(f"service {DEMO_NAMESPACE}/{DEMO_SERVICE} has no cluster IP")
    return f"{ip}:{ports[0].get('port')}"


BALANCING_STEPS = (
    Step(
        "service",
        Target.PRIMARY,
        fixed(kubectl("get", "service", DEMO_SERVICE, "-n", DEMO_NAMESPACE, "-o", "json")),
    ),
    Step(
        "requests",
        Target.PRIMARY,
        lambda ctx: (
            f"for i in $(seq 1 {BALANCING_REQUESTS}); do "
            f"curl -sS -m 3 http://{_service_address(ctx.records)}{DEMO_API_PATH}; echo; done"
        ),
        timeout=BALANCING_REQUESTS * 3 + 15,
        stop_on_failure=False,
    ),
)


@judging
def judge_balancing(records: Records, _plan: Plan) -> Verdict:
    """Repeated requests to the Service's cluster IP are answered by at least two pods."""
    address = _service_address(records)
    answers = [
        v for v in json_stream(need(records, "requests").result.stdout) if isinstance(v, dict)
    ]
    pods = sorted({str(a.get("hostname")) for a in answers if a.get("hostname")})
    failed = BALANCING_REQUESTS - len(answers)
    lost = f" ({failed} of {BALANCING_REQUESTS} requests failed)" if failed else ""
    if len(pods) >= 2:
        return Verdict(
            Status.PASSED,
            f"{len(answers)} requests to {address} reached {len(pods)} pods: "
            f"{', '.join(pods)}{lost}",
        )
    if not pods:
        return Verdict(Status.FAILED, f"no answer from {address}{lost}")
    return Verdict(
        Status.FAILED, f"every answer from {address} came from {pods[0]}{lost}; expected several"
    )


# ---------------------------------------------------------------- ingress


def without_servicelb(plan: Plan) -> bool:
    return "servicelb" in plan.lab.k3s.disable


# Without ServiceLB (K3s's klipper-lb) nothing listens on a node's port 80: Traefik is then
# reachable only at its cluster IP, which kube-proxy serves on every node too (as
# service-balancing relies on), so the request goes there instead of being skipped.
TRAEFIK_SERVICE_STEP = Step(
    "traefik-service",
    Target.PRIMARY,
    fixed(kubectl("get", "service", "traefik", "-n", "kube-system", "-o", "json")),
    when=without_servicelb,
)


def traefik_address(records: Records, plan: Plan) -> str:
    """Where Traefik answers HTTP: the lab address (ServiceLB publishes port 80 there), or
    Traefik's cluster IP and web port when ServiceLB is disabled."""
    if not without_servicelb(plan):
        return plan.primary.ip
    spec = need_json(records, "traefik-service").get("spec", {})
    ip = spec.get("clusterIP")
    ports = spec.get("ports") or []
    web = next((p for p in ports if p.get("name") == "web"), ports[0] if ports else None)
    if not ip or ip == "None" or web is None:
        raise CheckCannotRunError("service kube-system/traefik has no cluster IP and web port")
    port = int(web.get("port", 80))
    return ip if port == 80 else f"{ip}:{port}"


def _ingress_command(ctx: Context) -> str:
    host = demo_host(ctx.plan.name)
    url = f"http://{traefik_address(ctx.records, ctx.plan)}{DEMO_API_PATH}"
    trailer = '\\n{"http_code": %{http_code}}\\n'
    return f"curl -sS -m 10 -H {shlex.quote('Host: ' + host)} -w '{trailer}' {url}"


INGRESS_STEPS = (
    TRAEFIK_SERVICE_STEP,
    Step("request", Target.PRIMARY, _ingress_command, timeout=20),
)


def ingress_skip(plan: Plan) -> str | None:
    return "traefik is disabled in lab.yaml" if "traefik" in plan.lab.k3s.disable else None


@judging
def judge_ingress(records: Records, plan: Plan) -> Verdict:
    """GET /api with the demo's Host header on the lab address: Traefik routes it to a demo pod."""
    record = need_ok(records, "request")
    values = [v for v in json_stream(record.result.stdout) if isinstance(v, dict)]
    code = values[-1].get("http_code") if values else None
    target = f"http://{demo_host(plan.name)}{DEMO_API_PATH} via {traefik_address(records, plan)}"
    if code != 200:
        why = " (no Ingress routes this host)" if code == 404 else ""
        return Verdict(Status.FAILED, f"{target}: HTTP {code}{why}")
    pod = next((str(v["hostname"]) for v in values if v.get("hostname")), None)
    if pod is None:
        return Verdict(Status.FAILED, f"{target}: HTTP 200, but not from the demo app")
    return Verdict(Status.PASSED, f"{target}: HTTP 200 from {pod}")
