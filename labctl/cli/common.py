"""What several commands share: finding the spec, loading it with its warnings, the lab dir."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.output import OUT

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.specfile import LoadedLab

DEFAULT_SPEC = Path("lab.yaml")


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    Format, typer.Option("--output", "-o", help="text for people, json for scripts and CI.")
]

SpecArg = Annotated[
    Path | None,
    typer.Argument(
        help="Lab spec file. Default: ./lab.yaml, or the built-in default lab if there is none.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Resolved:
    """A loaded spec, its plan, and the lab directory its files belong in."""

    loaded: LoadedLab
    plan: Plan
    lab_dir: Path


def load_spec(file: Path | None, *, warn: bool = True) -> LoadedLab:
    """Load FILE, ./lab.yaml, or the built-in default lab (saying so), printing warnings."""
    from labctl.advisories import advisories  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.host import free_memory_mib  # noqa: PLC0415
    from labctl.specfile import default_lab, load_lab  # noqa: PLC0415

    if file is None and not DEFAULT_SPEC.exists():
        OUT.line("No lab.yaml here: using the built-in default lab (1 server, 2 agents).")
        loaded = default_lab()
    else:
        loaded = load_lab(file or DEFAULT_SPEC)
    if warn:
        for warning in advisories(loaded, free_memory_mib()):
            OUT.warn(str(warning))
    return loaded


def resolve(file: Path | None) -> Resolved:
    """Spec -> plan -> lab directory, the common start of render, up and friends."""
    from labctl.labdir import lab_dir_for  # noqa: PLC0415
    from labctl.plan import make_plan  # noqa: PLC0415

    loaded = load_spec(file)
    plan = make_plan(loaded.lab)
    return Resolved(loaded, plan, lab_dir_for(loaded.path, plan.name))


def render_lab(resolved: Resolved) -> list[tuple[Path, bool]]:
    """Render the plan into the lab directory; returns each file and whether it changed."""
    from labctl.labdir import lab_paths, write_lab  # noqa: PLC0415
    from labctl.render import render  # noqa: PLC0415

    files = render(resolved.plan, lab_paths(resolved.lab_dir))
    return [(w.path, w.changed) for w in write_lab(resolved.lab_dir, files, resolved.plan)]


def relative(path: Path) -> str:
    """A path as the user would type it from here."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
