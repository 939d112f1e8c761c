"""The gitlab role's apt source and labctl's bundle code name the same GitLab repository.

GitLab moved its packages to one repository per OS release (`<repo>/ubuntu/<codename>`, suite
`<codename>`) with the key at /gpgkey/gpg.key; the old flat layout stops working at the end of
September 2026. bundle.py fetches from the new layout; this renders the role's source line the
way Ansible would (its own Jinja expressions over the role's defaults and vars) and compares.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from labctl.workshop import bundle

ROLE = Path(__file__).parents[2] / "playbooks" / "roles" / "gitlab"
FACTS = {"distribution": "Ubuntu", "distribution_release": "noble"}


def render(text: str) -> str:
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values |= yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - an apt source line, not HTML
    for _ in range(5):  # role variables refer to each other; Ansible resolves them lazily
        text = env.from_string(text).render(**values, ansible_facts=FACTS)
    return " ".join(text.split())


def apt_source_written_by_the_role() -> str:
    """The content of the task that writes the source list, rendered."""
    tasks = yaml.safe_load((ROLE / "tasks" / "repo.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Add the GitLab CE repository")
    return render(task["ansible.builtin.copy"]["content"])


def test_the_role_uses_the_per_release_repository_bundle_fetches_from() -> None:
    repo = bundle.gitlab_repo_url("ubuntu", "noble")
    keyring = render("{{ gitlab_keyring }}")
    assert apt_source_written_by_the_role() == f"deb [signed-by={keyring}] {repo} noble main"


def test_the_role_fetches_the_key_from_its_new_location() -> None:
    assert render("{{ gitlab_gpg_key_url }}") == "https://packages.gitlab.com/gpgkey/gpg.key"
