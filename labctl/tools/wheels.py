"""The wheels of the in-lab controller's venv, fetched by this host's pip for the controller
machine's Python and architecture (`pip download --only-binary`), so the machine installs them
with no index and no network. Kept per wheel set in ~/.cache/labctl/controller-wheels, or read
from an offline bundle's controller/ folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Sequence

REQUIREMENTS_FILE = "requirements.json"  # in a wheel set: what it was downloaded for


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labctl" / "controller-wheels"


def complete(folder: Path, requirements: Sequence[str]) -> bool:
    """Whether `folder` holds a wheel set downloaded for exactly these requirements."""
    try:
        said = json.loads((folder / REQUIREMENTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return said == list(requirements) and any(folder.glob("pip-*.whl"))


def download(
    folder: Path,
    requirements: Sequence[str],
    *,
    python: tuple[int, int],
    platforms: Sequence[str],
    timeout: float = 600.0,
) -> Path:
    """Download the wheels (and pip's own, which installs them) into `folder`, replacing what
    was there only once the download is whole."""
    if complete(folder, requirements):
        return folder
    if not platforms:
        raise ControllerError(
            "the controller machine's C library is not glibc: no wheels of ansible-core's "
            "dependencies are published for it",
            "use a glibc box (Ubuntu, Debian), or controller: host under WSL",
        )
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    version = f"{python[0]}.{python[1]}"
    argv = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
        "--dest", str(partial), "--only-binary=:all:", "--python-version", version,
        "--implementation", "cp", "--abi", f"cp{python[0]}{python[1]}", "--abi", "abi3",
        "--abi", "none", *(f"--platform={p}" for p in platforms), "pip", *requirements,
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ControllerError(
            f"pip could not download the controller's wheels: {exc}",
            "check this host's network, or give `--offline` a bundle with controller wheels",
        ) from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ControllerError(
            f"pip could not download the controller's wheels for Python {version}: {last}",
            "check this host's network and pip's index settings, or give `--offline` a bundle "
            "made by `labctl bundle fetch` with controller wheels",
        )
    (partial / REQUIREMENTS_FILE).write_text(json.dumps(list(requirements)), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(folder)
    return folder
