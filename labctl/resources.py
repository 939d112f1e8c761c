"""Where labctl's own data lives: inside the installed wheel, or at the top of a checkout.

The wheel carries templates/, playbooks/ and Vagrantfile.j2 under labctl/_data/ (pyproject's
force-include); a source checkout keeps them at the repository's top level, as designed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir() -> Path:
    """The folder holding Vagrantfile.j2, templates/ and playbooks/."""
    for candidate in (_PACKAGE_DIR / "_data", _PACKAGE_DIR.parent):
        if (candidate / "Vagrantfile.j2").is_file():
            return candidate
    msg = f"labctl's data files are missing (looked in {_PACKAGE_DIR / '_data'}); reinstall labctl"
    raise RuntimeError(msg)


def templates_dir() -> Path:
    return data_dir() / "templates"


def playbooks_dir() -> Path:
    return data_dir() / "playbooks"


def vagrantfile_template() -> Path:
    return data_dir() / "Vagrantfile.j2"
