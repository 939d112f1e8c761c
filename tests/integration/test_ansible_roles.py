"""site.yml run for real, through ansible-runner, on the test bed's LXC hosts.

The OS prep runs in full; K3s goes through the roles' offline path with tests/fakes/k3s-fake, a
test double of the k3s binary (K3s cannot be downloaded here), so config.yaml, the token, the
units, the waits and the modes are real while no claim that K3s works rests on these tests. The
kubeconfig role fetches and rewrites what the fake wrote, as it would a real K3s's.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [pytest.mark.integration, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
FAKE_K3S = ROOT / "tests" / "fakes" / "k3s-fake"
DEMO_IMAGE_FILE = "demo-image-docker.io-traefik-whoami-v1.10.3.tar"
FAKE_VERSION = "v1.31.12+k3s1"  # what the fake's `k3s --version` reports
K3S_TAGS = "prepare,k3s_server,k3s_agent,kubeconfig"


@dataclass
class Lab:
    """A lab directory exactly as labctl renders it, on test-bed hosts, plus its secrets."""

    name: str
    directory: Path
    hosts: dict[str, Any]  # inventory name -> test bed Host
    offline: Path

    @property
    def runs(self) -> Path:
        return self.directory / "runner"

    @property
    def secrets(self) -> dict[Path, str]:
        """Every secret labctl generated for the lab: what the grep must never find elsewhere."""
        folder = self.directory / "secrets"
        return {path: path.read_text().strip() for path in sorted(folder.iterdir())}

    @property
    def token(self) -> str:
        return (self.directory / "secrets" / "k3s-token").read_text().strip()


def make_offline_dir(target: Path) -> Path:
    """K3s's release files, by their release names: the fake binary, sums, an images placeholder."""
    target.mkdir()
    shutil.copy2(FAKE_K3S, target / "k3s")
    (target / "k3s-airgap-images-amd64.tar.zst").write_bytes(b"airgap placeholder for k3s-fake\n")
    sums = [
        f"{hashlib.sha256((target / name).read_bytes()).hexdigest()}  {name}"
        for name in ("k3s", "k3s-airgap-images-amd64.tar.zst")
    ]
    (target / "sha256sum-amd64.txt").write_text("\n".join(sums) + "\n")
    # The demo app's image, as `bundle fetch` names it; k3s-fake imports nothing, so a stand-in.
    (target / DEMO_IMAGE_FILE).write_bytes(b"docker-archive placeholder for k3s-fake\n")
    return target


def make_lab(
    tmp: Path,
    name: str,
    bed_hosts: list[Any],
    servers: int,
    *,
    agents: int | None = None,
    disable: str = "[servicelb]",
    addons: str = "",
) -> Lab:
    """Spec -> plan -> `render_into`, as `labctl up` does; the test-bed hosts are the machines
    (their addresses are the plan's: both count from .10 of the test-bed network)."""
    import labctl_testbed as tb  # on sys.path through tests/integration/conftest.py

    from labctl.lab.labdir import render_into, write_atomic
    from labctl.registry import plan_lab
    from labctl.render import ssh_inventory
    from labctl.spec.loader import parse_lab
    from labctl.tools.ssh import SshTarget

    spec = "\n".join([
        f"name: {name}",
        "provider: lxc",
        f"network: {{cidr: {tb.HOSTS_CIDR}}}",
        f"servers: {{count: {servers}, memory: 1024}}",
        f"agents: {{count: {len(bed_hosts) - servers if agents is None else agents}, memory: 512}}",
        f"k3s: {{version: {FAKE_VERSION}, disable: {disable},",
        f"      server_args: ['--node-label=lab={name}', '--kubelet-arg=max-pods=150'],",
        f"      agent_args: ['--node-label=lab={name}']}}",
        addons,
    ])  # fmt: skip
    plan = plan_lab(parse_lab(spec).lab)
    lab_dir = tmp / ".labctl" / name
    render_into(plan, lab_dir)
    named = {}
    for machine, host in zip(plan.machines, bed_hosts, strict=True):
        assert machine.ip == host.ip, f"{machine.name}: planned {machine.ip}, host {host.ip}"
        named[machine.name] = host
    targets = {n: SshTarget(n, h.ip, 22, h.user, h.key_path) for n, h in named.items()}
    known_hosts = PurePosixPath((lab_dir / "known_hosts").as_posix())
    write_atomic(lab_dir / "inventory" / "ssh.yml", ssh_inventory(targets, known_hosts))
    return Lab(name, lab_dir, named, make_offline_dir(tmp / "offline"))


