"""The gitops_demo role's GitLab tasks, run by ansible-playbook on this machine against the GitLab
test double (tests/fakes/gitlab-fake/api.py on a free local port).

It needs no test bed, so it shows in seconds what the test-bed run shows end to end: the commit's
`actions` reach GitLab as an array (ansible-core 2.19 no longer turns a JSON-looking string back
into a list, and GitLab answers 400 to a string), and a second run commits nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.unit.test_gitlab_fake import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "tests" / "fakes" / "gitlab-fake" / "api.py"
TOKEN = "local-test-token-for-the-fake"
PLAY = """\
- name: The gitops_demo role's GitLab tasks against the GitLab double
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Push the demo app to GitLab
      ansible.builtin.include_role:
        name: gitops_demo
        tasks_from: gitlab
"""


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = tmp_path / "store.json"
    row = {"id": 1, "user": "root", "name": "labctl", "scopes": ["api"], "revoked": False,
           "expires_at": None, "digest": hashlib.sha256(TOKEN.encode()).hexdigest()}  # fmt: skip
    store.write_text(json.dumps({"users": {"root": {}}, "tokens": [row], "projects": {}}))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(API)],
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


def run_role(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    token_file = tmp_path / "gitlab-api-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    (tmp_path / "play.yml").write_text(PLAY)
    extravars = {
        "gitops_demo_api": f"{url}/api/v4",
        "gitops_demo_gitlab_host": "localhost",
        "gitops_demo_gitlab_token_file": str(token_file),
        "gitops_demo_host": "demo.local.lab",
    }
    env = dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(ROOT / "playbooks" / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
    )
    return subprocess.run(
        ["ansible-playbook", "-c", "local", "-e", json.dumps(extravars), "play.yml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def changed(run: subprocess.CompletedProcess[str]) -> int:
    """changed= of the PLAY RECAP line."""
    found = re.search(r"^localhost\s+:.*\bchanged=(\d+)", run.stdout, re.MULTILINE)
    assert found, run.stdout[-2000:]
    return int(found.group(1))


def test_the_demo_commit_reaches_gitlab_as_an_array_and_a_second_run_commits_nothing(
    gitlab: tuple[str, Path], tmp_path: Path
) -> None:
    url, store = gitlab
    first = run_role(tmp_path, url)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    project = json.loads(store.read_text())["projects"]["root/demo"]
    assert sorted(project["files"]) == [
        f"app/{n}.yaml" for n in ("deployment", "ingress", "service")
    ]
    assert "host: demo.local.lab" in project["files"]["app/ingress.yaml"]
    assert project["commits"] == 1
    assert changed(first) == 2  # the project, the commit

    second = run_role(tmp_path, url)
    assert second.returncode == 0, second.stdout[-3000:]
    assert changed(second) == 0
    assert json.loads(store.read_text())["projects"]["root/demo"]["commits"] == 1
