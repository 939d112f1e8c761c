"""`labctl render`: write the lab directory (Vagrantfile, inventory, ansible.cfg)."""

from __future__ import annotations

from labctl.cli.common import SpecArg, relative, render_lab, resolve
from labctl.cli.output import OUT


def render(file: SpecArg = None) -> None:
    """Write Vagrantfile, inventory, ansible.cfg."""
    resolved = resolve(file)
    for path, changed in render_lab(resolved):
        OUT.line(f"{'wrote    ' if changed else 'unchanged'} {relative(path)}")
    OUT.line(f"Lab directory: {relative(resolved.lab_dir)}")