def run_site(lab: Lab, tags: str, extravars: dict[str, Any] | None = None) -> Any:
    """site.yml through ansible-runner; fails the test unless status and rc both say success."""
    import ansible_runner

    from labctl.tools.ansible import FACT_CACHE_FROM_CONFIG

    lab.runs.mkdir(exist_ok=True)
    result = ansible_runner.run(
        private_data_dir=str(lab.runs),
        project_dir=str(PLAYBOOKS),
        playbook="site.yml",
        inventory=str(lab.directory / "inventory"),
        tags=tags,
        extravars={"labctl_offline_dir": str(lab.offline), **(extravars or {})},
        quiet=True,
        # -vv shows module arguments and results: the secret grep below must still find nothing.
        verbosity=2,
        # The lab's own ansible.cfg, as `labctl up` runs it (pipelining, one persistent SSH
        # connection per host, the lab's fact cache, host keys pinned in the lab's known_hosts):
        # the roles are proven under the settings they ship with, and each task costs one round
        # trip instead of a fresh SSH handshake and a file copy per host.
        envvars={
            "ANSIBLE_CONFIG": str(lab.directory / "ansible.cfg"),
            "ANSIBLE_LOG_PATH": str(lab.directory / "ansible.log"),
        },
        fact_cache_type=FACT_CACHE_FROM_CONFIG,
        timeout=900,
    )
    failed = [
        e["event_data"].get("host")
        for e in result.events
        if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
        and not e["event_data"].get("ignore_errors")
    ]
    report = f"site.yml {result.status} rc={result.rc} failed hosts={failed}\n"
    assert result.status == "successful", report + result.stdout.read()[-6000:]
    assert result.rc == 0, report
    return result


