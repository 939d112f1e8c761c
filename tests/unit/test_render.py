"""Rendered lab files against reviewed golden copies (regenerate with --update-golden)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import jinja2
import pytest
import yaml

from labctl.registry import plan_lab
from labctl.render import LabPaths, render
from labctl.spec.loader import parse_lab
from tests.unit.specs import PROVIDERS, SHAPES, spec_text

GOLDEN = Path(__file__).parent / "golden"
LAB_DIR = PurePosixPath("/home/learner/labs/.labctl")


def rendered(shape: str, provider: str) -> dict[str, str]:
    lab = parse_lab(spec_text(shape, provider)).lab
    return dict(render(plan_lab(lab), LabPaths(LAB_DIR / lab.name)))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rendered_files_match_golden(shape: str, provider: str, update_golden: bool) -> None:
    files = rendered(shape, provider)
    folder = GOLDEN / f"{shape}-{provider}"
    for rel, content in files.items():
        golden = folder / rel
        if update_golden:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(content, encoding="utf-8")
        assert golden.read_text(encoding="utf-8") == content, (
            f"{golden} differs; review, then --update-golden"
        )
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(files), "golden folder holds files the renderer no longer writes"


def test_rendering_twice_is_byte_identical() -> None:
    assert rendered("full", "virtualbox") == rendered("full", "virtualbox")


def test_inventory_groups_and_node_ips_follow_the_plan() -> None:
    files = rendered("full", "libvirt")
    inventory = yaml.safe_load(files["inventory/hosts.yml"])["all"]["children"]
    assert inventory["server"]["hosts"] == {"full-server-1": {"node_ip": "192.168.56.10"}}
    assert set(inventory["agent"]["hosts"]) == {"full-agent-1", "full-agent-2"}
    assert inventory["gitlab"]["hosts"] == {"full-gitlab": {"node_ip": "192.168.56.13"}}
    empty = yaml.safe_load(rendered("default", "virtualbox")["inventory/hosts.yml"])
    assert empty["all"]["children"]["gitlab"] == {"hosts": {}}


def test_group_vars_carry_the_lab_and_name_secret_files_only() -> None:
    gv = yaml.safe_load(rendered("full", "virtualbox")["inventory/group_vars/all.yml"])
    assert gv["labctl_k3s_datastore"] == "sqlite"
    assert gv["labctl_k3s_disable"] == ["servicelb"]
    assert gv["labctl_k3s_server_args"] == ["--kube-apiserver-arg=audit-log-maxage=7"]
    assert gv["labctl_k3s_token_file"] == "/home/learner/labs/.labctl/full/secrets/k3s-token"
    assert [h["name"] for h in gv["labctl_hosts"]] == [
        "full-server-1", "full-agent-1", "full-agent-2", "full-gitlab",
    ]  # fmt: skip
    assert not any("token" in k and not k.endswith("_file") for k in gv)


def test_ansible_cfg_is_tuned_for_speed() -> None:
    cfg = rendered("ha", "virtualbox")["ansible.cfg"]
    for setting in ("pipelining = True", "forks = 5", "gathering = smart", "ControlPersist="):
        assert setting in cfg


def test_vagrantfile_has_one_machine_per_plan_entry_and_no_provisioner() -> None:
    vagrantfile = rendered("ha", "virtualbox")["Vagrantfile"]
    assert vagrantfile.count("config.vm.define") == 5
    assert 'config.vm.define "ha-server-1", primary: true' in vagrantfile
    assert "vm.provision" not in vagrantfile
    assert 'netmask: "255.255.255.0"' in vagrantfile
    assert "vb.memory = 1024" in vagrantfile  # agents: 1GiB


def test_spec_values_cannot_run_ruby_in_the_vagrantfile() -> None:
    lab = parse_lab("name: demo\nbox: 'evil/#{`touch /tmp/pwned`}'\n").lab
    vagrantfile = render(plan_lab(lab), LabPaths(LAB_DIR / "demo"))["Vagrantfile"]
    assert 'node.vm.box = "evil/\\#{`touch /tmp/pwned`}"' in vagrantfile
    assert "#{`" not in vagrantfile.replace("\\#{`", "")


@pytest.mark.parametrize(
    ("fact", "arch"), [("x86_64", "amd64"), ("aarch64", "arm64"), ("riscv64", "riscv64")]
)
def test_arch_comes_from_each_machines_facts(fact: str, arch: str) -> None:
    """labctl_arch is resolved by Ansible from the machine's `architecture` fact (an arm64 box
    gets k3s-arm64 and its airgap images); evaluated here with Jinja, as Ansible does. An
    unknown one passes through for the roles' argument specs to refuse by name."""
    gv = yaml.safe_load(rendered("default", "virtualbox")["inventory/group_vars/all.yml"])
    # No HTML here: a variable's Jinja expression, evaluated as Ansible would.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701
    value = env.from_string(gv["labctl_arch"])
    facts = {"architecture": fact}
    assert value.render(labctl_arch_names=gv["labctl_arch_names"], ansible_facts=facts) == arch
