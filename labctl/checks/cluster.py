"""Checks of the cluster itself: nodes, their addresses, kube-system, the datastore, clocks."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from labctl.checks.kube import (
    NAT_ADDRESS,
    condition,
    items,
    kubectl,
    labels_of,
    name_of,
    need_json,
    need_ok,
    node_internal_ip,
    node_ready,
    plural,
    pod_problem,
)
from labctl.checks.model import (
    CheckCannotRunError,
    Records,
    Status,
    Step,
    Target,
    Verdict,
    fixed,
    judging,
    record_key,
)
from labctl.messages import quoted

if TYPE_CHECKING:
    from labctl.plan import Machine, Plan

K3S_DB_DIR = "/var/lib/rancher/k3s/server/db"
K3S_ETCD_TLS = "/var/lib/rancher/k3s/server/tls/etcd"
CLOCK_TOLERANCE_S = 5.0


def _nodes(plan: Plan) -> tuple[Machine, ...]:
    return plan.servers + plan.agents


# ---------------------------------------------------------------- nodes-ready

NODES_STEPS = (Step("nodes", Target.PRIMARY, fixed(kubectl("get", "nodes", "-o", "json"))),)


@judging
def judge_nodes_ready(records: Records, plan: Plan) -> Verdict:
    """Every planned node is registered and Ready, and no other node is."""
    found = {name_of(n): n for n in items(need_json(records, "nodes"), "Node")}
    expected = [m.name for m in _nodes(plan)]
    problems = []
    missing = [name for name in expected if name not in found]
    if missing:
        problems.append(f"not registered: {', '.join(missing)}")
    for name in expected:
        node = found.get(name)
        if node is not None and not node_ready(node):
            ready = condition(node, "Ready") or {}
            why = ready.get("message") or ready.get("reason") or "no Ready condition"
            problems.append(f"{name} is NotReady ({why})")
    extra = sorted(set(found) - set(expected))
    if extra:
        problems.append(f"not in the plan: {', '.join(extra)}")
    ready_count = sum(1 for name in expected if name in found and node_ready(found[name]))
    if problems:
        return Verdict(
            Status.FAILED, f"{ready_count}/{len(expected)} nodes Ready; " + "; ".join(problems)
        )
    return Verdict(
        Status.PASSED,
        f"{len(expected)}/{len(expected)} nodes Ready "
        f"({plural(len(plan.servers), 'server')}, {plural(len(plan.agents), 'agent')})",
    )


# ---------------------------------------------------------------- node-ips


@judging
def judge_node_ips(records: Records, plan: Plan) -> Verdict:
    """Each node's InternalIP is its planned lab address; 10.0.2.15 is called out by name."""
    found = {name_of(n): n for n in items(need_json(records, "nodes"), "Node")}
    problems = []
    for machine in _nodes(plan):
        node = found.get(machine.name)
        if node is None:
            problems.append(f"{machine.name} is not registered")
            continue
        address = node_internal_ip(node)
        if address == NAT_ADDRESS:
            problems.append(
                f"{machine.name} advertises {NAT_ADDRESS}, the NAT interface, instead of "
                f"{machine.ip} (K3s needs --node-ip and --flannel-iface on the lab network)"
            )
        elif address != machine.ip:
            problems.append(f"{machine.name} advertises {address}, planned {machine.ip}")
    if problems:
        return Verdict(Status.FAILED, "; ".join(problems))
    return Verdict(Status.PASSED, f"every node advertises its address on {plan.network.cidr}")


# ---------------------------------------------------------------- system-pods

SYSTEM_PODS_STEPS = (
    Step("pods", Target.PRIMARY, fixed(kubectl("get", "pods", "-n", "kube-system", "-o", "json"))),
)
# K3s packaged component (the name `--disable` takes) -> the label its pods carry.
PACKAGED_COMPONENTS: dict[str, tuple[str, str]] = {
    "coredns": ("k8s-app", "kube-dns"),
    "traefik": ("app.kubernetes.io/name", "traefik"),
    "metrics-server": ("k8s-app", "metrics-server"),
    "local-storage": ("app", "local-path-provisioner"),
}


@judging
def judge_system_pods(records: Records, plan: Plan) -> Verdict:
    """kube-system pods are Running and ready or Completed; each enabled component has one."""
    pods = items(need_json(records, "pods"), "Pod")
    problems = [f"{name_of(p)}: {why}" for p in pods if (why := pod_problem(p))]
    present = []
    for component, (key, value) in PACKAGED_COMPONENTS.items():
        if component in plan.lab.k3s.disable:
            continue
        if any(labels_of(p).get(key) == value for p in pods):
            present.append(component)
        else:
            problems.append(f"no {component} pod")
    if problems:
        return Verdict(Status.FAILED, "; ".join(problems))
    completed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
    done = f", {plural(completed, 'completed job')}" if completed else ""
    return Verdict(
        Status.PASSED,
        f"{plural(len(pods) - completed, 'pod')} Running ({', '.join(present)}){done}",
    )


# ---------------------------------------------------------------- datastore

_DB_PROBE = (
    f"d={K3S_DB_DIR}; s=false; e=false; "
    '[ -f "$d/state.db" ] && s=true; [ -d "$d/etcd" ] && e=true; '
    'printf \'{"sqlite": %s, "etcd": %s}\\n\' "$s" "$e"'
)
# etcd's v3 JSON gateway, read-only (member list), no etcdctl needed on the machine. Since K3s
# PR 8402 the gateway no longer shares the gRPC client port 2379: K3s gives it its own listener,
# https://127.0.0.1:2382 (listen-client-http-urls). The client certificate is the one K3s writes
# for etcd clients (tls/etcd/client.crt, as its apiserver and `k3s etcd-snapshot` use).
ETCD_HTTP_GATEWAY = "https://127.0.0.1:2382"
_ETCD_MEMBERS = (
    f"sudo curl -sS -m 10 --cacert {K3S_ETCD_TLS}/server-ca.crt "
    f"--cert {K3S_ETCD_TLS}/client.crt --key {K3S_ETCD_TLS}/client.key "
    f"-X POST -d '{{}}' {ETCD_HTTP_GATEWAY}/v3/cluster/member/list"
)
DATASTORE_STEPS = (
    Step("db-files", Target.PRIMARY, fixed(f"sudo sh -c {shlex.quote(_DB_PROBE)}")),
    Step(
        "etcd-members",
        Target.PRIMARY,
        fixed(_ETCD_MEMBERS),
        when=lambda plan: plan.datastore == "etcd",
    ),
)


@judging
def judge_datastore(records: Records, plan: Plan) -> Verdict:
    """One server: kine/SQLite and no etcd. HA: embedded etcd whose voting members are exactly
    the servers, matched by the peer address each member advertises."""
    files = need_json(records, "db-files")
    primary = plan.primary.name
    if plan.datastore == "sqlite":
        if files.get("etcd"):
            return Verdict(
                Status.FAILED,
                f"{primary} runs embedded etcd, but a one-server lab should use kine/SQLite",
            )
        if not files.get("sqlite"):
            return Verdict(Status.FAILED, f"no {K3S_DB_DIR}/state.db on {primary}")
        return Verdict(Status.PASSED, f"kine/SQLite ({K3S_DB_DIR}/state.db) on {primary}")
    if not files.get("etcd"):
        return Verdict(Status.FAILED, f"no embedded etcd ({K3S_DB_DIR}/etcd) on {primary}")
    members = need_json(records, "etcd-members").get("members") or []
    peers: dict[str, dict[str, Any]] = {}
    for member in members:
        for url in member.get("peerURLs") or []:
            host = urlsplit(str(url)).hostname
            if host:
                peers[host] = member
    expected = {m.ip: m.name for m in plan.servers}
    problems = [
        f"{name} ({ip}) is not a member" for ip, name in expected.items() if ip not in peers
    ]
    problems += [
        f"{m.get('name', '?')} is not a server of the plan ({', '.join(m.get('peerURLs') or [])})"
        for m in members
        if not any(urlsplit(str(u)).hostname in expected for u in m.get("peerURLs") or [])
    ]
    problems += [f"{m.get('name', '?')} is still a learner" for m in members if m.get("isLearner")]
    if problems:
        return Verdict(
            Status.FAILED,
            f"etcd has {plural(len(members), 'member')} for {len(expected)} servers: "
            + "; ".join(problems),
        )
    return Verdict(
        Status.PASSED,
        f"embedded etcd: {len(members)} members = {len(expected)} servers",
    )


# ---------------------------------------------------------------- clock

CLOCK_STEPS = (Step("time", Target.MACHINES, fixed("date +%s.%N")),)


@judging
def judge_clock(records: Records, plan: Plan) -> Verdict:
    """Each machine's clock is within 5 s of the controller's, read between sending the command
    and getting its answer (half the round trip is added to the tolerance)."""
    skews: list[tuple[float, str]] = []
    problems = []
    for machine in plan.machines:
        record = need_ok(records, record_key("time", machine.name, Target.MACHINES))
        try:
            node_time = float(record.result.stdout.strip())
        except ValueError:
            raise CheckCannotRunError(
                f"{machine.name}: `date +%s.%N` printed {quoted(record.result.stdout.strip())}"
            ) from None
        host_time = (record.started_at + record.finished_at) / 2
        skew = node_time - host_time
        skews.append((abs(skew), machine.name))
        if abs(skew) > CLOCK_TOLERANCE_S + record.elapsed / 2:
            side = "ahead of" if skew > 0 else "behind"
            problems.append(f"{machine.name} is {abs(skew):.1f} s {side} the host")
    if problems:
        return Verdict(Status.FAILED, "; ".join(problems) + " (is time sync running?)")
    worst, name = max(skews)
    return Verdict(
        Status.PASSED,
        f"{plural(len(skews), 'clock')} within {CLOCK_TOLERANCE_S:g} s of the host "
        f"(largest skew {worst:.1f} s, {name})",
    )
