"""The lab directory `.labctl/<name>/` beside the spec: rendered files and per-lab secrets.

Writes are atomic (temp file + rename) and skip files whose content is unchanged, so a failed
or interrupted render never leaves a half-written Vagrantfile and re-renders touch nothing.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from labctl.errors import RenderError
from labctl.lab.factcache import MACHINE_FILES, drop_cached_facts
from labctl.render import LabPaths, render

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.plan import Plan

STATE_DIR = ".labctl"


@dataclass(frozen=True)
class Written:
    """One file of the lab directory and whether this render changed it."""

    path: Path
    changed: bool


def lab_dir_for(spec_path: Path | None, name: str, cwd: Path | None = None) -> Path:
    """`.labctl/<name>/` beside the spec file, or in the working directory for the default lab."""
    base = spec_path.resolve().parent if spec_path else (cwd or Path.cwd()).resolve()
    return base / STATE_DIR / name


# The provider `provider: auto` chose for this lab, kept from its first render until destroy:
# a lab whose machines exist must not move to another provider because the host changed.
AUTO_PIN = "provider-auto"


def read_auto_pin(lab_dir: Path) -> str | None:
    try:
        return (lab_dir / AUTO_PIN).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def write_auto_pin(lab_dir: Path, provider: str) -> None:
    write_atomic(lab_dir / AUTO_PIN, provider + "\n")


def lab_paths(lab_dir: Path) -> LabPaths:
    return LabPaths(PurePosixPath(lab_dir.as_posix()))


def write_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> bool:
    """Write `content` to `path` through a temp file (0600 until renamed); False and no write
    when the file already holds exactly this content with this mode."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def ensure_secret(path: Path, nbytes: int = 32) -> bool:
    """Create a random secret file (0600, in a 0700 folder) once; never rotate an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    if path.exists():
        path.chmod(0o600)
        return False
    return write_atomic(path, secrets.token_hex(nbytes) + "\n", mode=0o600)


def write_lab(lab_dir: Path, files: Mapping[str, str], plan: Plan) -> list[Written]:
    """Write the rendered files and make sure the lab's secrets exist."""
    paths = lab_paths(lab_dir)
    try:
        written = [
            Written(lab_dir / rel, write_atomic(lab_dir / rel, content))
            for rel, content in sorted(files.items())
        ]
        machines = [w for w in written if w.path.relative_to(lab_dir).as_posix() in MACHINE_FILES]
        if any(w.changed for w in machines):
            drop_cached_facts(lab_dir)
        ensure_secret(Path(str(paths.token_file)))
        if plan.gitlab:
            ensure_secret(Path(str(paths.gitlab_password_file)), nbytes=16)
    except OSError as exc:
        raise RenderError(
            f"cannot write the lab directory {lab_dir}: {exc.strerror or exc}",
            "check that the folder beside lab.yaml is writable and the disk is not full",
        ) from None
    return written


def render_into(plan: Plan, lab_dir: Path) -> list[Written]:
    """Render the plan and write it into the lab directory (the `render` phase)."""
    return write_lab(lab_dir, render(plan, lab_paths(lab_dir)), plan)
