"""Spec files built to hang or crash labctl, run through the real CLI as a user would.

Each ends the same way: exit 2, one `error:` line per problem naming the file and line, a hint,
no traceback, bounded output, nothing written. The CLI runs in this process (one test starts it
as its own); pytest-timeout bounds each test instead of a timed assertion, at five seconds for
what takes well under one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from labctl.cli.app import main

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    Validate = Callable[[str | bytes], tuple[int, list[str], str]]

pytestmark = pytest.mark.timeout(5)


def laughs(width: int = 9, levels: int = 7) -> str:
    """The billion-laughs shape: each level a list of `width` aliases of the level before."""
    lines = ["name: demo", 'l0: &l0 ["lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _write(directory: Path, content: str | bytes) -> list[str]:
    spec = directory / "lab.yaml"
    if isinstance(content, str):
        spec.write_text(content, encoding="utf-8")
    else:
        spec.write_bytes(content)
    return sorted(p.name for p in directory.iterdir())


def _check(directory: Path, before: list[str], code: int, out: str, err: str) -> list[str]:
    assert sorted(p.name for p in directory.iterdir()) == before, "nothing may be written"
    assert "Traceback" not in err
    assert "internal error" not in err
    assert len(err) < 4400, f"{len(err)} bytes of errors"  # 20 cut lines of ~200, then 2
    lines = err.splitlines()
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), lines
    assert code == 0 or out == ""
    return lines


@pytest.fixture
def validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Validate:
    """`labctl validate lab.yaml` in a fresh folder, in this process: (exit, stderr lines, out)."""
    monkeypatch.chdir(tmp_path)

    def run(content: str | bytes) -> tuple[int, list[str], str]:
        before = _write(tmp_path, content)
        with pytest.raises(SystemExit) as exited:
            main(["validate", "lab.yaml"])
        out, err = capsys.readouterr()
        code = int(exited.value.code or 0)
        return code, _check(tmp_path, before, code, out, err), out

    return run


def one_problem(validate: Validate, content: str | bytes) -> str:
    """The single error line for `content`, after checking the rule every input must keep."""
    code, lines, _ = validate(content)
    assert code == 2
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    assert any(line.startswith("hint: ") for line in lines)
    return errors[0].removeprefix("error: ")


def test_billion_laughs_is_refused_at_once_naming_the_line(validate: Validate) -> None:
    error = one_problem(validate, laughs(9, 7))
    assert error.startswith("lab.yaml:2:")
    assert "aliases" in error


def test_aliases_used_a_few_times_still_load(validate: Validate) -> None:
    spec = "name: demo\nservers: &size {memory: 4096}\nagents: {<<: *size, count: 3}\n"
    code, lines, out = validate(spec)
    assert (code, lines) == (0, [])
    assert "3 agent(s)" in out


@pytest.mark.parametrize(
    ("brackets", "closed"), [(5000, True), (5000, False), (500, True), (100, True)]
)
def test_thousands_of_brackets_are_one_line_not_a_recursion_error(
    validate: Validate, brackets: int, closed: bool
) -> None:
    nested = "[" * brackets + ("]" * brackets if closed else "")
    error = one_problem(validate, f"name: demo\nx: {nested}\n")
    assert error.startswith("lab.yaml:2:")
    assert "nested more than 64" in error


def test_a_5000_digit_integer_is_one_line_not_a_conversion_error(validate: Validate) -> None:
    error = one_problem(validate, f"name: demo\nservers:\n  count: {'9' * 5000}\n")
    assert error.startswith("lab.yaml:3:10: servers.count: a number 5000 characters long")


def test_a_3_mb_scalar_is_refused_by_size_without_echoing_it(validate: Validate) -> None:
    error = one_problem(validate, f"name: {'a' * 3_000_000}\n")
    assert error == "lab.yaml: is 2929 KiB; a lab spec is a few KB (at most 64 KiB)"


def test_a_long_value_within_the_size_cap_is_quoted_cut_short(validate: Validate) -> None:
    error = one_problem(validate, f"name: {'a' * 60_000}\n")
    assert error.startswith("lab.yaml:1:7: name: 'aaaa")
    assert "… (59940 more characters)" in error
    assert len(error) < 300


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: demo\nprovider: virt\xffbox\n", "lab.yaml:2:15: is not UTF-8 text (byte 0xff)"),
        ("name: !foo demo\n", "lab.yaml:1:7: name: the tag '!foo' is not used in this file"),
        (
            "name: demo\nagents: !!python/object:os.system {}\n",
            "lab.yaml:2:9: agents: the tag 'tag:yaml.org,2002:python/object:os.system' is not",
        ),
        ("name: !!timestamp soon\n", "lab.yaml:1:7: name: 'soon' cannot be read as timestamp"),
        ("name: demo\n[1, 2]: x\n", "lab.yaml:2:1: a key must be a plain name"),
        ("name: d\x01emo\n", "lab.yaml:1:8: character U+0001 is not allowed in YAML"),
        ("name: demo\nx: *nowhere\n", "lab.yaml:2:4: YAML syntax error: found undefined alias"),
    ],
)
def test_odd_bytes_tags_and_keys_are_one_located_line(
    validate: Validate, content: str | bytes, expected: str
) -> None:
    assert one_problem(validate, content).startswith(expected)


def test_at_most_20_problems_are_printed_for_one_file(validate: Validate) -> None:
    spec = "name: demo\n" + "".join(f"extra{i}: 1\n" for i in range(30))
    code, lines, _ = validate(spec)
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2
    assert len(errors) == 21
    assert errors[0].startswith("error: lab.yaml:2:1: extra0: unknown key")
    assert errors[-1] == "error: and 10 more problems"


@pytest.mark.timeout(30)  # a process start on a loaded CI machine
def test_billion_laughs_through_python_dash_m_too(tmp_path: Path) -> None:
    """The same rule when labctl runs as its own process, as a user starts it."""
    before = _write(tmp_path, laughs(9, 7))
    proc = subprocess.run(
        [sys.executable, "-m", "labctl", "validate", "lab.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    lines = _check(tmp_path, before, proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 2
    assert [line.split(":")[:3] for line in lines if line.startswith("error")] == [
        ["error", " lab.yaml", "2"]
    ]
