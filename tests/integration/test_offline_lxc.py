"""An offline lab on test-bed hosts as cut off as a venue without internet (issue 18).

The test bed's hosts normally reach Debian's mirror through the host's NAT, which hid that the
roles refreshed apt in offline mode. Here each host loses its default route for the test, so an
apt update, a package download or an image pull fails as it would at the venue; SSH from the
controller still works (the lab network is on-link). The roles, apt, python-apt and Ansible are
real; K3s is tests/fakes/k3s-fake through the roles' offline path.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.test_ansible_roles import K3S_TAGS, WIPE_K3S, make_lab, run_site, ssh

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

MIRROR = "http://deb.debian.org/debian/dists/bookworm/Release"


@contextlib.contextmanager
def cut_off(hosts: list[Any]) -> Iterator[None]:
    """No route out of the lab network for `hosts`, restored afterwards (the pool is shared)."""
    gateways = {}
    for host in hosts:
        gateways[host.name] = ssh(host, "ip -4 route show default | awk '{print $3; exit}'").strip()
        ssh(host, "ip -4 route del default 2>/dev/null || true")
    try:
        yield
    finally:
        for host in hosts:
            if gateways[host.name]:
                ssh(host, f"ip -4 route replace default via {gateways[host.name]}")


def reaches_mirror(host: Any) -> bool:
    proc = subprocess.run(
        host.ssh_argv(f"curl -fsS -o /dev/null --max-time 10 {MIRROR}", user=host.root_user),
        capture_output=True,
        check=False,
        timeout=60,
    )
    return proc.returncode == 0


def age_apt_lists(host: Any) -> None:
    """Lists older than the role's cache_valid_time (a day), as on a box built last week."""
    ssh(
        host,
        "touch -d '3 days ago' /var/lib/apt/lists /var/lib/apt/lists/* "
        "/var/lib/apt/periodic/update-success-stamp 2>/dev/null || true",
    )


def test_an_offline_lab_reaches_kubeconfig_on_hosts_cut_off_from_every_mirror(
    lxc_host_factory: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    """Before issue 18 the prepare phase refreshed apt here (the lists were a day old) and
    python-apt raised because no mirror answered; now nothing is fetched and K3s still comes up
    from the offline directory."""
    hosts = lxc_host_factory(2)
    for host in hosts:
        ssh(host, WIPE_K3S)
        age_apt_lists(host)
    lab = make_lab(tmp_path, "of", hosts, servers=1)
    with cut_off(hosts):
        assert not any(reaches_mirror(h) for h in hosts), "the hosts must be cut off"
        result = run_site(lab, K3S_TAGS)
    apt_runs = [
        e["event_data"]
        for e in result.events
        if e.get("event") in ("runner_on_ok", "runner_on_failed")
        and e["event_data"].get("resolved_action") == "ansible.builtin.apt"
    ]
    assert apt_runs == [], f"apt ran offline: {[a.get('task') for a in apt_runs]}"
    skipped = {
        e["event_data"].get("task") for e in result.events if e.get("event") == "runner_on_skipped"
    }
    assert "Install the packages every lab machine needs" in skipped
    assert "Fail when a package is missing and there is no network to install it from" not in {
        e["event_data"].get("task") for e in result.events if e.get("event") == "runner_on_failed"
    }
    assert (lab.directory / "kubeconfig").is_file()
    assert reaches_mirror(hosts[0]), "the route must be back for the tests after this one"


def test_a_package_an_offline_host_lacks_is_named_at_once(
    lxc_host_factory: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    """Installing it would wait for a mirror that is not there: the prepare phase stops in
    seconds instead, naming the host and the package."""
    from labctl.tools.ansible import run_playbook

    hosts = lxc_host_factory(1)
    lab = make_lab(tmp_path, "om", hosts, servers=1, agents=0)
    with cut_off(hosts):
        started = time.monotonic()
        result = run_playbook(
            lab.directory,
            tags=["prepare"],
            ident="offline-missing-package",
            extravars={
                "labctl_offline_dir": str(lab.offline),
                "common_packages": ["ca-certificates", "curl", "labctl-not-in-the-box"],
            },
        )
        elapsed = time.monotonic() - started
    assert not result.ok
    [failure] = result.failures
    message = str(failure)
    assert message.startswith("om-server-1: failed at task "), message
    assert "om-server-1 lacks labctl-not-in-the-box, and an offline lab installs no" in message
    assert elapsed < 120, f"the missing package took {elapsed:.0f} s to be named"
