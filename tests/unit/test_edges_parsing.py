"""The pure parts of the edges: Vagrant's output, Ansible's failure events, ssh.yml."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import yaml

from labctl.render import ssh_inventory
from labctl.tools.ansible import HostFailure, PlaybookResult, failure_from_event
from labctl.tools.ssh import SshTarget
from labctl.tools.vagrant import MachineStatus, parse_ssh_config, parse_status

SSH_CONFIG = """Host demo-server-1
  HostName 192.168.56.10
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /lab/.vagrant/machines/demo-server-1/lxc/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host demo-agent-1
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/a b/.vagrant/machines/demo-agent-1/virtualbox/private_key"
"""

STATUS = """1700000000,demo-server-1,metadata,provider,lxc
1700000000,demo-server-1,provider-name,lxc
1700000000,demo-server-1,state,running
1700000000,demo-server-1,state-human-short,running
1700000000,demo-agent-1,provider-name,lxc
1700000000,demo-agent-1,state,not_created
1700000000,,ui,info,Current machine states:
"""


def test_ssh_config_is_parsed_per_machine_with_quoted_paths() -> None:
    hosts = parse_ssh_config(SSH_CONFIG)
    assert hosts["demo-server-1"]["hostname"] == "192.168.56.10"
    assert hosts["demo-agent-1"]["port"] == "2200"
    assert hosts["demo-agent-1"]["identityfile"].startswith("/home/a b/")


def test_status_lists_machines_in_vagrantfile_order() -> None:
    assert parse_status(STATUS) == [
        MachineStatus("demo-server-1", "running", "lxc"),
        MachineStatus("demo-agent-1", "not_created", "lxc"),
    ]


def test_failed_and_unreachable_events_become_host_failures() -> None:
    failed = {
        "event": "runner_on_failed",
        "event_data": {
            "host": "demo-agent-1",
            "task": "Join the cluster",
            "res": {"msg": "non-zero return code", "stderr": "line1\nconnection refused"},
        },
    }
    assert failure_from_event(failed) == HostFailure(
        "demo-agent-1", "Join the cluster", "non-zero return code"
    )
    unreachable = {
        "event": "runner_on_unreachable",
        "event_data": {
            "host": "demo-server-1",
            "task": "Gathering Facts",
            "res": {"msg": "Failed to connect to the host via ssh"},
        },
    }
    found = failure_from_event(unreachable)
    assert found is not None
    assert found.unreachable
    assert str(found).startswith("demo-server-1: unreachable at task 'Gathering Facts'")
    ignored = {"event": "runner_on_failed", "event_data": {"ignore_errors": True}}
    assert failure_from_event(ignored) is None
    censored = {
        "event": "runner_on_failed",
        "event_data": {"host": "h", "task": "t", "res": {"censored": "hidden"}},
    }
    assert str(failure_from_event(censored)).endswith("(output hidden: the task handles a secret)")


def test_a_run_is_ok_only_when_status_rc_and_hosts_all_agree() -> None:
    base = {"artifacts": Path("/x"), "elapsed": 1.0}
    assert PlaybookResult("successful", 0, **base).ok  # type: ignore[arg-type]
    assert not PlaybookResult("successful", 2, **base).ok  # type: ignore[arg-type]
    assert not PlaybookResult("failed", 0, **base).ok  # type: ignore[arg-type]
    canceled = PlaybookResult("canceled", 254, **base)  # type: ignore[arg-type]
    assert canceled.canceled
    assert not canceled.ok
    failure = (HostFailure("h", "t", "m"),)
    assert not PlaybookResult("successful", 0, failures=failure, **base).ok  # type: ignore[arg-type]


def test_ssh_inventory_pins_the_labs_known_hosts() -> None:
    targets = {
        "demo-server-1": SshTarget("demo-server-1", "192.168.56.10", 22, "vagrant", Path("/k 1")),
    }
    doc = yaml.safe_load(ssh_inventory(targets, PurePosixPath("/lab/.labctl/demo/known_hosts")))
    host = doc["all"]["hosts"]["demo-server-1"]
    assert host == {
        "ansible_host": "192.168.56.10",
        "ansible_port": 22,
        "ansible_user": "vagrant",
        "ansible_ssh_private_key_file": "/k 1",
        "ansible_ssh_extra_args": "-o HostKeyAlias=demo-server-1",
    }
    args = doc["all"]["vars"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/lab/.labctl/demo/known_hosts" in args
    assert "StrictHostKeyChecking=accept-new" in args
