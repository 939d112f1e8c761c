"""Spec -> Plan: names, addresses, datastore, phases and checks, deterministic."""

from __future__ import annotations

import json

from labctl.plan import Role
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab


def plan_of(text: str):  # type: ignore[no-untyped-def]
    return plan_lab(parse_lab(text).lab)


def test_default_lab_is_one_server_two_agents_on_sqlite() -> None:
    plan = plan_of("name: demo\n")
    assert [(m.name, m.role, m.ip) for m in plan.machines] == [
        ("demo-server-1", Role.SERVER, "192.168.56.10"),
        ("demo-agent-1", Role.AGENT, "192.168.56.11"),
        ("demo-agent-2", Role.AGENT, "192.168.56.12"),
    ]
    assert plan.datastore == "sqlite"
    assert plan.primary.name == "demo-server-1"
    assert plan.network.host_ip == "192.168.56.1"
    assert plan.network.netmask == "255.255.255.0"
    assert plan.context == "labctl-demo"


def test_addresses_run_servers_then_agents_then_gitlab() -> None:
    plan = plan_of(
        "name: lab\nnetwork: {cidr: 10.20.0.0/16}\nservers: {count: 3}\nagents: {count: 1}\n"
        "addons: {gitlab: {enabled: true, cpus: 3, memory: 4GiB}}\n"
    )
    assert [(m.name, m.ip) for m in plan.machines] == [
        ("lab-server-1", "10.20.0.10"),
        ("lab-server-2", "10.20.0.11"),
        ("lab-server-3", "10.20.0.12"),
        ("lab-agent-1", "10.20.0.13"),
        ("lab-gitlab", "10.20.0.14"),
    ]
    gitlab = plan.gitlab
    assert gitlab is not None
    assert (gitlab.cpus, gitlab.memory_mib, gitlab.role) == (3, 4096, Role.GITLAB)


def test_several_servers_use_embedded_etcd_and_say_who_initialises() -> None:
    plan = plan_of("name: ha\nservers: {count: 3}\n")
    assert plan.datastore == "etcd"
    assert [m.primary for m in plan.servers] == [True, False, False]
    phase = next(p for p in plan.phases if p.name == "k3s-servers")
    assert "server 1 initialises, 2 join" in phase.summary


def test_phases_follow_the_lifecycle_and_skip_what_the_lab_lacks() -> None:
    names = [p.name for p in plan_of("name: one\nagents: {count: 0}\n").phases]
    assert names == [
        "preflight", "render", "boot", "wait-ssh", "prepare",
        "k3s-servers", "kubeconfig", "addons", "checks", "baseline",
    ]  # fmt: skip
    full = plan_of("name: full\naddons: {argocd: {enabled: true}, gitlab: {enabled: true}}\n")
    addons = next(p for p in full.phases if p.name == "addons")
    assert addons.tags == ("gitlab", "argocd", "gitops")


def test_checks_drop_skipped_ones_and_those_whose_addon_is_off() -> None:
    plain = plan_of("name: demo\nchecks: {skip: [clock, dns]}\n")
    assert "clock" not in plain.checks
    assert "dns" not in plain.checks
    assert not {"argocd", "gitlab", "gitops"} & set(plain.checks)
    argo_only = plan_of("name: demo\naddons: {argocd: {enabled: true}}\n")
    assert "argocd" in argo_only.checks
    assert "gitops" not in argo_only.checks


def test_same_spec_gives_an_identical_plan() -> None:
    text = "name: demo\nservers: {count: 3}\naddons: {gitlab: {enabled: true}}\n"
    first, second = plan_of(text), plan_of(text)
    assert first == second
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
