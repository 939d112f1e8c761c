"""`provider: ssh` without machines: lab.yaml's `machines:`/`jump_hosts:`, their one-line
errors, the plan and files it gives, and the commands a lab of your own machines refuses.

The machines themselves (preflight over SSH, up, destroy's uninstall) are exercised on the test
bed: tests/integration/test_ssh_provider_lxc.py.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from labctl.cli.app import main
from labctl.errors import SpecError
from labctl.lab.labdir import render_into
from labctl.registry import plan_lab
from labctl.render import ssh_inventory
from labctl.spec.loader import load_lab, parse_lab
from labctl.tools.ssh import SshTarget

ISSUE_EXAMPLE = """\
name: pis
provider: ssh
machines:
  - {name: pi-1, role: server, address: 10.0.0.21, user: ubuntu, key: KEY}
  - {name: pi-2, role: agent,  address: 10.0.0.22, user: ubuntu, key: KEY}
  - {name: pi-3, role: agent, address: 10.0.0.23, port: 2222, user: ubuntu, key: KEY, jump: bastion}
jump_hosts:
  bastion: {address: gw.example.net, user: ops, key: KEY}
"""


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text("not read by these tests\n")
    path.chmod(0o600)
    return path


def spec_file(tmp_path: Path, key: Path, text: str = ISSUE_EXAMPLE) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("KEY", str(key)))
    return path


def test_the_issue_example_plans_three_named_machines_and_boots_nothing(
    tmp_path: Path, key: Path
) -> None:
    lab = load_lab(spec_file(tmp_path, key)).lab
    assert (lab.servers.count, lab.agents.count) == (1, 2)
    plan = plan_lab(lab)
    assert [(m.name, m.role.value, m.ip) for m in plan.machines] == [
        ("pi-1", "server", "10.0.0.21"),
        ("pi-2", "agent", "10.0.0.22"),
        ("pi-3", "agent", "10.0.0.23"),
    ]
    phases = [p.name for p in plan.phases]
    assert "boot" not in phases
    assert "baseline" not in phases
    assert phases[:3] == ["preflight", "render", "wait-ssh"]
    assert plan.network.cidr == "10.0.0.20/30"
    written = {
        str(w.path.relative_to(tmp_path / "lab")) for w in render_into(plan, tmp_path / "lab")
    }
    assert "Vagrantfile" not in written
    hosts = yaml.safe_load((tmp_path / "lab" / "inventory" / "hosts.yml").read_text())
    assert hosts["all"]["children"]["agent"]["hosts"]["pi-3"] == {"node_ip": "10.0.0.23"}


def test_a_host_name_address_needs_node_ip_which_k3s_then_uses(tmp_path: Path, key: Path) -> None:
    text = ISSUE_EXAMPLE.replace("address: 10.0.0.23", "address: pi-3.lan")
    with pytest.raises(SpecError) as refused:
        load_lab(spec_file(tmp_path, key, text))
    assert refused.value.lines()[0].startswith(f"{tmp_path}/lab.yaml:6:")
    assert "add `node_ip:`" in str(refused.value)
    text = text.replace("jump: bastion}", "jump: bastion, node_ip: 10.0.0.33}")
    plan = plan_lab(load_lab(spec_file(tmp_path, key, text)).lab)
    assert plan.machines[2].ip == "10.0.0.33"


def test_targets_reach_each_machine_as_written_and_through_its_jump_host(
    tmp_path: Path, key: Path
) -> None:
    plan = plan_lab(load_lab(spec_file(tmp_path, key)).lab)
    targets = plan.provider.ssh_targets(plan)
    assert targets is not None
    bastion = SshTarget("bastion", "gw.example.net", 22, "ops", key)
    assert targets["pi-3"] == SshTarget("pi-3", "10.0.0.23", 2222, "ubuntu", key, bastion)
    assert targets["pi-1"].jump is None


def test_the_inventory_refuses_unknown_keys_and_leaves_out_a_missing_key_file() -> None:
    known = PurePosixPath("/lab/known_hosts")
    targets = {"pi-1": SshTarget("pi-1", "10.0.0.21", 22, "ubuntu", None)}
    text = ssh_inventory(targets, known, pinned_first=True)
    data = yaml.safe_load(text)
    assert "StrictHostKeyChecking=yes" in data["all"]["vars"]["ansible_ssh_common_args"]
    assert "ansible_ssh_private_key_file" not in data["all"]["hosts"]["pi-1"]
    vagrant = yaml.safe_load(ssh_inventory(targets, known))
    assert "StrictHostKeyChecking=accept-new" in vagrant["all"]["vars"]["ansible_ssh_common_args"]


BAD = [
    # (replace this, with this, line, what the message says)
    ("name: pi-2, role: agent", "name: pi-1, role: agent", 5, "give each machine its own name"),
    ("jump: bastion", "jump: bastoin", 6, "no jump host 'bastoin' in jump_hosts (bastion)"),
    ("address: 10.0.0.22", "address: ubuntu@10.0.0.22", 5, "write `address: 10.0.0.22`"),
    ("address: 10.0.0.22", "address: 10.0.0.22:22", 5, "give the port as `port:`"),
    ("port: 2222", "port: 70000", 6, "must be at most 65535"),
    ("user: ops", "user: 'o ps'", 8, "is not a user name"),
    ("role: agent,  address: 10.0.0.22", "role: worker, address: 10.0.0.22", 5, "is not allowed"),
    ("role: server", "role: agent", 4, "no machine has `role: server`"),
    ("role: agent,  address: 10.0.0.22", "role: gitlab, address: 10.0.0.22", 5,
     "GitLab is not enabled"),
    ("address: 10.0.0.22", "address: 10.0.0.21", 5, "is also machines[0]"),
    ("user: ubuntu, key: KEY}\n  - {name: pi-2", "user: ubuntu, key: KEY, node_ip: 10.0.0.22}\n"
     "  - {name: pi-2", 5, "10.0.0.22 is also the node address"),
    ("jump: bastion}", "jump: bastion, node_ip: 10.0.0.300}", 6, "is not an IPv4 address"),
    ("name: pi-3", "name: Pi_3", 6, "is not a DNS label"),
    ("name: pis\n", "name: pis\nservers: {count: 3}\n", 2, "remove servers.count"),
    ("provider: ssh", "provider: lxc", 4, "only the ssh provider reads `machines:`"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "line", "says"), BAD, ids=[b[3][:30] for b in BAD])
def test_each_bad_key_is_one_line_naming_file_line_and_what_to_do(
    tmp_path: Path, key: Path, old: str, new: str, line: int, says: str
) -> None:
    assert old in ISSUE_EXAMPLE
    path = spec_file(tmp_path, key, ISSUE_EXAMPLE.replace(old, new))
    with pytest.raises(SpecError) as refused:
        load_lab(path)
    lines = refused.value.lines()
    assert any(f"lab.yaml:{line}:" in ln and says in ln for ln in lines), lines


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.unlink(), "no such file or directory"),
        (lambda p: p.chmod(0o644), "can be read by others (mode 0644)"),
        (lambda p: (p.unlink(), p.mkdir()), "is not a file"),
    ],
    ids=["missing", "world-readable", "directory"],
)
def test_a_key_file_must_exist_and_be_private(
    tmp_path: Path, key: Path, make: object, says: str
) -> None:
    path = spec_file(tmp_path, key)
    make(key)  # type: ignore[operator]
    with pytest.raises(SpecError) as refused:
        load_lab(path)
    lines = refused.value.lines()
    assert len([ln for ln in lines if says in ln]) == 4, lines  # three machines, one jump host
    assert "lab.yaml:4:" in lines[0]


def test_a_relative_key_path_is_refused_with_the_path_to_write() -> None:
    with pytest.raises(SpecError) as refused:
        parse_lab(
            ISSUE_EXAMPLE.replace("KEY}\n  - {name: pi-2", "pi}\n  - {name: pi-2").replace(
                "KEY", "/k"
            )
        )
    assert "'pi' is relative; write the key's path from / or ~/" in str(refused.value)


def test_an_ssh_lab_without_machines_says_what_to_add() -> None:
    with pytest.raises(SpecError) as refused:
        parse_lab("name: x\nprovider: ssh\n")
    assert "add `machines:`" in str(refused.value)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["halt"], "cannot halt them"),
        (["snapshot", "save", "before"], "since snapshots need a hypervisor"),
        (["snapshot", "list"], "since snapshots need a hypervisor"),
        (["reset"], "since only a hypervisor can put a machine back"),
    ],
)
def test_commands_that_need_a_hypervisor_are_refused_saying_why(
    tmp_path: Path,
    key: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    why: str,
) -> None:
    spec_file(tmp_path, key)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2
    assert why in err
    assert "Traceback" not in err
    assert not (tmp_path / ".labctl" / "pis" / "state.json").exists()


def test_destroy_of_a_lab_never_provisioned_says_so_and_keeps_the_machines(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file(tmp_path, key)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["destroy", "--yes"], capsys)
    assert code == 0, err
    assert "destroy keeps them and uninstalls what labctl installed" in out
    assert "nothing to uninstall: labctl never provisioned pi-1, pi-2, pi-3" in out
    assert "the machines are as labctl found them" in out
