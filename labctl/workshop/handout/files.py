"""The handout's edges: what it reads from the lab directory (checks, secrets, kubeconfig) and
the only writer of its files (atomic, 0600: they hold credentials)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import RenderError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labctl.plan import Plan
from labctl.workshop.handout.pages import (
    ChecksSummary,
    HandoutFacts,
    HandoutFiles,
    IndexEntry,
    parse_checks,
    render_index,
)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")  # a bad byte is not a crash
    except FileNotFoundError:
        return None


def _secret(path: Path) -> str | None:
    text = _read(path)
    return text.strip() if text is not None and text.strip() else None


def read_checks(lab_dir: Path) -> tuple[ChecksSummary | None, str | None, str | None]:
    """(summary, problem, when) from `<lab_dir>/checks.json`; all None when it does not exist."""
    import time  # noqa: PLC0415 - only the edge looks at the clock

    path = lab_dir / "checks.json"
    text = _read(path)
    if text is None:
        return None, None, None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    try:
        return parse_checks(text), None, when
    except ValueError as exc:
        return None, f"checks.json cannot be read: {exc}", when


def gather_facts(
    plan: Plan, lab_dir: Path, *, workdir: str, spec_arg: str | None = None
) -> HandoutFacts:
    """Read what the handout shows from the lab directory; missing files become None."""
    from labctl.errors import BootError, StateError  # noqa: PLC0415
    from labctl.lab.kubeconfig import lab_kubeconfig_path  # noqa: PLC0415
    from labctl.lab.labdir import lab_paths  # noqa: PLC0415
    from labctl.lab.targets import load_targets  # noqa: PLC0415

    paths = lab_paths(lab_dir)
    try:
        targets = tuple(load_targets(lab_dir).values())
    except (BootError, StateError):  # never booted, or ssh.json mangled
        targets = ()
    checks, problem, when = read_checks(lab_dir)
    from labctl.lessons.fleet import lesson_lines  # noqa: PLC0415

    lessons, lessons_problem = lesson_lines(lab_dir, plan.name)
    from labctl.lab.access import KEY_FILE  # noqa: PLC0415
    from labctl.lab.attendees import read_record  # noqa: PLC0415

    access = read_record(lab_dir)
    lab = plan.lab
    return HandoutFacts(
        workdir=workdir,
        spec_arg=spec_arg,
        ssh=targets,
        kubeconfig=_read(lab_kubeconfig_path(lab_dir)),
        argocd_password=(
            _secret(Path(str(paths.argocd_password_file))) if lab.addons.argocd.enabled else None
        ),
        gitlab_root_password=(
            _secret(Path(str(paths.gitlab_password_file))) if plan.gitlab is not None else None
        ),
        checks=checks,
        checks_problem=problem,
        checks_when=when,
        lessons=lessons,
        lessons_problem=lessons_problem,
        access=access,
        attendee_key=_read(lab_dir / KEY_FILE) if access is not None else None,
    )


def write_handout(files: HandoutFiles, out_dir: Path) -> list[Path]:
    """Write every file of the handout into out_dir (0700 when created), each 0600 and atomic."""
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = []
        for name, content in files.items():
            write_atomic(out_dir / name, content, mode=0o600)
            written.append(out_dir / name)
    except OSError as exc:
        raise RenderError(
            f"cannot write the handout into {out_dir}: {exc.strerror or exc}",
            "choose a writable folder with --out",
        ) from None
    return written


def write_index(labs: Iterable[IndexEntry], out_dir: Path, *, title: str = "labctl labs") -> Path:
    """index.html in out_dir (0600 like the pages it links to, though it holds no secret)."""
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    path = out_dir / "index.html"
    write_atomic(path, render_index(list(labs), title=title), mode=0o600)
    return path
