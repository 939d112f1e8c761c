"""`labctl handout [FILE] [--out DIR]`: the lab's page and Markdown for the person using it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path  # noqa: TC003 - typer resolves annotations at run time
from typing import Annotated

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, relative, resolve
from labctl.cli.output import OUT


class KubeconfigChoice(StrEnum):
    """Mirrors labctl.workshop.handout.KubeconfigMode, so --help does not import jinja2."""

    EMBED = "embed"
    FILE = "file"
    OMIT = "omit"


def handout(
    file: SpecArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder to write into. Default: .labctl/<lab>/handout/.", metavar="DIR"
        ),
    ] = None,
    kubeconfig: Annotated[
        KubeconfigChoice,
        typer.Option(
            "--kubeconfig",
            help="embed: in the page; file: <lab>-kubeconfig.yaml beside it; omit: leave it out.",
        ),
    ] = KubeconfigChoice.EMBED,
    output: FormatOption = Format.TEXT,
) -> None:
    """Write the lab's handout: an HTML page and a Markdown file.

    Topology picture, SSH commands, kubeconfig, Argo CD/GitLab URLs and credentials, the demo
    app's URL and the last check results. The files are 0600: they hold the lab's passwords.
    """
    from pathlib import Path  # noqa: PLC0415 - lazy: keeps --help fast

    from labctl.workshop import handout as ho  # noqa: PLC0415

    resolved = resolve(file)
    spec = resolved.loaded.path
    workdir = spec.resolve().parent if spec is not None else Path.cwd()
    spec_arg = spec.name if spec is not None and spec.name != "lab.yaml" else None
    facts = ho.gather_facts(
        resolved.plan, resolved.lab_dir, workdir=str(workdir), spec_arg=spec_arg
    )
    files = ho.render_handout(resolved.plan, facts, kubeconfig=ho.KubeconfigMode(kubeconfig.value))
    written = ho.write_handout(files, out if out is not None else resolved.lab_dir / "handout")
    if output is Format.JSON:
        OUT.json({"lab": resolved.plan.name, "files": [str(p.resolve()) for p in written]})
        return
    for path in written:
        OUT.line(f"Wrote {relative(path)} (0600)")
    if kubeconfig is KubeconfigChoice.FILE and facts.kubeconfig is None:
        OUT.warn("the lab has no kubeconfig yet, so none was written beside the page")
    OUT.line(f"Open it: file://{written[0].resolve()}")
