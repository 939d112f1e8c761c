"""labctl.tools.ssh for real, against the test bed's LXC hosts (sshd, its key, user vagrant).

Measured figures are printed (run with -s to see them): per-command time over one reused
connection against a fresh connection per command.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.checks import Status, run_checks
from labctl.errors import (
    CommandTimeoutError,
    HostKeyMismatchError,
    SshAuthError,
    SshUnreachableError,
)
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import RetryPolicy, SshPool, SshTarget

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.root]

QUICK_RETRY = RetryPolicy(attempts=3, first_delay=0.2, factor=2.0, max_delay=1.0, auth_attempts=2)


def target_of(host: object, *, port: int = 22, key: Path | None = None) -> SshTarget:
    return SshTarget(
        name=host.name,  # type: ignore[attr-defined]
        host=host.ip,  # type: ignore[attr-defined]
        port=port,
        user=host.user,  # type: ignore[attr-defined]
        key_file=key or host.key_path,  # type: ignore[attr-defined]
    )


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "lab" / "known_hosts"


@pytest.fixture
def pool(known_hosts: Path) -> Iterator[SshPool]:
    with SshPool(known_hosts, connect_timeout=5.0, retry=QUICK_RETRY) as opened:
        yield opened


def _user_known_hosts() -> bytes | None:
    path = Path.home() / ".ssh" / "known_hosts"
    return path.read_bytes() if path.exists() else None


def test_connect_run_stdin_and_trust_on_first_use(
    lxc_hosts: list[object], pool: SshPool, known_hosts: Path
) -> None:
    before = _user_known_hosts()
    host = lxc_hosts[0]
    target = target_of(host)

    result = pool.run(target, "hostname; id -un; echo to-stderr >&2; exit 3", 10)

    assert (result.exit_status, result.stdout, result.stderr) == (
        3,
        f"{host.name}\nvagrant\n",  # type: ignore[attr-defined]
        "to-stderr\n",
    )
    assert pool.run(target, "sudo -n id -un", 10).stdout == "root\n"
    assert pool.run(target, "cat", 10, stdin="secret on stdin\n").stdout == "secret on stdin\n"
    lines = known_hosts.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{host.name} ssh-")  # type: ignore[attr-defined]
    assert known_hosts.stat().st_mode & 0o777 == 0o600
    assert _user_known_hosts() == before, "~/.ssh/known_hosts must never be touched"


def test_every_host_gets_its_own_line_and_one_connection(
    lxc_hosts: list[object], pool: SshPool, known_hosts: Path
) -> None:
    for host in lxc_hosts:
        assert pool.run(target_of(host), "true", 10).ok
        assert pool.run(target_of(host), "true", 10).ok
    assert pool.connections_opened == len(lxc_hosts)
    names = sorted(line.split()[0] for line in known_hosts.read_text().splitlines())
    assert names == sorted(h.name for h in lxc_hosts)  # type: ignore[attr-defined]


def test_hanging_command_times_out_and_the_connection_survives(
    lxc_hosts: list[object], pool: SshPool
) -> None:
    target = target_of(lxc_hosts[0])
    pool.run(target, "true", 10)
    start = time.monotonic()
    with pytest.raises(CommandTimeoutError) as caught:
        pool.run(target, "sleep 60", 2)
    took = time.monotonic() - start
    print(f"\n`sleep 60` with a 2 s timeout raised after {took:.2f} s")  # noqa: T201
    assert 2.0 <= took < 4.0
    assert "did not finish within 2 s" in caught.value.message
    assert pool.run(target, "echo still-here", 10).stdout == "still-here\n"
    assert pool.connections_opened == 1


def test_refused_port_is_retried_with_backoff_then_fails_fast(
    lxc_hosts: list[object], known_hosts: Path
) -> None:
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    # Port 2 on a test host: nothing listens there, the kernel answers with a reset (refused).
    target = target_of(lxc_hosts[1], port=2)
    with SshPool(known_hosts, connect_timeout=3.0, retry=QUICK_RETRY, sleep=sleep) as pool:
        start = time.monotonic()
        with pytest.raises(SshUnreachableError) as caught:
            pool.run(target, "true", 5)
        first = time.monotonic() - start
        start = time.monotonic()
        with pytest.raises(SshUnreachableError):
            pool.run(target, "true", 5)
        again = time.monotonic() - start
    print(f"\nrefused port: gave up after {first:.2f} s (pauses {pauses}), again {again:.4f} s")  # noqa: T201
    assert pauses == [0.2, 0.4]
    assert "after 3 attempts" in caught.value.message
    assert "refused" in caught.value.message.lower()
    assert "labctl status" in caught.value.hint
    assert again < 0.05, "an unreachable machine must not be retried again in the same run"
    assert not known_hosts.exists()


def test_known_hosts_mismatch_raises_and_keeps_the_file(
    lxc_hosts: list[object], known_hosts: Path, tmp_path: Path
) -> None:
    target = target_of(lxc_hosts[2])
    with SshPool(known_hosts, retry=QUICK_RETRY) as first:
        first.run(target, "true", 10)
    recorded = known_hosts.read_text()
    host_name, key_type, _ = recorded.split()
    assert key_type == "ssh-ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = (tmp_path / "other.pub").read_text().split()
    known_hosts.write_text(f"{host_name} {other[0]} {other[1]}\n")
    forged = known_hosts.read_text()

    with (
        SshPool(known_hosts, retry=QUICK_RETRY) as second,
        pytest.raises(HostKeyMismatchError) as caught,
    ):
        second.run(target, "true", 10)

    assert "presented host key SHA256:" in caught.value.message
    assert str(known_hosts) in caught.value.hint
    assert caught.value.exit_code == 4
    assert known_hosts.read_text() == forged, "a mismatch must not rewrite known_hosts"


def test_wrong_key_is_an_auth_error(
    lxc_hosts: list[object], known_hosts: Path, tmp_path: Path
) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")],
        check=True,
    )
    target = target_of(lxc_hosts[0], key=tmp_path / "stranger")
    with SshPool(known_hosts, retry=QUICK_RETRY) as pool, pytest.raises(SshAuthError) as caught:
        pool.run(target, "true", 10)
    assert "refused the key" in caught.value.message


def test_one_connection_is_reused_for_many_commands(
    lxc_hosts: list[object], known_hosts: Path
) -> None:
    target = target_of(lxc_hosts[0])
    runs = 50
    with SshPool(known_hosts) as pool:
        pool.run(target, "true", 10)
        start = time.monotonic()
        for _ in range(runs):
            assert pool.run(target, "true", 10).ok
        reused = (time.monotonic() - start) / runs
        assert pool.connections_opened == 1
        assert pool.commands_run(target) == runs + 1
    fresh_runs = 10
    start = time.monotonic()
    for _ in range(fresh_runs):
        with SshPool(known_hosts) as once:
            assert once.run(target, "true", 10).ok
    fresh = (time.monotonic() - start) / fresh_runs
    print(  # noqa: T201
        f"\nper command: reused connection {reused * 1000:.1f} ms ({runs} runs), "
        f"fresh connection {fresh * 1000:.1f} ms ({fresh_runs} runs), {fresh / reused:.1f}x"
    )
    assert reused < fresh


def test_checks_run_for_real_over_ssh_on_test_hosts(
    lxc_hosts: list[object], known_hosts: Path
) -> None:
    """The runner through the real SSH pool: the clock check judges real clocks; the datastore
    probe's quoting works through sudo on a real shell (no K3s here, so it must fail)."""
    plan = plan_lab(parse_lab("name: tb\n").lab)
    targets = {
        machine.name: target_of(host)
        for machine, host in zip(plan.machines, lxc_hosts, strict=True)
    }
    start = time.monotonic()
    results = {
        r.name: r
        for r in run_checks(plan, targets, known_hosts, only=["clock", "datastore", "nodes-ready"])
    }
    took = time.monotonic() - start
    summary = "; ".join(f"{r.name} {r.status.value}: {r.message}" for r in results.values())
    print(f"\n3 checks over real SSH in {took:.2f} s: {summary}")  # noqa: T201
    assert results["clock"].status is Status.PASSED, results["clock"].message
    assert results["clock"].message.startswith("3 clocks within 5 s of the host")
    assert results["datastore"].status is Status.FAILED
    assert (
        results["datastore"].message == "no /var/lib/rancher/k3s/server/db/state.db on tb-server-1"
    )
    assert results["nodes-ready"].status is Status.FAILED
    assert results["nodes-ready"].message.startswith("tb-server-1: `sudo k3s kubectl get nodes")
