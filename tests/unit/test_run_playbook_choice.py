"""run_playbook runs the playbook it is asked for (uninstall.yml for `destroy` of a lab on
machines labctl does not own), from the same playbooks directory, with the lab's inventory and
ansible.cfg; site.yml stays the default. Real ansible-runner and Ansible, on the controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labctl import resources
from labctl.registry import plan_lab
from labctl.render import LabPaths, render
from labctl.spec.loader import parse_lab
from labctl.tools.ansible import run_playbook

if TYPE_CHECKING:
    from pathlib import Path

# Each stand-in writes its own name and a variable of the lab's inventory into `out`.
PLAY = """\
- name: Say which playbook ran
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the playbook's name
      ansible.builtin.copy:
        content: "{name} {{{{ lab_mark }}}}"
        dest: "{{{{ out }}}}"
        mode: "0644"
"""


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lab"
    files = render(plan_lab(parse_lab("name: pick\nprovider: lxc\n").lab), LabPaths(folder))
    (folder / "inventory").mkdir(parents=True)
    (folder / "ansible.cfg").write_text(files["ansible.cfg"])
    (folder / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
        "      lab_mark: from-the-lab-inventory\n"
    )
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for name in ("site.yml", "uninstall.yml"):
        (playbooks / name).write_text(PLAY.format(name=name))
    monkeypatch.setattr(resources, "playbooks_dir", lambda: playbooks)
    return folder


def test_uninstall_yml_runs_when_asked_and_site_yml_by_default(lab_dir: Path) -> None:
    out = lab_dir / "ran.txt"
    extravars = {"out": str(out)}
    taken_back = run_playbook(
        lab_dir, tags=[], ident="1-destroy", extravars=extravars, playbook="uninstall.yml"
    )
    assert taken_back.ok, taken_back.failures
    assert out.read_text() == "uninstall.yml from-the-lab-inventory"
    site = run_playbook(lab_dir, tags=[], ident="2-up", extravars=extravars)
    assert site.ok, site.failures
    assert out.read_text() == "site.yml from-the-lab-inventory"
