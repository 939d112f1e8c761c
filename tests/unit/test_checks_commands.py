"""Every command the checks send is valid shell, and so is every script inside it (probe pods'
`sh -c`, the GitOps commit's `python3 -c`): parsed with `sh -n` and compile(), nothing runs."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from labctl.checks import run_checks
from labctl.checks.replay import RecordedOutputReplay, Recording, result
from tests.unit.test_checks_runner import FULL, SECRETS, FakeClocks, plan_of, targets

FIXTURES = Path(__file__).parent / "fixtures" / "checks"


def issued_commands() -> list[str]:
    """The commands of every check: the default lab from the healthy recording, plus the
    addon checks of a full lab."""
    plan = plan_of("name: demo\nservers: {count: 3}\n")
    replay = RecordedOutputReplay.from_file(FIXTURES / "recording-healthy.json")
    run_checks(plan, targets(plan), Path("/kh"), executor=replay, clocks=FakeClocks().clocks())
    full = plan_of(FULL)
    deployment = (FIXTURES / "deployment-healthy.json").read_text()
    addons = RecordedOutputReplay(
        [
            Recording("*", "get deployment", (result(deployment),)),
            Recording("*", "", (result('{"http_code": 200}'),)),
        ]
    )
    run_checks(
        full,
        targets(full),
        Path("/kh"),
        only=["argocd", "gitlab", "gitops"],
        executor=addons,
        credentials=SECRETS,
        clocks=FakeClocks().clocks(),
    )
    return sorted({c.command for c in replay.calls + addons.calls})


COMMANDS = issued_commands()


def test_every_check_sent_commands() -> None:
    joined = "\n".join(COMMANDS)
    for needle in ("etcd", "labctl-probe-dns", "labctl-probe-net", "python3 -c", "/oauth/token"):
        assert needle in joined


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_valid_shell(command: str) -> None:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell
    check = subprocess.run(
        [shell, "-n", "-c", command], check=False, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    words = shlex.split(command)
    for program, flag, script in zip(words, words[1:], words[2:], strict=False):
        if (program, flag) == ("sh", "-c"):
            inner = subprocess.run(
                [shell, "-n", "-c", script], check=False, capture_output=True, text=True
            )
            assert inner.returncode == 0, f"{script}\n{inner.stderr}"
        if (program, flag) == ("python3", "-c"):
            compile(script, "<gitops commit>", "exec")


def test_datastore_probe_prints_json_through_two_shells() -> None:
    """The probe passes a login shell, then `sudo sh -c`: its $variables must reach the inner
    shell unexpanded. Run here without sudo; this machine has no K3s, so both are false."""
    (command,) = [c for c in COMMANDS if "state.db" in c]
    assert command.startswith("sudo ")
    out = subprocess.run(
        ["sh", "-c", command.removeprefix("sudo ")],
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "s": "outer", "e": "outer"},
    ).stdout
    assert json.loads(out) == {"sqlite": False, "etcd": False}
