"""`labctl box build`: make the Vagrant box an lxc lab boots from (debootstrap, then box add)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from labctl.cli.output import OUT

app = typer.Typer(help="Build and manage the boxes labctl makes itself.", no_args_is_help=True)


class BoxProvider(StrEnum):
    LXC = "lxc"


class BoxDistro(StrEnum):
    UBUNTU = "ubuntu"
    DEBIAN = "debian"


@app.command("build")
def build(
    provider: Annotated[
        BoxProvider, typer.Option("--provider", help="Only lxc boxes are built locally.")
    ] = BoxProvider.LXC,
    distro: Annotated[BoxDistro, typer.Option("--distro")] = BoxDistro.UBUNTU,
    release: Annotated[
        str | None, typer.Option("--release", help="noble (ubuntu), bookworm (debian), ...")
    ] = None,
    mirror: Annotated[
        str | None, typer.Option("--mirror", help="Package mirror URL (default: the distro's).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Box name (default labctl/<distro>-<release>).")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Ignore the cached rootfs and box file.")
    ] = False,
) -> None:
    """Build a vagrant-lxc box with debootstrap and add it to Vagrant (needs root)."""
    from labctl.providers.lxc import box  # noqa: PLC0415 - lazy: keeps --help fast

    del provider  # the only choice today; the option keeps the command line explicit
    chosen_release = release or box.default_release(distro.value)
    chosen_name = name or box.default_box_name(distro.value, chosen_release)
    OUT.line(f"Building {chosen_name} ({distro.value} {chosen_release}); the first build "
             "runs debootstrap and takes a few minutes, later ones use the cache.")  # fmt: skip
    built = box.build_box(
        distro.value,
        chosen_release,
        mirror,
        chosen_name,
        workdir=box.default_cache_dir() / "work",
        rebuild=rebuild,
    )
    cached = "cached box" if built.box_from_cache else (
        "cached rootfs" if built.rootfs_from_cache else "fresh debootstrap")  # fmt: skip
    OUT.line(f"Box {built.name} added to Vagrant ({cached}); file: {built.box_file}")
    OUT.line(f"Use it in lab.yaml: provider: lxc, box: {built.name}")
