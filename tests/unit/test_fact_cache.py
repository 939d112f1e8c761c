"""Facts gathered in one phase are there for the next: real ansible-runner, real Ansible, the
lab's rendered ansible.cfg. ansible-runner by default points the fact cache at a fresh directory
inside each run's artifacts, which left a later phase without facts (a play skipped by its tag
then failed its argument validation on `ansible_facts['architecture']`)."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

import pytest

from labctl import resources
from labctl.lab.factcache import FACTS_DIR
from labctl.registry import plan_lab
from labctl.render import LabPaths, render
from labctl.spec.loader import parse_lab
from labctl.tools.ansible import run_playbook

if TYPE_CHECKING:
    from pathlib import Path

# A stand-in for playbooks/site.yml on the controller itself: the first play gathers facts (the
# prepare phase), the second gathers none and reads them (a later phase).
SITE = """\
- name: Gather
  hosts: all
  gather_facts: true
  tasks:
    - name: Nothing else
      ansible.builtin.meta: noop
      tags: [first]
- name: Read what an earlier run gathered
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the cached architecture
      ansible.builtin.copy:
        content: "{{ ansible_facts['architecture'] }}"
        dest: "{{ out }}"
        mode: "0644"
      tags: [second]
"""


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lab = parse_lab("name: facts\nprovider: lxc\n").lab
    folder = tmp_path / "lab"
    files = render(plan_lab(lab), LabPaths(folder))
    (folder / "inventory").mkdir(parents=True)
    (folder / "ansible.cfg").write_text(files["ansible.cfg"])
    (folder / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
    )
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "site.yml").write_text(SITE)
    monkeypatch.setattr(resources, "playbooks_dir", lambda: playbooks)
    return folder


def test_a_later_phase_reads_the_facts_an_earlier_one_gathered(lab_dir: Path) -> None:
    out = lab_dir / "arch.txt"
    first = run_playbook(lab_dir, tags=["first"], ident="1-first", extravars={"out": str(out)})
    assert first.rc == 0, first
    # The file's name and format are Ansible's own (2.19 writes `s1_localhost`).
    assert list((lab_dir / FACTS_DIR).glob("*localhost")), "facts not cached in the lab directory"
    second = run_playbook(lab_dir, tags=["second"], ident="2-second", extravars={"out": str(out)})
    assert second.rc == 0, second.failures
    assert out.read_text() == platform.machine()
    assert not (lab_dir / "runs" / "1-first" / "fact_cache").exists()
