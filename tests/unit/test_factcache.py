"""Cached Ansible facts never outlive the machines, or the addresses, they describe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lab.labdir import render_into
from labctl.lab.teardown import destroy_lab
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from labctl.plan import Plan


def plan_for(cidr: str) -> Plan:
    spec = f"name: demo\nprovider: virtualbox\nnetwork: {{cidr: {cidr}}}\n"
    return plan_lab(parse_lab(spec).lab)


def cache_facts(lab_dir: Path) -> Path:
    """What Ansible's jsonfile cache leaves after a run: one file per inventory host."""
    cached = lab_dir / "facts" / "demo-server-1"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text('{"ansible_default_ipv4": {"address": "192.168.56.10"}}')
    return cached


def test_a_new_network_drops_the_cached_facts_and_a_plain_rerender_keeps_them(
    tmp_path: Path,
) -> None:
    lab_dir = tmp_path / ".labctl" / "demo"
    render_into(plan_for("192.168.56.0/24"), lab_dir)
    cached = cache_facts(lab_dir)

    render_into(plan_for("192.168.56.0/24"), lab_dir)
    assert cached.exists(), "an unchanged render must keep the facts (gathering = smart)"

    render_into(plan_for("192.168.77.0/24"), lab_dir)
    assert not (lab_dir / "facts").exists(), "facts of the old addresses survived the new network"


def test_destroy_drops_the_cached_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labctl.lab.kubeconfig.remove_from_user_config", lambda _context: False)
    plan = plan_for("192.168.56.0/24")
    lab_dir = tmp_path / ".labctl" / "demo"
    render_into(plan, lab_dir)
    cache_facts(lab_dir)

    done = list(destroy_lab(plan, lab_dir))

    assert not (lab_dir / "facts").exists()
    assert "removed the cached Ansible facts" in done
    assert (lab_dir / "secrets" / "k3s-token").exists(), "destroy keeps the lab's secrets"
