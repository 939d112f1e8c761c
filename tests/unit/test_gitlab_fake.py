"""The GitLab test double answers as GitLab does where the roles could go wrong, and the gitlab
role's token script, run for real against it, never keeps a token GitLab refuses.

tests/fakes/gitlab-fake stands in for GitLab on the test bed (test_addon_roles.py); here its
API runs on a free local port with its state in tmp_path, and the role's Ruby script runs under
its rails_env.rb stand-in, as `gitlab-rails runner` runs it there.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fakes" / "gitlab-fake"
TOKEN = "value-of-a-test-token"
TOKEN_SCRIPT = ROOT / "playbooks" / "roles" / "gitlab" / "templates" / "api-token.rb.j2"


def empty_store(path: Path) -> Path:
    path.write_text(json.dumps({"users": {"root": {}}, "tokens": [], "projects": {}}))
    return path


def run_token_script(store: Path, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The role's script (it has no Jinja in it), as the gitlab-rails stand-in runs it."""
    if shutil.which("ruby") is None:
        pytest.skip("ruby is not installed here (apt-get install ruby)")
    value = tmp_path / "token"
    value.write_text(token + "\n")
    return subprocess.run(
        ["ruby", f"-r{FAKE / 'rails_env.rb'}", str(TOKEN_SCRIPT), str(value)],
        env={"GITLAB_FAKE_STORE": str(store), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def expire_all(store: Path) -> None:
    data = json.loads(store.read_text())
    for token in data["tokens"]:
        token["expires_at"] = "2020-01-01"
    store.write_text(json.dumps(data))


def test_the_token_script_replaces_an_expired_token_and_revokes_the_old(tmp_path: Path) -> None:
    store = empty_store(tmp_path / "store.json")
    assert (
        run_token_script(store, "first-value", tmp_path).stdout.strip() == "labctl-token: created"
    )
    assert (
        run_token_script(store, "first-value", tmp_path).stdout.strip() == "labctl-token: unchanged"
    )

    expire_all(store)  # a year later
    renewed = run_token_script(store, "second-value", tmp_path)  # the role brings a fresh value

    assert renewed.stdout.strip() == "labctl-token: created", renewed.stderr
    tokens = json.loads(store.read_text())["tokens"]
    assert [t["revoked"] for t in tokens] == [True, False]


def test_an_expired_token_is_never_reported_unchanged(tmp_path: Path) -> None:
    store = empty_store(tmp_path / "store.json")
    run_token_script(store, "same-value", tmp_path)
    expire_all(store)
    again = run_token_script(store, "same-value", tmp_path)
    # GitLab's token digests are unique: the same value cannot be made valid again, so the
    # script must fail loudly rather than say "unchanged" about a token GitLab refuses.
    assert "unchanged" not in again.stdout
    assert again.returncode != 0
    assert "Token digest has already been taken" in again.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = empty_store(tmp_path / "store.json")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(FAKE / "api.py")],
        env={"GITLAB_FAKE_STORE": str(store), "GITLAB_FAKE_PORT": str(port)},
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(f"{url}/-/readiness", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        yield url, store
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def call(
    url: str, method: str = "GET", token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("PRIVATE-TOKEN", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            text = reply.read().decode()
            status = reply.status
    except urllib.error.HTTPError as error:
        text, status = error.read().decode(), error.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def test_the_api_refuses_what_gitlab_refuses(api: tuple[str, Path], tmp_path: Path) -> None:
    url, store = api
    run_token_script(store, TOKEN, tmp_path)
    base = f"{url}/api/v4"
    assert call(f"{base}/user", token=TOKEN)[0] == 200
    assert call(f"{base}/user", token="not-" + TOKEN)[0] == 401
    project = {"name": "demo", "visibility": "public", "default_branch": "main"}
    assert call(f"{base}/projects", "POST", TOKEN, project)[0] == 201
    commits = f"{base}/projects/root%2Fdemo/repository/commits"
    actions = [{"action": "create", "file_path": "app/a.yaml", "content": "a: 1\n"}]
    as_string = {"branch": "main", "commit_message": "m", "actions": json.dumps(actions)}
    assert call(commits, "POST", TOKEN, as_string) == (400, {"error": "actions is invalid"})
    assert call(commits, "POST", TOKEN, {**as_string, "actions": actions})[0] == 201
    assert call(commits, "POST", TOKEN, {**as_string, "actions": actions})[0] == 400  # exists
    raw = f"{base}/projects/root%2Fdemo/repository/files/app%2Fa.yaml/raw?ref=main"
    assert call(raw) == (200, "a: 1\n")  # public: readable without a token, as Argo CD reads it
    expire_all(store)
    assert call(f"{base}/user", token=TOKEN)[0] == 401
