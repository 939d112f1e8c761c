"""labctl.lab.logs: redaction, the latest run set, the bundle's contents and modes, the summary."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from labctl.errors import ExitCode, LabctlError
from labctl.lab import logs as lb

TOKEN = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6"
GITLAB = 'Gl"ab\\pw-9x!Q'  # quote and backslash: JSON shows it escaped
ARGOCD = "argo-admin-Zq81mNp"
CLIENT_KEY_PEM = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKEYMATERIAL0123\n-----END EC PRIVATE KEY-----\n"
)
CLIENT_KEY_DATA = base64.b64encode(CLIENT_KEY_PEM.encode()).decode()
OLD, NEW = "20240101-100000", "20240102-090807"
K3S_SERVER_TOKEN = f"K10{'ab' * 32}::server:{TOKEN}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- redact ------------------------------------------------------------------------------------


def test_raw_secrets_are_replaced_everywhere() -> None:
    text = f"token={TOKEN}\nsaw {TOKEN} twice: {TOKEN}\n"
    out = lb.redact(text, [TOKEN])
    assert TOKEN not in out
    assert out.count(lb.REDACTED) == 3


@pytest.mark.parametrize("secret", [TOKEN, "pw12345"])  # long, and too short to match mid-blob
@pytest.mark.parametrize("newline", ["", "\n"])  # secret files end with a newline
def test_base64_of_a_secret_is_replaced_as_kubernetes_secrets_show_it(
    secret: str, newline: str
) -> None:
    raw = secret + newline
    shown = f"data:\n  value: {b64(raw)}\n"
    urlsafe = base64.urlsafe_b64encode(raw.encode()).decode()
    out = lb.redact(shown + f"x {urlsafe}\n", [secret])
    assert b64(raw) not in out
    assert urlsafe not in out
    assert out == f"data:\n  value: {lb.REDACTED}\nx {lb.REDACTED}\n"
    unpadded = b64(raw).rstrip("=") + "."  # JWT-style base64 drops the padding
    assert lb.redact(unpadded, [secret]) == f"{lb.REDACTED}."


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc"])
def test_a_secret_inside_a_longer_base64_blob_is_replaced(prefix: str) -> None:
    blob = b64(f'{prefix}{{"token":"{TOKEN}","x":1}}')
    out = lb.redact(f"blob: {blob}", [TOKEN])
    assert lb.REDACTED in out
    core = b64(TOKEN)[4:-4]
    for offset in range(3):
        shifted = base64.b64encode(b"\0" * offset + TOKEN.encode()).decode()[4:-4]
        assert shifted not in out
    assert core not in out


def test_json_escaped_and_percent_encoded_forms_are_replaced() -> None:
    escaped = json.dumps({"msg": f"pw is {GITLAB}"})
    assert GITLAB not in escaped  # the JSON form differs from the raw secret
    out = lb.redact(escaped + "\nurl?p=" + "Gl%22ab%5Cpw-9x%21Q", [GITLAB])
    assert "Gl" not in out
    assert json.loads(out.splitlines()[0]) == {"msg": "pw is <redacted>"}


@pytest.mark.parametrize("user", ["server", "node"])
def test_k3s_token_formats_are_replaced_without_knowing_the_secret(user: str) -> None:
    token = f"K10{'0f' * 32}::{user}:{'9e' * 16}"
    out = lb.redact(f"K3S_URL=x\njoin with {token} now", [])
    assert token not in out
    assert "join with <redacted> now" in out
    bootstrap = f"K10{'0f' * 32}::abcdef.0123456789abcdef"
    assert lb.redact(bootstrap, []) == lb.REDACTED


def test_blank_secrets_are_ignored() -> None:
    text = "a b\tc\n  d"
    assert lb.redact(text, ["", "   ", "\n"]) == text
    assert lb.secret_forms("  ") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password: hunter2", "password: <redacted>"),
        ("  gitlab_root_password: 'a b'", "  gitlab_root_password: '<redacted>'"),
        ('{"k3s_token": "abc", "n": 1}', '{"k3s_token": "<redacted>", "n": 1}'),
        ('{"out": "{\\"token\\": \\"abc\\"}"}', '{"out": "{\\"token\\": \\"<redacted>\\"}"}'),
        ("K3S_TOKEN=abc k=v", "K3S_TOKEN=<redacted> k=v"),
        (
            "k3s agent --token abc --node-ip 1.2.3.4",
            "k3s agent --token <redacted> --node-ip 1.2.3.4",
        ),
        ("--agent-token=abc", "--agent-token=<redacted>"),
        ("client-key-data: LS0tLS1C", "client-key-data: <redacted>"),
        ("Authorization: Bearer eyJ.abc", "Authorization: Bearer <redacted>"),
        (
            "git clone https://root:pw@gitlab.lab/x",
            "git clone https://root:<redacted>@gitlab.lab/x",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
            "<redacted>",
        ),
    ],
)
def test_credential_shaped_values_are_replaced(text: str, expected: str) -> None:
    assert lb.redact(text, []) == expected


@pytest.mark.parametrize(
    "text",
    [
        "labctl_k3s_token_file: /lab/.labctl/demo/secrets/k3s-token",
        "--token-file /var/lib/token",
        '{"password": null, "token": ""}',
        "password: {{ lookup('file', path) }}",
        "TASK [k3s_server : Write the token file] ****",
        "no_log: true",
    ],
)
def test_paths_nulls_templates_and_task_names_are_kept(text: str) -> None:
    assert lb.redact(text, []) == text


# --- a lab directory -----------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab directory as `up` leaves it: secrets, kubeconfig, keys, rendered files, two runs.

    The run logs leak every secret in every form on purpose, so the bundle must redact them.
    """
    lab = tmp_path / ".labctl" / "demo"
    write(lab / "secrets" / "k3s-token", TOKEN + "\n")
    write(lab / "secrets" / "gitlab-root-password", GITLAB + "\n")
    write(lab / "secrets" / "argocd-admin-password", ARGOCD + "\n")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "labctl-demo", "cluster": {"server": "https://10.0.0.10:6443"}}],
        "users": [{"name": "labctl-demo", "user": {"client-key-data": CLIENT_KEY_DATA}}],
        "contexts": [{"name": "labctl-demo", "context": {"cluster": "labctl-demo"}}],
    }
    write(lab / "kubeconfig", yaml.safe_dump(kubeconfig))
    write(lab / ".vagrant" / "machines" / "server-1" / "lxc" / "private_key", "KEY")
    write(lab / "ssh.json", "{}")
    write(lab / "known_hosts", "10.0.0.10 ssh-ed25519 AAAA")
    write(lab / "Vagrantfile", "Vagrant.configure('2') do |c| end\n")
    write(lab / "ansible.cfg", "[defaults]\nforks = 20\n")
    write(lab / "state.json", json.dumps({"lab": "demo", "phases": {}}))
    write(lab / "inventory" / "hosts.yml", "all: {}\n")
    write(lab / "inventory" / "group_vars" / "all.yml", "labctl_k3s_token_file: /x/k3s-token\n")
    leak = (
        f"raw {TOKEN}\nb64 {b64(TOKEN + chr(10))}\njoin {K3S_SERVER_TOKEN}\n"
        f"gitlab {GITLAB} {b64(GITLAB)}\nargocd {ARGOCD} {b64(ARGOCD)}\n"
        f"key {CLIENT_KEY_DATA}\n{CLIENT_KEY_PEM}"
    )
    write(lab / "runs" / f"{OLD}-prepare" / "stdout", "old run\n")
    write(lab / "runs" / f"{NEW}-vagrant" / "vagrant-up-server-1.log", f"==> booting\n{leak}")
    servers = lab / "runs" / f"{NEW}-k3s-servers"
    lines = [f"line {n}" for n in range(1, 31)]
    write(servers / "stdout", "\n".join([leak, *lines]) + "\n")
    write(servers / "status", "failed\n")
    write(servers / "rc", "2\n")
    write(servers / "job_events" / "1-abc.json", json.dumps({"stdout": leak, "n": 1}))
    env = {"ANSIBLE_CONFIG": "/x/ansible.cfg", "MY_CLOUD_KEY": "cloud-private-value"}
    write(servers / "command", json.dumps({"command": ["ansible-playbook"], "env": env}))
    write(servers / "secrets" / "stray", TOKEN)  # never packed, even below a collected folder
    write(lab / "inventory" / "id_ed25519", "KEY")
    (servers / "leak-link").symlink_to(lab / "secrets" / "k3s-token")
    os.mkfifo(servers / "ssh_key_data")
    write(lab / "runs" / f"{NEW}-prepare" / "stdout", "PLAY RECAP ok\n")
    write(lab / "runs" / f"{NEW}-prepare" / "status", "successful\n")
    write(lab / "runs" / f"{NEW}-prepare" / "rc", "0\n")
    return lab


