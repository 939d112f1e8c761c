"""Machines behind a jump host: reading vagrant-libvirt's ProxyCommand, and the OpenSSH options
(`labctl ssh`, Ansible's inventory, handouts) that follow it with the jump host's key pinned.

The `vagrant ssh-config` text for a machine on a remote hypervisor is made by the real code that
makes it: vagrant-libvirt 0.11's Config#finalize! given the URI labctl renders (the Ruby
expression of the golden Vagrantfile's `lv.uri`), printed through Vagrant 2.3's own ssh_config
template. The test bed's jump topology (tests/integration/test_jump_hosts_lxc.py) proves the
options against real OpenSSH and Ansible.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from labctl.errors import BootError, StateError
from labctl.lab.kubeconfig import tunnel_config
from labctl.lab.targets import load_targets, save_targets
from labctl.providers.libvirt import libvirt_uri
from labctl.render import proxy_command, ssh_argv, ssh_forward_argv, ssh_inventory
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import SshTarget
from labctl.tools.vagrant import jump_from_proxy_command, targets_from_ssh_config

GEMS = Path("/usr/share/rubygems-integration/all/gems")
# vagrant ssh-config for one machine, as Vagrant 2.3 renders it for a libvirt machine whose
# Config was finalized from the URI labctl writes.
SSH_CONFIG_RB = r"""
require "erb"
require "vagrant"
require "vagrant-libvirt/config"
conf = VagrantPlugins::ProviderLibvirt::Config.new
conf.uri = eval(ARGV[0])
conf.finalize!
host_key = "team-01-server-1"
ssh_host = "192.168.121.37"
ssh_user = "vagrant"
ssh_port = 22
verify_host_key = :never
private_key_path = ["/labs/.vagrant/machines/team-01-server-1/libvirt/private_key"]
keys_only = true
log_level = nil
forward_agent = false
forward_x11 = false
config = nil
proxy_command = conf.proxy_command
puts ERB.new(File.read(ARGV[1]), trim_mode: "-").result(binding)
"""


def vagrant_ssh_config(libvirt_section: str) -> str:
    """What `vagrant ssh-config` prints for a machine of a remote lab with this section."""
    plugin = sorted(GEMS.glob("vagrant-libvirt-*/lib"))
    template = sorted(GEMS.glob("vagrant-2.*/templates/commands/ssh_config/config.erb"))
    if not (plugin and template and shutil.which("ruby")):
        pytest.skip("needs ruby, vagrant and vagrant-libvirt (apt; .ci/run installs them)")
    spec = f"name: team-01\nprovider: libvirt\nlibvirt: {libvirt_section}\n"
    uri = libvirt_uri(parse_lab(spec).lab.libvirt)
    assert uri is not None
    done = subprocess.run(
        ["ruby", "-I", str(plugin[-1]), "-e", SSH_CONFIG_RB, uri, str(template[-1])],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


def test_a_remote_machine_is_reached_through_its_hypervisor(tmp_path: Path) -> None:
    key = tmp_path / "hv_ed25519"
    text = vagrant_ssh_config(f"{{host: hv1.example.net, username: labs, port: 2222, "
                              f"id_ssh_key_file: '{key}'}}")  # fmt: skip
    assert "ProxyCommand ssh 'hv1.example.net' -p 2222 -l 'labs'" in text
    target = targets_from_ssh_config(text)["team-01-server-1"]
    assert (target.host, target.port, target.user) == ("192.168.121.37", 22, "vagrant")
    assert target.jump == SshTarget("hv1.example.net", "hv1.example.net", 2222, "labs", key)
    assert target.address == "192.168.121.37:22 via hv1.example.net"


def test_a_hypervisor_without_a_key_or_port_is_reached_as_ssh_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "learner")
    text = vagrant_ssh_config("{host: 192.0.2.7}")
    jump = targets_from_ssh_config(text)["team-01-server-1"].jump
    # No -l: OpenSSH's own default, the local user; no -i: the agent and default keys.
    assert jump == SshTarget("192.0.2.7", "192.0.2.7", 22, "learner", None)


def test_a_local_machine_has_no_jump_host() -> None:
    text = (
        "Host demo-server-1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n"
        "  IdentityFile /labs/.vagrant/machines/demo-server-1/virtualbox/private_key\n"
    )
    assert targets_from_ssh_config(text)["demo-server-1"].jump is None


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("ssh hv -l u nc %h %p", "not one host forwarding with -W %h:%p"),
        ("/usr/local/bin/corkscrew proxy 8080 %h %p", "does not run ssh"),
        ("ssh -o StrictHostKeyChecking=no hv -W %h:%p", "it passes -o"),
        ("ssh 'hv -W %h:%p", "No closing quotation"),
        ("ssh hv -p twenty -W %h:%p", "port 'twenty' is not a number"),
    ],
)
def test_a_proxy_command_labctl_cannot_follow_is_refused_naming_it(command: str, why: str) -> None:
    with pytest.raises(BootError) as caught:
        jump_from_proxy_command(command, "team-01-server-1")
    assert why in caught.value.message
    assert "team-01-server-1" in caught.value.message
    assert "proxy_command" in caught.value.hint


JUMP = SshTarget("bastion", "gw.example.net", 2200, "ops", Path("/keys/ops key"))
BEHIND = SshTarget("pis-pi-3", "10.0.0.23", 22, "ubuntu", Path("/keys/pi"), JUMP)


def test_the_proxy_command_pins_the_jump_host_in_the_labs_known_hosts() -> None:
    command = proxy_command(JUMP, "/labs/100% sure/known_hosts")
    words = shlex.split(command)
    assert words[:3] == ["ssh", "-i", "/keys/ops key"]
    assert "HostKeyAlias=bastion" in words
    assert 'UserKnownHostsFile="/labs/100%% sure/known_hosts"' in words  # % is ssh's escape
    assert "StrictHostKeyChecking=accept-new" in words
    assert words[-3:] == ["-W", "%h:%p", "ops@gw.example.net"]


def resolved_by_openssh(argv: list[str]) -> dict[str, str]:
    """`ssh -G` prints the configuration OpenSSH resolved from argv, without connecting."""
    if not shutil.which("ssh"):
        pytest.skip("needs OpenSSH's client")
    resolved = subprocess.run(
        [argv[0], "-G", *argv[1:]], capture_output=True, text=True, check=True, timeout=10
    ).stdout.splitlines()
    return dict(line.split(" ", 1) for line in resolved)


def test_openssh_reads_the_options_as_labctl_means_them() -> None:
    options = resolved_by_openssh(ssh_argv(BEHIND, "/labs/my lab/known_hosts"))
    assert options["hostname"] == "10.0.0.23"
    assert options["hostkeyalias"] == "pis-pi-3"
    assert options["userknownhostsfile"] == "/labs/my lab/known_hosts"
    assert options["proxycommand"] == proxy_command(JUMP, "/labs/my lab/known_hosts")


def test_ansible_gets_the_same_jump_as_one_shell_word() -> None:
    doc = yaml.safe_load(ssh_inventory({"pis-pi-3": BEHIND}, PurePosixPath("/labs/known_hosts")))
    host = doc["all"]["hosts"]["pis-pi-3"]
    assert host["ansible_host"] == "10.0.0.23"
    extra = shlex.split(host["ansible_ssh_extra_args"])  # as Ansible's ssh plugin splits it
    assert extra == [
        "-o", "HostKeyAlias=pis-pi-3",
        "-o", f"ProxyCommand={proxy_command(JUMP, '/labs/known_hosts')}",
    ]  # fmt: skip


def test_a_direct_machines_inventory_is_unchanged() -> None:
    direct = SshTarget("demo-server-1", "127.0.0.1", 2222, "vagrant", Path("/k"))
    host = yaml.safe_load(ssh_inventory({direct.name: direct}, PurePosixPath("/kh")))["all"][
        "hosts"
    ][direct.name]
    assert host["ansible_ssh_extra_args"] == "-o HostKeyAlias=demo-server-1"


def test_ssh_json_keeps_the_jump_host(tmp_path: Path) -> None:
    save_targets(tmp_path, {BEHIND.name: BEHIND})
    assert load_targets(tmp_path) == {BEHIND.name: BEHIND}
    data = json.loads((tmp_path / "ssh.json").read_text())
    assert data[BEHIND.name]["jump"]["name"] == "bastion"


def test_a_damaged_jump_in_ssh_json_is_named(tmp_path: Path) -> None:
    save_targets(tmp_path, {BEHIND.name: BEHIND})
    data = json.loads((tmp_path / "ssh.json").read_text())
    data[BEHIND.name]["jump"] = ["gw"]
    (tmp_path / "ssh.json").write_text(json.dumps(data))
    with pytest.raises(StateError, match=r"ssh\.json is damaged"):
        load_targets(tmp_path)


def test_the_tunnel_forwards_a_local_port_to_the_servers_api_through_the_jump() -> None:
    argv = ssh_forward_argv(BEHIND, "/labs/known_hosts", 16443, "127.0.0.1:6443")
    assert argv[-1] == "ubuntu@10.0.0.23"
    options = resolved_by_openssh(argv)
    assert options["localforward"] == "[127.0.0.1]:16443 [127.0.0.1]:6443"
    assert options["exitonforwardfailure"] == "yes"
    assert options["proxycommand"] == proxy_command(JUMP, "/labs/known_hosts")


def test_the_tunnel_kubeconfig_points_at_the_local_end_and_keeps_the_rest() -> None:
    lab = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.200.0.10:6443",
                                               "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "u", "user": {"client-key-data": "S0VZ"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }  # fmt: skip
    tunnelled = tunnel_config(lab, 16443)
    assert tunnelled["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:16443", "certificate-authority-data": "Q0E="
    }  # fmt: skip
    assert tunnelled["users"] == lab["users"]
    assert lab["clusters"][0]["cluster"]["server"] == "https://10.200.0.10:6443"  # a copy


def tunnel_cli(tmp_path: Path, port: int, targets: dict[str, SshTarget]) -> Any:
    """`labctl kubeconfig tunnel` on a lab that has a kubeconfig and these ssh.json entries."""
    import sys

    spec = tmp_path / "lab.yaml"
    spec.write_text("name: tl\nprovider: lxc\nagents: {count: 1}\n", encoding="utf-8")
    lab_dir = tmp_path / ".labctl" / "tl"
    lab_dir.mkdir(parents=True)
    (lab_dir / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x:6443'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    save_targets(lab_dir, targets)
    return subprocess.run(
        [sys.executable, "-m", "labctl", "kubeconfig", "tunnel", "-f", str(spec), "--port",
         str(port)], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_a_tunnel_port_in_use_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = SshTarget("tl-server-1", "10.0.0.23", 22, "vagrant", Path("/k"), JUMP)
        done = tunnel_cli(tmp_path, port, {server.name: server})
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: port {port} on 127.0.0.1 cannot be used here")
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".labctl" / "tl" / "kubeconfig-tunnel").exists()


def test_a_tunnel_to_a_server_ssh_json_does_not_name_says_to_run_up(tmp_path: Path) -> None:
    agent = SshTarget("tl-agent-1", "10.0.0.24", 22, "vagrant", Path("/k"))
    done = tunnel_cli(tmp_path, 16443, {agent.name: agent})
    assert done.returncode != 0
    assert "tl-server-1 (not in ssh.json)" in done.stderr
    assert "labctl up" in done.stderr
    assert "Traceback" not in done.stderr
