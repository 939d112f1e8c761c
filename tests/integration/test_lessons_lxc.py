"""`labctl lesson` for real on the lxc test bed: list, start, check, hint, reset through real SSH.

Vagrant (vagrant-lxc), SSH and Ansible are real; K3s is tests/fakes/k3s-fake, which runs no
workloads, so a step's probe gets the NotFound a real cluster gives for an object not yet
created: `lesson check` answers "not done yet" with exit 6 and says what it saw and wants. No
step can pass here: every "done" verdict is proven only on recorded outputs
(tests/unit/test_lessons_judges.py). The last test stops the machines to prove exit 4.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli import labctl
from tests.integration.test_ansible_roles import make_offline_dir

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAB = "lclesson"
SPEC = f"""\
name: {LAB}
provider: lxc
box: labctl/debian-bookworm
network: {{cidr: 192.168.67.0/24}}
servers: {{count: 1, cpus: 1, memory: 1024}}
agents: {{count: 0, cpus: 1, memory: 512}}
"""


@pytest.fixture(scope="module")
def lab(  # type: ignore[no-untyped-def]
    lxc_box: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
    testbed_times: dict[str, float | str],
):
    del lxc_box  # built and added to Vagrant; the spec names it
    workdir = tmp_path_factory.mktemp("lessons")
    (workdir / "lab.yaml").write_text(SPEC)
    offline = make_offline_dir(workdir / "offline")
    started = time.monotonic()
    labctl(workdir, "up", "--offline", str(offline), "--until", "kubeconfig")
    testbed_times["lessons 00 up --until kubeconfig (1 machine)"] = round(
        time.monotonic() - started, 1
    )
    yield workdir
    labctl(workdir, "destroy", "--yes", check=False)


def timed(
    times: dict[str, float | str], key: str, workdir: Path, *args: str, check: bool = True
) -> tuple[int, str, str]:
    started = time.monotonic()
    result = labctl(workdir, *args, check=check)
    times[f"lessons {key}"] = round(time.monotonic() - started, 2)
    return result.returncode, result.stdout, result.stderr


# The tests run in file order on one lab, each starting where the previous one left it.


def test_list_and_start(lab: Path) -> None:
    lessons = json.loads(labctl(lab, "lesson", "list", "-o", "json").stdout)
    assert len(lessons) == 8
    fits = {row["name"]: row["fits"] for row in lessons}
    assert fits["gitops"] is False
    assert fits["node-failure"] is False  # it needs an agent; this lab is one server
    assert fits["deployments"] is True
    started = json.loads(labctl(lab, "lesson", "start", "deployments", "-o", "json").stdout)
    assert started["step"]["id"] == "create"
    assert started["resumed"] is False


def test_check_over_ssh_says_not_done_yet_with_exit_6(
    lab: Path, testbed_times: dict[str, float | str]
) -> None:
    code, out, err = timed(testbed_times, "01 check (text)", lab, "lesson", "check", check=False)
    assert code == 6, out + err
    assert out.splitlines()[:2] == [
        "Not done yet: deployments Step 1 of 5",
        "  ✗ there is no Deployment web in namespace lesson-deployments yet",
    ]
    code, out, _ = timed(
        testbed_times, "02 check (json)", lab, "lesson", "check", "-o", "json", check=False
    )
    assert code == 6
    report = json.loads(out)
    assert report["done"] is False
    assert report["probes"] == [
        {
            "command": "sudo k3s kubectl get deployment web -n lesson-deployments -o json",
            "judge": "deployment-replicas",
            "done": False,
            "message": "there is no Deployment web in namespace lesson-deployments yet",
        }
    ]
    code, out, _ = timed(
        testbed_times, "03 check (ko)", lab, "lesson", "check", "--lang", "ko", check=False
    )
    assert code == 6
    assert "lesson-deployments 네임스페이스에 web 디플로이먼트가 아직 없습니다" in out


def test_hints_and_progress_survive_another_process(lab: Path) -> None:
    hint = labctl(lab, "lesson", "hint").stdout
    assert hint.startswith("Hint 1 of 2: ")
    saved = json.loads((lab / ".labctl" / LAB / "lessons.json").read_text())
    record = saved["lessons"]["deployments"]
    assert saved["current"] == "deployments"
    assert record["step"] == 0
    assert record["steps"]["create"]["checks"] == 3
    assert record["steps"]["create"]["hints"] == 1
    rows = {r["name"]: r for r in json.loads(labctl(lab, "lesson", "list", "-o", "json").stdout)}
    assert (rows["deployments"]["step_reached"], rows["deployments"]["hints"]) == (0, 1)


def test_reset_deletes_the_namespace_over_ssh(lab: Path) -> None:
    out = labctl(lab, "lesson", "reset", "deployments").stdout
    assert out.strip() == (
        "Deleted namespace lesson-deployments and everything in it; lesson deployments starts over."
    )
    saved = json.loads((lab / ".labctl" / LAB / "lessons.json").read_text())
    assert saved["lessons"] == {}
    refused = labctl(lab, "lesson", "check", check=False)
    assert refused.returncode == 2
    assert "error: no lesson is started in this lab" in refused.stderr


def test_a_stopped_lab_is_unreachable_exit_4(
    lab: Path, testbed_times: dict[str, float | str]
) -> None:
    labctl(lab, "lesson", "start", "pods-and-nodes")
    labctl(lab, "halt")
    code, out, err = timed(
        testbed_times, "04 check (halted lab)", lab, "lesson", "check", check=False
    )
    assert code == 4, out + err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    saved = json.loads((lab / ".labctl" / LAB / "lessons.json").read_text())
    assert saved["lessons"]["pods-and-nodes"]["steps"] == {}, "an unreachable lab counts no check"
