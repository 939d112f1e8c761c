"""When labctl runs Ansible with Mitogen's strategy: only with the `mitogen` extra installed, never
over a strategy the user chose, never with LABCTL_MITOGEN=0. The package here is a stand-in
directory shaped as ansible_mitogen's (the real one is an optional extra the CI does not install);
Python's own import machinery finds it or not."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from labctl.tools.ansible import mitogen_env

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ansible_mitogen package with its strategy plugins, first on sys.path."""
    strategies = tmp_path / "site" / "ansible_mitogen" / "plugins" / "strategy"
    strategies.mkdir(parents=True)
    (tmp_path / "site" / "ansible_mitogen" / "__init__.py").write_text("")
    (strategies / "mitogen_linear.py").write_text("")
    monkeypatch.delitem(sys.modules, "ansible_mitogen", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return strategies


def test_installed_it_runs_the_mitogen_linear_strategy(installed: Path) -> None:
    assert mitogen_env({}) == {
        "ANSIBLE_STRATEGY_PLUGINS": str(installed),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }


def test_a_strategy_the_user_set_wins_and_labctl_mitogen_0_turns_it_off(installed: Path) -> None:
    assert mitogen_env({"ANSIBLE_STRATEGY": "free"}) == {}
    assert mitogen_env({"LABCTL_MITOGEN": "0"}) == {}
    assert mitogen_env({"LABCTL_MITOGEN": "1"})["ANSIBLE_STRATEGY"] == "mitogen_linear"


def test_not_installed_ansible_keeps_its_own_strategy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "ansible_mitogen", raising=False)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert mitogen_env({}) == {}
