"""The SSH edge's pure parts: paramiko stays unimported until a connection, backoff is bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labctl.tools.ssh import CommandResult, RetryPolicy, SshTarget


def test_importing_checks_and_ssh_does_not_import_paramiko() -> None:
    probe = (
        "import sys, labctl.checks, labctl.checks.replay, labctl.tools.ssh; "
        "print('paramiko' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, first_delay=0.5, factor=2.0, max_delay=3.0)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_default_backoff_waits_long_enough_for_a_booting_machine() -> None:
    assert 20 <= sum(RetryPolicy().delays()) <= 60


def test_target_and_result_are_values() -> None:
    target = SshTarget("demo-server-1", "127.0.0.1", 2222, "vagrant", Path("/lab/key"))
    assert target.address == "127.0.0.1:2222"
    assert {target: 1}[SshTarget("demo-server-1", "127.0.0.1", 2222, "vagrant", Path("/lab/key"))]
    assert CommandResult(0, "", "", 0.1).ok
    assert not CommandResult(1, "", "", 0.1).ok
