"""Code gates that CI enforces through the test command: ruff (lint and format) and strict mypy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.integration


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)


def test_ruff_lint_is_clean() -> None:
    result = run_tool(sys.executable, "-m", "ruff", "check", "labctl", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run_tool(sys.executable, "-m", "ruff", "format", "--check", "labctl", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_labctl() -> None:
    result = run_tool(sys.executable, "-m", "mypy", "--strict", "labctl")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:8] if line.startswith("pip install")]
    assert len(commands) == 2, "README must open with the main-job and test commands"
    assert "labctl up" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 -E \"^pip install -e '\\.\\[test\\]' && python -m pytest\" README.md" in ci
    assert shutil.which("bash")
