"""The CLI as a user meets it: exit codes, one-line errors, no tracebacks, fast --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from labctl.cli.app import main

if TYPE_CHECKING:
    from pathlib import Path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_validate_dry_run_is_the_newcomer_path(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"], capsys)[0] == 0
    assert (in_tmp / "lab.yaml").exists()
    code, out, _ = run(["validate"], capsys)
    assert code == 0
    assert "lab.yaml: valid. Lab 'demo': 1 server(s), 2 agent(s)" in out
    code, out, _ = run(["up", "--dry-run"], capsys)
    assert code == 0
    for text in ("demo-server-1", "192.168.56.12", "k3s-servers", "kine/SQLite", "Rendered into"):
        assert text in out
    assert (in_tmp / ".labctl" / "demo" / "Vagrantfile").exists()


@pytest.mark.parametrize("template", ["default", "ha", "gitops"])
def test_every_init_template_is_a_valid_spec(
    template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", "--template", template], capsys)[0] == 0
    code, out, err = run(["validate"], capsys)
    assert code == 0, err
    assert "valid" in out


def test_init_refuses_to_overwrite_without_force(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "lab.yaml").write_text("name: mine\n")
    code, _, err = run(["init"], capsys)
    assert code == 2
    assert err.splitlines() == [
        "error: lab.yaml already exists; not overwriting it",
        "hint: pass --force to replace it, or --file to write elsewhere",
    ]
    assert (in_tmp / "lab.yaml").read_text() == "name: mine\n"
    assert run(["init", "--force"], capsys)[0] == 0


def test_no_spec_file_uses_the_builtin_default_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["validate"], capsys)
    assert code == 0
    assert "built-in default lab" in out


def test_bad_spec_prints_one_line_per_problem_and_exits_2(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "lab.yaml").write_text("name: demo\nagents:\n  memory: 256\n  cpu: 2\n")
    code, out, err = run(["up", "--dry-run"], capsys)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "error: lab.yaml:3:11: agents.memory: 256 MiB is below the 512 MiB an agent needs; "
        "give it at least 512",
        "error: lab.yaml:4:3: agents.cpu: unknown key 'cpu'; did you mean 'cpus'?",
        "hint: fix the lines above; `labctl schema` prints every key with its type and default",
    ]
    assert not (in_tmp / ".labctl").exists(), "nothing may be written for a bad spec"


def test_warnings_go_to_stderr_and_do_not_fail(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "lab.yaml").write_text("name: demo\nservers: {count: 2}\n")
    code, _, err = run(["validate"], capsys)
    assert code == 0
    assert err.startswith("warning: lab.yaml:2:18: servers.count: 2 servers")


def test_usage_errors_exit_2_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--bogus"], capsys)
    assert code == 2
    assert err.splitlines() == [
        "error: No such option: --bogus",
        "hint: `labctl validate --help` shows the usage",
    ]
    assert run(["up", "-o", "yaml"], capsys)[0] == 2


@pytest.fixture
def host_without_virtualbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAKE host facts: this host as it is, minus VirtualBox, so the test never boots a VM even
    where VirtualBox is installed. Everything downstream of the facts (judging, state, output)
    is real."""
    import dataclasses

    from labctl import doctor

    real = doctor.gather_facts

    def facts_without_virtualbox(plan, also=()):  # type: ignore[no-untyped-def]
        return dataclasses.replace(real(plan, also), vboxmanage_path=None, virtualbox_version=None)

    monkeypatch.setattr(doctor, "gather_facts", facts_without_virtualbox)


@pytest.mark.usefixtures("host_without_virtualbox")
def test_up_stops_at_preflight_with_exit_3_and_records_it(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "lab.yaml").write_text("name: demo\nprovider: virtualbox\n")
    code, out, err = run(["up"], capsys)
    assert code == 3
    assert "[1/11] preflight" in out
    assert "error: provider: VirtualBox is not installed" in err
    assert "--skip-preflight" in err
    state = json.loads((in_tmp / ".labctl" / "demo" / "state.json").read_text())
    assert state["phases"]["preflight"]["status"] == "failed"
    assert "boot" not in state["phases"]


