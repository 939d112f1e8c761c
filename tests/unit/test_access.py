"""Attendee access (pure parts and the real OpenSSH tools that read what labctl writes):
the access: section, the plan's phase, the keys-file entry, the sshd drop-in (`sshd -t` and
`sshd -T -C` on a configuration of the test's own), the laptop's ssh config (`ssh -G`), the
laptop kubeconfig and the handout's laptop section."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from labctl.errors import SpecError, UsageError
from labctl.lab.access import (
    AccessRecord,
    GatewayPaths,
    dropin_text,
    key_comment,
    keys_line,
    keys_with,
    keys_without,
    labctl_entries,
    laptop_kubeconfig,
    permitted,
    record_for,
    ssh_config,
)
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.workshop.fleetrun import with_gateway
from labctl.workshop.handout import HandoutFacts, render_handout

SPEC = (
    "name: team-01\nservers: {count: 1}\nagents: {count: 2}\n"
    "access: {gateway: 'gw.example.org:2222', account: labctl-gw}\n"
)
PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1mNCaFbgSWUZRs5AOwhL6NPddX0FC1L5N0yuqMhcka x@y"


def plan(text: str = SPEC):  # type: ignore[no-untyped-def]
    return plan_lab(parse_lab(text).lab)


def test_access_phase_follows_kubeconfig_only_with_an_access_section() -> None:
    names = [p.name for p in plan().phases]
    assert names[names.index("kubeconfig") + 1] == "access"
    assert "access" not in [p.name for p in plan("name: plain\n").phases]


@pytest.mark.parametrize(
    ("gateway", "wrong"),
    [
        ("x y", "is not HOST[:PORT]"),
        ("gw:0", "use 1-65535"),
        ("gw:99999", "use 1-65535"),
        ("vagrant@gw", "is not HOST[:PORT]"),
        ("ssh://gw", "is not HOST[:PORT]"),
        ("-oProxyCommand=x", "is not a host name"),
    ],
)
def test_a_gateway_that_is_not_host_port_is_one_located_line(gateway: str, wrong: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_lab(f"name: a\naccess: {{gateway: '{gateway}'}}\n")
    assert "access.gateway" in str(err.value)
    assert wrong in str(err.value)


@pytest.mark.parametrize("account", ["root", "Root", "1gw", "a" * 40, "gw;rm"])
def test_the_account_must_be_a_portable_name_and_not_root(account: str) -> None:
    with pytest.raises(SpecError, match=r"access\.account"):
        parse_lab(f"name: a\naccess: {{gateway: gw, account: '{account}'}}\n")


def test_fleet_gateway_option_is_checked_and_keeps_the_rest_of_access() -> None:
    lab = parse_lab(SPEC).lab
    assert with_gateway(lab, "10.1.2.3").access.gateway == "10.1.2.3"  # type: ignore[union-attr]
    assert with_gateway(lab, "10.1.2.3").access.account == "labctl-gw"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="--gateway"):
        with_gateway(lab, "user@host")


def test_a_labs_key_may_open_its_machines_ssh_and_its_servers_api_only() -> None:
    p = plan()
    reach = permitted(p)
    assert [str(r) for r in reach] == [*(f"{m.ip}:22" for m in p.machines), f"{p.primary.ip}:6443"]
    line = keys_line(PUBLIC, reach, "labctl-attendee:team-01:abc")
    options, kind, blob, comment = line.split(" ")
    assert options.startswith("restrict,port-forwarding,")
    assert options.count("permitopen=") == len(reach)
    assert options.endswith('command="false"')
    assert (kind, blob, comment) == (*PUBLIC.split()[:2], "labctl-attendee:team-01:abc")


def test_keys_file_edits_touch_only_the_labs_own_entry() -> None:
    other = "restrict ssh-ed25519 AAAA other-admin-key"
    a = keys_with(other + "\n", "opts ssh-ed25519 KEYA labctl-attendee:a:1", "labctl-attendee:a:1")
    b = keys_with(a, "opts ssh-ed25519 KEYB labctl-attendee:b:2", "labctl-attendee:b:2")
    again = keys_with(b, "opts ssh-ed25519 KEYB labctl-attendee:b:2", "labctl-attendee:b:2")
    assert again == b
    assert labctl_entries(b) == ["labctl-attendee:a:1", "labctl-attendee:b:2"]
    without = keys_without(b, "labctl-attendee:a:1")
    assert labctl_entries(without) == ["labctl-attendee:b:2"]
    assert other in without
    assert keys_without(keys_without(without, "labctl-attendee:b:2"), "x") == other + "\n"


def test_two_lab_directories_of_one_name_are_two_entries() -> None:
    assert key_comment("demo", "/home/a/.labctl/demo") != key_comment(
        "demo", "/home/b/.labctl/demo"
    )


needs_sshd = pytest.mark.skipif(
    not Path("/usr/sbin/sshd").exists(), reason="OpenSSH's server is not installed"
)


@needs_sshd
def test_sshd_accepts_the_dropin_and_applies_it_to_the_account_alone(tmp_path: Path) -> None:
    """Real sshd: `-t` accepts the file (every keyword is allowed in a Match block) and `-T -C`
    shows its settings for the account, and the defaults for anyone else."""
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    paths = GatewayPaths(PurePosixPath(str(config)), "labctl-gw")
    Path(str(paths.dropin)).parent.mkdir()
    Path(str(paths.dropin)).write_text(dropin_text(paths))
    config.write_text(f"Include {tmp_path}/sshd_config.d/*.conf\nHostKey {key}\nUsePAM no\n")
    subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(config)], check=True)

    def effective(user: str) -> dict[str, str]:
        out = subprocess.run(
            ["/usr/sbin/sshd", "-T", "-f", str(config), "-C",
             f"user={user},host=laptop,addr=192.0.2.7"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return dict(line.partition(" ")[::2] for line in out.splitlines())

    gw, other = effective("labctl-gw"), effective("alice")
    assert gw["allowtcpforwarding"] == "local"
    assert gw["permittty"] == "no"
    assert gw["forcecommand"] == "false"
    assert gw["authorizedkeysfile"] == str(paths.keys)
    assert gw["permitlisten"] == "none"
    assert other["allowtcpforwarding"] == "yes"
    assert other["authorizedkeysfile"] != str(paths.keys)


def record() -> AccessRecord:
    p = plan()
    lab = p.lab
    assert lab.access is not None
    gateway_key = ("team-01-gateway ssh-ed25519 AAAAgw",)
    return record_for(
        p, lab.access, lab_dir="/w/.labctl/team-01", known_hosts=gateway_key, user="vagrant"
    )


def test_the_access_record_reads_back_what_it_wrote() -> None:
    r = record()
    assert AccessRecord.from_json(r.to_json()) == r
    with pytest.raises(ValueError, match=r"labctl\.access/v1"):
        AccessRecord.from_json('{"schema": "other"}')
    with pytest.raises(ValueError, match="missing"):
        AccessRecord.from_json('{"schema": "labctl.access/v1", "lab": "x"}')


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH's client is not installed")
def test_openssh_reads_the_laptop_config_as_the_handout_means_it(tmp_path: Path) -> None:
    """`ssh -G` (the real client) resolves each Host of the block: the gateway directly, every
    machine through it, the lab's own key only, host keys checked against its own file."""
    p = plan()
    config = tmp_path / "config"
    config.write_text(ssh_config(record(), tuple((m.name, m.ip) for m in p.machines)))

    def resolved(host: str) -> dict[str, str]:
        out = subprocess.run(["ssh", "-G", "-F", str(config), host], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        return dict(line.partition(" ")[::2] for line in out.splitlines())

    gw = resolved("team-01-gateway")
    assert (gw["hostname"], gw["port"], gw["user"]) == ("gw.example.org", "2222", "labctl-gw")
    assert gw["identitiesonly"] == "yes"
    assert gw["stricthostkeychecking"] in {"true", "yes"}
    server = resolved("team-01-server-1")
    assert server["hostname"] == p.primary.ip
    assert server["proxyjump"] == "team-01-gateway"
    assert server["user"] == "vagrant"
    assert server["hostkeyalias"] == "team-01-server-1"
    assert server["identityfile"].endswith("/.ssh/labctl-team-01")


def test_the_laptop_kubeconfig_points_at_the_forwarded_port_only() -> None:
    kube = (
        "apiVersion: v1\nclusters:\n- name: labctl-team-01\n  cluster:\n"
        "    certificate-authority-data: Q0E=\n    server: https://10.0.0.11:6443\n"
        "contexts: []\nusers: []\n"
    )
    out = laptop_kubeconfig(kube, 16443)
    assert "server: https://127.0.0.1:16443" in out
    assert "10.0.0.11" not in out
    assert "certificate-authority-data: Q0E=" in out
    with pytest.raises(ValueError, match="clusters"):
        laptop_kubeconfig("kind: Config\n", 16443)


def test_the_handout_gives_the_key_as_a_download_and_the_laptop_files() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    kube = "apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.11:6443\n"
    files = render_handout(plan(), HandoutFacts(workdir="/w", kubeconfig=kube, access=record(),
                                                attendee_key=key))  # fmt: skip
    names = dict(files.items())
    assert names["labctl-team-01"] == key
    assert names["labctl-team-01.known_hosts"] == "team-01-gateway ssh-ed25519 AAAAgw\n"
    assert "ProxyJump team-01-gateway" in names["labctl-team-01.ssh_config"]
    assert "https://127.0.0.1:16443" in names["team-01-laptop-kubeconfig.yaml"]
    encoded = base64.b64encode(key.encode()).decode()
    assert f'href="data:application/octet-stream;base64,{encoded}"' in files.html
    assert 'download="labctl-team-01"' in files.html
    assert "BEGIN OPENSSH PRIVATE KEY" not in files.html, "a download, not text to copy"
    assert f"ssh -N -L 16443:{plan().primary.ip}:6443 team-01-gateway" in files.markdown
    assert "icacls" in files.markdown


def test_no_laptop_section_without_access() -> None:
    files = render_handout(plan("name: plain\n"), HandoutFacts(workdir="/w"))
    assert "From your own laptop" not in files.html
    assert [name for name, _ in files.items()] == ["plain.html", "plain.md"]
