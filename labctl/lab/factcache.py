"""Ansible's fact cache of a lab (`.labctl/<lab>/facts/`, ansible.cfg's fact_caching_connection).

With `gathering = smart` Ansible trusts these facts for two hours. Facts about machines that no
longer exist (a destroy) or that now have other addresses (a spec change rendered into the
inventory) would make the roles search the old addresses, so both drop the cache.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

FACTS_DIR = "facts"
# Rendered files that describe the machines and their addresses: a change to either makes the
# cached facts describe other machines.
MACHINE_FILES = ("inventory/hosts.yml", "inventory/group_vars/all.yml")


def drop_cached_facts(lab_dir: Path) -> bool:
    """Remove the lab's fact cache; True when there was one."""
    folder = lab_dir / FACTS_DIR
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
