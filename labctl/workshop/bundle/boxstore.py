"""The bundle's side of Vagrant's box store (the edge that runs `vagrant box`): list the boxes,
export one into a bundle (`bundle fetch`), and add a bundle's box when the store lacks it
(`up --offline`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BundleError
from labctl.workshop.bundle.items import box_file_name, box_metadata, box_version_of
from labctl.workshop.bundle.manifest import fetch_hint, read_manifest, sha256_file
from labctl.workshop.bundle.versions import newest_local, parse_box_list, satisfies

if TYPE_CHECKING:
    from collections.abc import Callable

    from labctl.plan import Plan


def local_boxes() -> list[tuple[str, str, str]]:
    """The boxes in this host's Vagrant box store; empty when Vagrant is not installed."""
    try:
        proc = subprocess.run(
            ["vagrant", "box", "list", "--machine-readable"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return parse_box_list(proc.stdout) if proc.returncode == 0 else []


def add_box_from_bundle(
    plan: Plan,
    directory: Path,
    on_line: Callable[[str], None] | None = None,
    spec: str | None = None,
) -> str | None:
    """What `up --offline` does before boot when Vagrant's store lacks the lab's box: add the
    bundle's box file through a metadata.json naming the box, its version and sha256, so the
    store holds it as `box_version` expects and nothing dials the Vagrant registry. Returns the
    version added, None when the store already had a fitting one. Fails (exit 3) when it
    cannot, naming why: booting would otherwise download the box."""
    from labctl.errors import PreflightError  # noqa: PLC0415

    box, provider, constraint = plan.box, plan.lab.provider, plan.lab.box_version
    if shutil.which("vagrant") is None:
        return None  # preflight says Vagrant is missing, with the fix
    if newest_local(local_boxes(), box, provider, constraint) is not None:
        return None
    name = box_file_name(box, provider)
    path = directory / name
    wanted = f"{box} ({provider}{', ' + constraint if constraint else ''})"
    if not path.is_file():
        raise PreflightError(
            f"box {wanted} is not in Vagrant's box store and the offline bundle has no {name}",
            fetch_hint(directory, spec),
        )
    manifest = read_manifest(directory)
    entry = manifest.entry(name) if manifest else None
    version = box_version_of(entry) if entry else None
    if version is None and constraint is None:
        version = "0"  # what Vagrant records for a box file added without metadata
    if version is None or not satisfies(version, constraint):
        said = f"is version {version}" if version else "does not say which version it is"
        raise PreflightError(
            f"box {wanted} is not in Vagrant's box store, and the bundle's {name} {said}",
            fetch_hint(directory, spec),
        )
    sha256 = sha256_file(path)
    if entry is not None and entry.sha256 != sha256:
        raise PreflightError(
            f"{path}: sha256 {sha256[:12]}… differs from the manifest's {entry.sha256[:12]}…",
            fetch_hint(directory, spec),
        )
    (on_line or (lambda _line: None))(f"adding box {box} {version} ({provider}) from {path}")
    metadata = box_metadata(box, version, provider, path.resolve().as_uri(), sha256)
    with tempfile.TemporaryDirectory(prefix="labctl-box-") as work:
        metadata_path = Path(work) / "metadata.json"
        metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
        argv = ["vagrant", "box", "add", "--provider", provider, str(metadata_path)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
        except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
            raise PreflightError(f"`vagrant box add` of {path} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise PreflightError(f"`vagrant box add` of {path} failed: {tail}")
    return version


def export_box(box: str, provider: str, version: str, target: Path) -> None:
    """`vagrant box repackage` a box from the local store into `target` (atomically)."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".repackage-") as work:
        proc = subprocess.run(
            ["vagrant", "box", "repackage", box, provider, version],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
        packaged = Path(work) / "package.box"
        if proc.returncode != 0 or not packaged.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise BundleError(f"`vagrant box repackage {box} {provider} {version}` failed: {tail}")
        packaged.chmod(0o644)
        packaged.replace(target)