@pytest.mark.usefixtures("host_without_virtualbox")
def test_up_json_ends_with_a_result_event(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "lab.yaml").write_text("name: demo\nprovider: virtualbox\n")
    code, out, _ = run(["up", "-o", "json"], capsys)
    events = [json.loads(line) for line in out.splitlines()]  # stdout is only JSON events
    assert code == 3
    assert [e["event"] for e in events] == ["phase", "phase", "result"]
    assert events[-1]["exit_code"] == 3
    assert any("provider" in d for d in events[-1]["details"])


def test_dry_run_json_is_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["up", "--dry-run", "-o", "json"], capsys)
    assert code == 0
    document = json.loads(out)  # stdout is only the document; notes go to stderr
    assert "note: no lab.yaml here: using the built-in default lab" in err
    assert document["dry_run"] is True
    assert [m["ip"] for m in document["plan"]["machines"]] == [
        "192.168.56.10", "192.168.56.11", "192.168.56.12",
    ]  # fmt: skip


def test_schema_describes_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    schema = json.loads(out)
    assert code == 0
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= {"name", "provider", "network", "k3s", "servers", "agents"}


def test_an_unexpected_failure_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labctl.cli import common

    def explode(*_: object, **__: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(common, "load_spec", explode)
    monkeypatch.setattr("labctl.cli.validate.load_spec", explode)
    code, _, err = run(["validate"], capsys)
    assert code == 1
    assert err.splitlines()[0] == "error: internal error: ZeroDivisionError: boom"
    assert "Traceback" not in err


def test_version_and_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("labctl ")
    proc = subprocess.run(
        [sys.executable, "-m", "labctl", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout == out


def test_help_does_not_import_the_edges_or_the_core() -> None:
    probe = (
        "import sys\n"
        "from labctl.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ['paramiko', 'ansible_runner', 'vagrant', 'pydantic', 'jinja2', 'rich']\n"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout.splitlines()[-1] == "HEAVY=", proc.stdout


def test_help_builds_no_command_and_every_listed_command_builds_as_named() -> None:
    """`labctl --help` lists COMMANDS without making click commands of them; each one, built,
    is the command (or group) of that name with its own parameters or subcommands."""
    probe = (
        "from labctl.cli import app as a\n"
        "built = []\n"
        "real = a.build_command\n"
        "a.build_command = lambda name: built.append(name) or real(name)\n"
        "try:\n    a.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('BUILT=' + ','.join(built))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert proc.stdout.splitlines()[-1] == "BUILT=", proc.stdout
    from labctl.cli.app import COMMANDS, build_command

    for name in COMMANDS:
        command = build_command(name)
        assert command.name == name
        assert command.callback is not None or getattr(command, "commands", None), name


@pytest.mark.parametrize("columns", range(48, 84))
def test_root_help_from_the_table_is_the_page_typer_prints(
    columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`labctl --help` is drawn without typer; at every width click can choose (it clamps the
    terminal to 50..78 columns) it is the page typer draws for the same app."""
    from labctl.cli.launch import main as launch

    monkeypatch.setenv("COLUMNS", str(columns))
    code, typer_page, _ = run(["--help"], capsys)
    assert code == 0
    for flag in ("--help", "-h"):
        monkeypatch.setattr(sys, "argv", ["labctl", flag])
        with pytest.raises(SystemExit) as exited:
            launch()
        assert exited.value.code == 0
        assert capsys.readouterr().out == typer_page


def test_every_command_summary_is_the_first_paragraph_of_its_help() -> None:
    """The table's summaries (what `labctl --help` lists) say what each command's own help says."""
    import inspect

    import typer

    from labctl.cli.app import COMMANDS, _target

    for name, (_, _, summary) in COMMANDS.items():
        target = _target(name)
        text = target.info.help if isinstance(target, typer.Typer) else inspect.getdoc(target)
        assert summary == " ".join(text.split("\n\n")[0].split()), name


def test_root_help_imports_no_typer() -> None:
    """The launcher answers `labctl --help` from the command table: typer is ~100 ms of a start."""
    probe = (
        "import sys\n"
        "sys.argv = ['labctl', '--help']\n"
        "from labctl.cli.launch import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TYPER=' + str('typer' in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert proc.stdout.splitlines()[0] == "Usage: labctl [OPTIONS] COMMAND [ARGS]..."
    assert proc.stdout.splitlines()[-1] == "TYPER=False", proc.stdout
