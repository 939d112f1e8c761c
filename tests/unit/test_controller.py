"""`controller: host | lab | auto` (issue 20): where Ansible runs, and what labctl sends to an
in-lab controller. The pure parts; tests/integration/test_controller_lab_lxc.py runs it."""

from __future__ import annotations

import json
import shlex
import subprocess
from importlib.metadata import metadata, requires

import pytest
import yaml

from labctl import registry
from labctl.lab.controller import (
    MIN_PYTHON,
    PROBE,
    GuestPython,
    Layout,
    inventory,
    known_hosts,
    parse_probe,
    pick_requirements,
    pip_platforms,
    run_arguments,
    run_command,
    safe_member,
)
from labctl.plan import make_plan, resolve_controller
from labctl.spec.model import Lab


@pytest.mark.parametrize(
    ("choice", "platform", "where"),
    [
        ("auto", "linux", "host"),  # WSL says linux too
        ("auto", "darwin", "host"),
        ("auto", "win32", "lab"),
        ("auto", "cygwin", "lab"),
        ("host", "linux", "host"),
        ("lab", "linux", "lab"),
        ("host", "win32", "host"),  # said so; doctor fails it
    ],
)
def test_auto_is_lab_only_where_ansible_cannot_run(choice: str, platform: str, where: str) -> None:
    got, why = resolve_controller(choice, platform)
    assert got == where
    assert why


def test_the_controller_phase_exists_only_in_lab_mode() -> None:
    provider = registry.get("virtualbox")
    windows = make_plan(Lab(name="w"), provider, "win32")
    linux = make_plan(Lab(name="w"), provider, "linux")
    names = [p.name for p in windows.phases]
    assert names.index("controller") == names.index("wait-ssh") + 1
    assert names.index("controller") + 1 == names.index("prepare")
    assert "controller" not in [p.name for p in linux.phases]
    assert windows.to_dict()["controller"] == "lab"
    assert linux.to_dict()["controller"] == "host"


def test_the_venv_gets_labctls_own_pins_of_ansible_core_and_ansible_runner() -> None:
    picked = pick_requirements(requires("labctl") or [])
    assert [r.split(">")[0].split("=")[0].split("<")[0] for r in picked] == [
        "ansible-core",
        "ansible-runner",
    ]
    assert pick_requirements(
        ['ansible-core>=2.19,<2.20; sys_platform != "win32"', "ansible_runner>=2.4", "x>1"]
    ) == ("ansible-core>=2.19,<2.20", "ansible_runner>=2.4")
    with pytest.raises(ValueError, match="ansible-runner"):
        pick_requirements(["ansible-core>=2.19"])


def test_min_python_is_what_the_installed_ansible_core_requires() -> None:
    said = metadata("ansible-core")["Requires-Python"]
    assert said.replace(" ", "") == f">={MIN_PYTHON[0]}.{MIN_PYTHON[1]}", said


def test_the_probe_runs_in_a_shell_and_is_parsed() -> None:
    out = subprocess.run(["sh", "-c", PROBE], capture_output=True, text=True, check=True).stdout
    python = parse_probe(out)
    assert python.version >= (3, 11)
    assert python.home.startswith("/")
    parsed = parse_probe('{"version": [3, 12], "machine": "aarch64", "libc": ["glibc", "2.39"], '
                         '"home": "/home/vagrant"}')  # fmt: skip
    assert parsed.tag == "cp312-aarch64"
    assert pip_platforms(parsed)[0] == "manylinux2014_aarch64"
    assert pip_platforms(parsed)[-1] == "manylinux_2_39_aarch64"
    musl = parse_probe('{"version": [3, 12], "machine": "x86_64", "libc": ["", ""], "home": "/"}')
    assert pip_platforms(musl) == []


def _plan():  # type: ignore[no-untyped-def]
    return make_plan(Lab(name="w", agents={"count": 2}), registry.get("virtualbox"), "win32")


def test_the_controllers_inventory_reaches_machines_on_the_private_network_pinned() -> None:
    plan = _plan()
    layout = Layout.for_lab("/home/vagrant", "w")
    text = inventory(plan, {m.name: "vagrant" for m in plan.machines}, layout)
    data = yaml.safe_load(text)["all"]
    assert data["vars"]["ansible_ssh_private_key_file"] == str(layout.key)
    common = shlex.split(data["vars"]["ansible_ssh_common_args"])
    assert f"UserKnownHostsFile={layout.known_hosts}" in common
    assert "StrictHostKeyChecking=yes" in common
    for machine in plan.machines:
        host = data["hosts"][machine.name]
        assert (host["ansible_host"], host["ansible_port"]) == (machine.ip, 22)
        assert host["ansible_ssh_extra_args"] == f"-o HostKeyAlias={machine.name}"
    lines = known_hosts([("w-server-1", "ssh-ed25519", "AAAA")])
    assert lines == "w-server-1 ssh-ed25519 AAAA\n"


def test_the_run_command_carries_the_host_modes_arguments_quoted() -> None:
    layout = Layout.for_lab("/home/o'brien", "w")
    arguments = run_arguments(layout, ident="1-prepare", tags=["prepare"], playbook="site.yml",
                              verbosity=0, limit=None, extravars={"a": "b c"})  # fmt: skip
    command = run_command(layout, arguments)
    words = shlex.split(command)
    assert json.loads(words[-1]) == arguments
    assert arguments["tags"] == "prepare"
    assert arguments["private_data_dir"] == "/home/o'brien/.labctl-controller/w/project"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("runs/1-prepare/status", True),
        ("runs/1-prepare/job_events/1.json", True),
        ("runs/other/status", False),
        ("secrets/k3s-token", True),
        ("kubeconfig", True),
        ("kubeconfig/x", False),
        ("../etc/passwd", False),
        ("/etc/passwd", False),
        ("secrets/../../x", False),
        ("ansible.cfg", False),
    ],
)
def test_only_the_runs_artifacts_secrets_and_kubeconfig_come_back(name: str, safe: bool) -> None:
    assert safe_member(name, "1-prepare") is safe


def test_layout_lives_in_the_login_users_home() -> None:
    layout = Layout.for_lab("/home/vagrant", "w")
    assert str(layout.root) == "/home/vagrant/.labctl-controller/w"
    assert (
        str(layout.key) == "/home/vagrant/.labctl-controller/w/project/secrets/controller-ed25519"
    )
    assert GuestPython((3, 11), "x86_64", (2, 36), "/").tag == "cp311-x86_64"