def test_latest_run_is_every_dir_of_the_newest_stamp_in_phase_order(lab: Path) -> None:
    run = lb.latest_run(lab)
    assert run.stamp == NEW
    assert run.phases == ("vagrant", "prepare", "k3s-servers")


def test_one_run_of_several_phases_sorts_where_its_first_phase_does(tmp_path: Path) -> None:
    for name in ("checks", "k3s-agents..kubeconfig", "prepare", "vagrant"):
        (tmp_path / "runs" / f"{NEW}-{name}").mkdir(parents=True)
    assert lb.latest_run(tmp_path).phases == ("vagrant", "prepare", "k3s-agents..kubeconfig",
                                              "checks")  # fmt: skip


def test_a_lab_without_runs_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match="no runs") as info:
        lb.latest_run(tmp_path)
    assert "labctl up" in info.value.hint
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    with pytest.raises(LabctlError, match="no runs"):
        lb.bundle(tmp_path)
    assert not (tmp_path / "bundles").exists()


def test_lab_secrets_read_every_secret_file_and_the_kubeconfig_key(lab: Path) -> None:
    found = lb.lab_secrets(lab)
    assert {TOKEN, GITLAB, ARGOCD, CLIENT_KEY_DATA, "MHcCAQEEIKEYMATERIAL0123"} <= set(found)


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def contents(archive: Path) -> dict[str, str]:
    with tarfile.open(archive, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            handle = tar.extractfile(m)
            assert handle is not None
            out[m.name] = handle.read().decode("utf-8", errors="surrogateescape")
        return out


def test_bundle_holds_the_latest_run_and_rendered_files_and_nothing_secret(lab: Path) -> None:
    archive = lb.bundle(lab)
    top = f"labctl-demo-logs-{NEW}"
    assert archive == lab / "bundles" / f"{top}.tar.gz"
    names = sorted(n.removeprefix(f"{top}/") for n in members(archive))
    assert names == [
        "Vagrantfile",
        "ansible.cfg",
        "inventory/group_vars/all.yml",
        "inventory/hosts.yml",
        f"runs/{NEW}-k3s-servers/command",
        f"runs/{NEW}-k3s-servers/job_events/1-abc.json",
        f"runs/{NEW}-k3s-servers/rc",
        f"runs/{NEW}-k3s-servers/status",
        f"runs/{NEW}-k3s-servers/stdout",
        f"runs/{NEW}-prepare/rc",
        f"runs/{NEW}-prepare/status",
        f"runs/{NEW}-prepare/stdout",
        f"runs/{NEW}-vagrant/vagrant-up-server-1.log",
        "state.json",
    ]


def test_no_member_of_the_bundle_contains_any_form_of_any_secret(lab: Path) -> None:
    texts = contents(lb.bundle(lab))
    needles = {
        TOKEN,
        GITLAB,
        json.dumps(GITLAB)[1:-1],
        ARGOCD,
        CLIENT_KEY_DATA,
        "KEYMATERIAL",
        "PRIVATE KEY",
        "::server:",
        "cloud-private-value",
        *(b64(s) for s in (TOKEN, TOKEN + "\n", GITLAB, ARGOCD)),
    }
    hits = [(name, n) for name, text in texts.items() for n in needles if n in text]
    assert hits == []
    stdout = texts[f"labctl-demo-logs-{NEW}/runs/{NEW}-k3s-servers/stdout"]
    assert "raw <redacted>" in stdout
    assert "line 30" in stdout  # redaction keeps what is not secret


def test_bundle_members_and_archive_are_0600_and_no_temp_file_is_left(lab: Path) -> None:
    archive = lb.bundle(lab, lab.parent / "out" / "logs.tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert {m.mode for m in members(archive).values()} == {0o600}
    assert {m.isfile() for m in members(archive).values()} == {True}
    assert [p.name for p in archive.parent.iterdir()] == ["logs.tar.gz"]


def test_command_file_keeps_ansible_env_but_drops_the_users_other_values(lab: Path) -> None:
    texts = contents(lb.bundle(lab))
    command = json.loads(texts[f"labctl-demo-logs-{NEW}/runs/{NEW}-k3s-servers/command"])
    assert command["env"] == {"ANSIBLE_CONFIG": "/x/ansible.cfg", "MY_CLOUD_KEY": "<omitted>"}


def test_an_unreadable_secret_stops_the_bundle_fake_permission_denied(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake: the tests run as root, who reads any file, so EACCES is injected."""
    real_read_text = Path.read_text
    secret = lab / "secrets" / "k3s-token"

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == secret:
            raise PermissionError(13, "Permission denied")
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(LabctlError, match="cannot be redacted"):
        lb.bundle(lab)
    assert not (lab / "bundles").exists()


def test_bundle_reads_a_gzip_tarball_python_can_extract_safely(lab: Path, tmp_path: Path) -> None:
    archive = lb.bundle(lab)
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    assert (tmp_path / "x" / f"labctl-demo-logs-{NEW}" / "state.json").is_file()


# --- summarise ----------------------------------------------------------------------------------


def test_summary_shows_status_rc_and_the_redacted_stdout_tail(lab: Path) -> None:
    lines = lb.summarise(lab)
    text = "\n".join(lines)
    assert lines[0].startswith(f"run {NEW}: vagrant, prepare, k3s-servers")
    assert any(line.startswith("k3s-servers: failed, rc 2") for line in lines)
    assert any(line.startswith("prepare: successful, rc 0") for line in lines)
    assert "    line 30" in lines
    assert "    line 11" in lines
    assert "    line 10" not in lines  # only the last 20 lines
    assert "vagrant-up-server-1.log" in text
    for secret in (TOKEN, GITLAB, ARGOCD, CLIENT_KEY_DATA, b64(TOKEN + "\n")):
        assert secret not in text


def test_summary_says_when_a_phase_recorded_no_status(lab: Path) -> None:
    (lab / "runs" / f"{NEW}-prepare" / "status").unlink()
    assert any("no status recorded" in line for line in lb.summarise(lab))