def ssh(host: Any, command: str) -> str:
    proc = subprocess.run(
        host.ssh_argv(command, user=host.root_user),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, f"{host.name}: {command}: {proc.stderr}"
    return proc.stdout


def iface_of(host: Any) -> str:
    for line in ssh(host, "ip -o -4 addr show").splitlines():
        parts = line.split()
        if parts[3].split("/")[0] == host.ip:
            return parts[1]
    raise AssertionError(f"no interface with {host.ip} on {host.name}")


def assert_no_secret_anywhere(lab: Lab) -> None:
    secrets = lab.secrets
    assert secrets, "labctl generated no secrets to look for"
    hits = [
        str(path)
        for path in sorted(lab.directory.rglob("*"))
        if path.is_file() and path not in secrets
        for secret in secrets.values()
        if secret.encode() in path.read_bytes()
    ]
    assert (lab.runs / "artifacts").is_dir()
    assert (lab.directory / "ansible.log").is_file()
    assert hits == [], f"secrets found in run artifacts/logs: {hits}"


def changed_total(result: Any) -> dict[str, int]:
    return {host: n for host, n in (result.stats or {}).get("changed", {}).items() if n}


def assert_server(lab: Lab, name: str, *, primary: str) -> dict[str, Any]:
    host = lab.hosts[name]
    config = yaml.safe_load(ssh(host, "cat /etc/rancher/k3s/config.yaml"))
    assert config["node-name"] == name
    assert config["node-ip"] == host.ip
    assert config["advertise-address"] == host.ip
    assert config["flannel-iface"] == iface_of(host)
    assert host.ip in config["tls-san"]
    assert config["write-kubeconfig-mode"] == "0600"
    assert config["token-file"] == "/etc/rancher/k3s/cluster-token"
    assert "token" not in config
    assert config["disable"] == ["servicelb"]
    assert config["node-label"] == f"lab={lab.name}"
    assert config["kubelet-arg"] == "max-pods=150"
    modes = ssh(
        host,
        "stat -c '%n %a' /etc/rancher/k3s/k3s.yaml /etc/rancher/k3s/cluster-token "
        "/etc/rancher/k3s/config.yaml",
    ).split()
    assert modes == [
        "/etc/rancher/k3s/k3s.yaml", "600",
        "/etc/rancher/k3s/cluster-token", "600",
        "/etc/rancher/k3s/config.yaml", "600",
    ]  # fmt: skip
    assert ssh(host, "cat /etc/rancher/k3s/cluster-token").strip() == lab.token
    assert ssh(host, "systemctl is-enabled k3s; systemctl is-active k3s").split() == [
        "enabled",
        "active",
    ]
    assert FAKE_VERSION in ssh(host, "k3s --version")
    links = ssh(host, "readlink /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/ctr")
    assert links.split() == ["/usr/local/bin/k3s"] * 3
    if name == primary:
        assert "server" not in config
    else:
        assert config["server"] == f"https://{lab.hosts[primary].ip}:6443"
    return config


def assert_common(lab: Lab) -> None:
    for host in lab.hosts.values():
        etc_hosts = ssh(host, "cat /etc/hosts")
        for name, other in lab.hosts.items():
            assert f"{other.ip} {name}" in etc_hosts
        sysctls = ssh(host, "sysctl -n net.ipv4.ip_forward fs.inotify.max_user_watches").split()
        assert sysctls == ["1", "524288"]
        assert "br_netfilter" in ssh(host, "cat /etc/modules-load.d/labctl.conf")
        for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
            state = subprocess.run(
                host.ssh_argv("systemctl", "is-enabled", timer, user=host.root_user),
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            assert state == "disabled", (host.name, timer, state)


def assert_kubeconfig(lab: Lab, primary: str) -> None:
    path = lab.directory / "kubeconfig"
    assert path.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(path.read_text())
    context = f"labctl-{lab.name}"
    assert config["current-context"] == context
    assert [c["name"] for c in config["contexts"]] == [context]
    assert config["clusters"][0]["cluster"]["server"] == f"https://{lab.hosts[primary].ip}:6443"
    assert config["users"][0]["user"]["client-key-data"]


def nodes_ready(host: Any) -> dict[str, str]:
    rows = ssh(host, "k3s kubectl get nodes --no-headers").splitlines()
    return {row.split()[0]: row.split()[1] for row in rows}


@pytest.fixture
def lab_1_server_2_agents(lxc_hosts: list[Any], tmp_path: Path) -> Lab:
    return make_lab(tmp_path, "t1", lxc_hosts[:3], servers=1)


def test_k3s_lab_from_site_yml_is_real_idempotent_and_leaks_no_secret(
    lab_1_server_2_agents: Lab,
) -> None:
    lab = lab_1_server_2_agents
    primary = f"{lab.name}-server-1"
    first = run_site(lab, K3S_TAGS)
    assert changed_total(first), "the first run must change the fresh hosts"

    assert_common(lab)
    config = assert_server(lab, primary, primary=primary)
    assert "cluster-init" not in config  # one server: kine/SQLite
    for agent in (f"{lab.name}-agent-1", f"{lab.name}-agent-2"):
        host = lab.hosts[agent]
        agent_config = yaml.safe_load(ssh(host, "cat /etc/rancher/k3s/config.yaml"))
        assert agent_config == {
            "server": f"https://{lab.hosts[primary].ip}:6443",
            "token-file": "/etc/rancher/k3s/cluster-token",
            "node-name": agent,
            "node-ip": host.ip,
            "flannel-iface": iface_of(host),
            "node-label": f"lab={lab.name}",
        }
        units = ssh(host, "systemctl is-enabled k3s-agent; systemctl is-active k3s-agent")
        assert units.split() == ["enabled", "active"]
    assert nodes_ready(lab.hosts[primary]) == dict.fromkeys(lab.hosts, "Ready")
    assert_kubeconfig(lab, primary)
    # Every node holds the bundle's images beside K3s's airgap tarball, for K3s to import.
    for host in lab.hosts.values():
        images = ssh(host, "ls /var/lib/rancher/k3s/agent/images").split()
        assert images == sorted([DEMO_IMAGE_FILE, "k3s-airgap-images-amd64.tar.zst"]), images

    second = run_site(lab, K3S_TAGS)
    assert changed_total(second) == {}, "second run of site.yml must change nothing"
    assert_no_secret_anywhere(lab)


WIPE_K3S = (
    # "[/]" and the subcommand keep pkill from matching this very shell's command line
    "systemctl disable --now k3s k3s-agent 2>/dev/null; "
    "pkill -f '[/]usr/local/bin/k3s (server|agent)'; "
    "rm -rf /etc/rancher /var/lib/rancher /var/lib/k3s-fake /etc/systemd/system/k3s.service "
    "/etc/systemd/system/k3s-agent.service /usr/local/bin/k3s /usr/local/bin/kubectl "
    "/usr/local/bin/crictl /usr/local/bin/ctr; systemctl daemon-reload; true"
)


def test_ha_servers_join_the_first_one_after_another(
    lxc_host_factory: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lxc_host_factory(4)
    for host in hosts:  # the pool is shared: a K3s (fake) of an earlier lab may still run there
        ssh(host, WIPE_K3S)
    lab = make_lab(tmp_path, "ha", hosts, servers=3)
    primary = f"{lab.name}-server-1"
    run_site(lab, K3S_TAGS)

    assert assert_server(lab, primary, primary=primary)["cluster-init"] is True
    for joining in (f"{lab.name}-server-2", f"{lab.name}-server-3"):
        assert "cluster-init" not in assert_server(lab, joining, primary=primary)
    # Every server answers for the whole cluster, the joined ones through server 1.
    assert nodes_ready(lab.hosts[f"{lab.name}-server-3"]) == dict.fromkeys(lab.hosts, "Ready")
    assert_kubeconfig(lab, primary)

    assert changed_total(run_site(lab, K3S_TAGS)) == {}
    assert_no_secret_anywhere(lab)
