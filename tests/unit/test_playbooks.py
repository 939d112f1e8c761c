"""The Ansible content as CI sees it: yamllint, syntax-check, ansible-lint (production profile).

Argo CD, GitLab and the GitOps demo cannot run on this machine (no downloads), so these gates
plus check mode are what proves those roles here; tests/integration/test_ansible_roles.py runs
the OS prep, K3s and kubeconfig roles for real.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
ROLES = ("common", "k3s_binary", "k3s_server", "k3s_agent", "kubeconfig", "argocd", "gitlab")
PHASE_TAGS = ("prepare", "k3s_server", "k3s_agent", "kubeconfig", "argocd", "gitlab", "gitops")

TINY_INVENTORY = """\
all:
  children:
    server:
      hosts:
        t-server-1: {node_ip: 192.168.56.10}
    agent:
      hosts:
        t-agent-1: {node_ip: 192.168.56.20}
    gitlab:
      hosts:
        t-gitlab: {node_ip: 192.168.56.30}
"""


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


def test_site_has_one_tagged_play_per_phase() -> None:
    plays = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())
    assert tuple(tag for play in plays for tag in play["roles"][0]["tags"]) == PHASE_TAGS
    assert all(play["become"] for play in plays)
    # Untagged plays gather facts under any --tags, so argument validation (which always runs)
    # sees each machine's architecture even in a play the phase skips.
    assert not any("tags" in play for play in plays)
    assert all(len(play["roles"]) == 1 for play in plays)


@pytest.mark.parametrize("role", [*ROLES, "gitops_demo", "uninstall"])
def test_every_role_declares_its_prefixed_inputs(role: str) -> None:
    specs = yaml.safe_load((PLAYBOOKS / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert options, role
    assert all(name.startswith(f"{role}_") for name in options), sorted(options)
    defaults = yaml.safe_load((PLAYBOOKS / "roles" / role / "defaults" / "main.yml").read_text())
    assert set(defaults) <= set(options), set(defaults) - set(options)


def test_yamllint_is_clean() -> None:
    result = run(["yamllint", "-s", "."], PLAYBOOKS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("playbook", ["site.yml", "uninstall.yml"])
def test_syntax_check_passes(tmp_path: Path, playbook: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(TINY_INVENTORY)
    result = run(
        ["ansible-playbook", "--syntax-check", "-i", str(inventory), str(PLAYBOOKS / playbook)],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_ansible_lint_production_profile_passes_offline() -> None:
    assert shutil.which("ansible-lint"), "ansible-lint is a test dependency (pip install .[test])"
    result = run(["ansible-lint", "--offline", "-c", ".ansible-lint"], PLAYBOOKS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr
