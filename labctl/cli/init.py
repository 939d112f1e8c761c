"""`labctl init`: write a commented lab.yaml to start from."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from labctl.cli.output import OUT


class Template(StrEnum):
    DEFAULT = "default"
    HA = "ha"
    GITOPS = "gitops"


def init(
    template: Annotated[
        Template,
        typer.Option(
            "--template",
            "-t",
            help="default: 1 server + 2 agents; ha: 3 servers on etcd; gitops: GitLab + Argo CD.",
        ),
    ] = Template.DEFAULT,
    file: Annotated[Path, typer.Option("--file", "-f", help="Where to write the spec.")] = Path(
        "lab.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented lab.yaml from a template."""
    from labctl import resources  # noqa: PLC0415 - lazy: keeps --help fast
    from labctl.errors import UsageError  # noqa: PLC0415
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415

    if file.exists() and not force:
        raise UsageError(
            f"{file} already exists; not overwriting it",
            "pass --force to replace it, or --file to write elsewhere",
        )
    text = (resources.templates_dir() / "init" / f"{template.value}.yaml").read_text("utf-8")
    write_atomic(file, text)
    OUT.line(f"Wrote {file} ({template.value} lab). Next: labctl validate && labctl up --dry-run")
