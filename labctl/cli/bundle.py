"""`labctl bundle fetch|verify`: gather what `up` downloads into a directory, and check one.

A workshop room or an air-gapped CI runner gets the directory; `labctl up --offline DIR` then
installs from it alone. Output is one plain line per file, errors one line each on stderr.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli.common import Format, FormatOption, SpecArg, load_spec
from labctl.cli.output import OUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from labctl.plan import Plan
    from labctl.workshop.bundle import Manifest, Problem

app = typer.Typer(
    help="Gather what `labctl up` downloads into a directory, for labs without internet.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        help="The bundle directory (created by fetch; `labctl up --offline DIR` reads it).",
        metavar="DIR",
        file_okay=False,
    ),
]


BaseUrlOption = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        help="KIND=URL: fetch k3s, argocd, gitlab or vagrant files, or registry images "
        "(<URL>/<registry>/<repository>), from a mirror (repeatable).",
        metavar="KIND=URL",
        show_default=False,
    ),
]


class ImageTool(StrEnum):
    AUTO = "auto"
    SKOPEO = "skopeo"
    DOCKER = "docker"
    NONE = "none"


ImageToolOption = Annotated[
    ImageTool,
    typer.Option(
        "--image-tool",
        help="Saves the demo app's and Argo CD's images: auto finds skopeo or a running docker; "
        "none skips them (the bundle is then incomplete).",
    ),
]


class Arch(StrEnum):
    AMD64 = "amd64"
    ARM64 = "arm64"


ArchOption = Annotated[
    Arch | None,
    typer.Option(
        "--arch",
        help="The lab machines' architecture (default: this host's, which the machines share: "
        "fetch with --arch arm64 for Apple Silicon or arm64 venue hosts).",
        show_default=False,
    ),
]


def parse_base_urls(values: list[str] | None) -> dict[str, str]:
    """`--base-url k3s=https://mirror/k3s` options as {kind: url}; a bad one is a usage error."""
    from labctl.errors import UsageError  # noqa: PLC0415
    from labctl.workshop.bundle import DEFAULT_BASE_URLS  # noqa: PLC0415

    urls: dict[str, str] = {}
    for value in values or []:
        kind, sep, url = value.partition("=")
        if not sep or kind not in DEFAULT_BASE_URLS or not url:
            raise UsageError(
                f"--base-url {value}: expected KIND=URL",
                f"KIND is one of {', '.join(DEFAULT_BASE_URLS)}",
            )
        urls[kind] = url
    return urls


def _plan(file: Path | None) -> Plan:
    from labctl.registry import plan_lab  # noqa: PLC0415 - lazy: keeps --help fast

    return plan_lab(load_spec(file, warn=False).lab)


ControllerPythonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--controller-python",
        help="X.Y: also the wheels of the in-lab Ansible controller (controller: lab, as on "
        "Windows) for machines whose python3 is X.Y, into DIR/controller/ (repeatable).",
        metavar="X.Y",
        show_default=False,
    ),
]


def _controller_wheels(
    directory: Path, versions: list[str], arch: str | None, on_line: Callable[[str], None]
) -> None:
    """The controller venv's wheels for each Python, as `up --offline` in lab mode reads them."""
    import re  # noqa: PLC0415

    from labctl.errors import UsageError  # noqa: PLC0415
    from labctl.lab.incontroller import bundle_wheels  # noqa: PLC0415

    for version in versions:
        if not re.fullmatch(r"3\.\d{1,2}", version):
            raise UsageError(f"--controller-python {version!r} is not a Python version",
                             "give it as X.Y, e.g. --controller-python 3.12")  # fmt: skip
    for version in versions:
        tag, count = bundle_wheels(directory, (3, int(version.split(".")[1])), arch)
        on_line(f"controller wheels for {tag}: {count} files")


@app.command("fetch")
def fetch(
    directory: DirOption,
    file: SpecArg = None,
    base_url: BaseUrlOption = None,
    image_tool: ImageToolOption = ImageTool.AUTO,
    arch: ArchOption = None,
    controller_python: ControllerPythonOption = None,
    output: FormatOption = Format.TEXT,
) -> None:
    """Download the box, K3s, Argo CD and GitLab files this lab needs, with manifest.json.

    Files already in DIR with the right checksum are kept, so a second run fetches only what
    is missing.
    """
    from labctl.workshop import bundle  # noqa: PLC0415

    urls = parse_base_urls(base_url)
    plan = _plan(file)
    if output is Format.TEXT:
        OUT.line(f"Fetching the offline bundle of lab {plan.name} into {directory}/")
    quiet = output is Format.JSON  # stdout carries the manifest alone
    if controller_python:  # first: PyPI, where the files of the others may be cut off

        def say(text: str) -> None:
            if not quiet:
                OUT.line(f"  {text}")

        _controller_wheels(directory, controller_python, arch.value if arch else None, say)
    manifest = bundle.fetch(
        plan,
        directory,
        base_urls=urls,
        image_tool=image_tool.value,
        arch=arch.value if arch else None,
        on_line=None if quiet else (lambda text: OUT.line(f"  {text}")),
    )
    if output is Format.JSON:
        OUT.data(manifest.to_json())
        return
    _summary(manifest, directory)


def _summary(manifest: Manifest, directory: Path) -> None:
    total = sum(f.size for f in manifest.files)
    OUT.line(
        f"Bundle complete: {len(manifest.files)} files, {total / (1 << 20):.1f} MiB, "
        f"manifest {directory / 'manifest.json'}"
    )
    for gap in manifest.not_fetched:
        OUT.warn(f"not fetched: {gap.name} ({gap.source}): {gap.reason}")
    OUT.line(f"Use it: labctl up --offline {directory}")


@app.command("verify")
def verify(
    directory: DirOption,
    file: SpecArg = None,
    arch: ArchOption = None,
    output: FormatOption = Format.TEXT,
) -> None:
    """Check DIR against this lab: every file present, of the release the spec pins, and
    matching its recorded sha256.

    Exits 2 naming each missing, corrupt or other-release file; files this lab does not need
    are only noted.
    """
    from labctl.errors import BundleError  # noqa: PLC0415
    from labctl.workshop import bundle  # noqa: PLC0415

    plan = _plan(file)
    if not directory.is_dir():
        raise BundleError(f"--dir {directory}: no such directory", bundle.fetch_hint(directory))
    problems = bundle.verify(plan, directory, arch=arch.value if arch else None)
    fatal = [p for p in problems if p.fatal]
    if output is Format.JSON:
        OUT.json(
            {
                "dir": str(directory),
                "complete": not fatal,
                "problems": [_problem_dict(p) for p in problems],
            }
        )
    else:
        for problem in problems:
            if not problem.fatal:
                OUT.warn(str(problem))
    if fatal:
        raise bundle.incomplete_error(directory, fatal, str(file) if file else None)
    if output is Format.TEXT:
        OUT.line(f"Bundle {directory} is complete for lab {plan.name}.")


def _problem_dict(problem: Problem) -> dict[str, object]:
    return {
        "kind": problem.kind,
        "name": problem.name,
        "message": problem.message,
        "fatal": problem.fatal,
    }
