"""The bundle directory on disk: its manifest.json, and checking every file against it before a
lab boots (`labctl bundle verify`, `up --offline`)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from labctl.errors import BundleError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from labctl.plan import Plan
from labctl.workshop.bundle.items import (
    CHUNK,
    MANIFEST,
    BundleItem,
    Manifest,
    ManifestEntry,
    Problem,
    argocd_manifest_version,
    box_file_name,
    bundle_items,
    host_arch,
    k3s_asset_names,
    names_version,
    parse_sums,
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> Manifest | None:
    """The bundle's manifest, None when there is none; a damaged one is a BundleError."""
    from labctl.lab.readback import read_json  # noqa: PLC0415

    path = directory / MANIFEST
    return read_json(
        path,
        Manifest.from_json,
        lambda reason: BundleError(
            f"{path} is damaged ({reason})",
            f"run `labctl bundle fetch --dir {directory}` again on a machine with internet",
        ),
    )


def write_manifest(directory: Path, manifest: Manifest) -> None:
    from labctl.lab.labdir import write_atomic  # noqa: PLC0415 - jinja2 loads only when writing

    write_atomic(directory / MANIFEST, manifest.to_json())


def fetch_hint(directory: Path, spec: str | None = None) -> str:
    spec_arg = f" {spec}" if spec else ""
    return (
        f"on a machine with internet run `labctl bundle fetch{spec_arg} --dir {directory}` "
        f"and copy the directory here"
    )


def verify(
    plan: Plan,
    directory: Path,
    *,
    need_box: bool = True,
    need_manifest: bool = True,
    arch: str | None = None,
) -> list[Problem]:
    """Every way DIR falls short of what `up --offline` needs for this plan's machines of
    architecture `arch` (this host's when None), as a list (empty: complete).

    Fatal: a required file missing, a file whose sha256 differs from the manifest or from the
    K3s sums, a file fetched for another release than the spec pins (by the manifest's source,
    and for Argo CD's manifest by its own images), no manifest. Not fatal: optional files (Argo
    CD images) missing, files not listed.
    """
    manifest = read_manifest(directory)
    problems: list[Problem] = []
    if manifest is None:
        problems.append(
            Problem(
                "no-manifest",
                MANIFEST,
                "missing: DIR was not filled by `labctl bundle fetch`",
                fatal=need_manifest,
            )
        )
    argocd_text = _read_text(directory / "argocd-install.yaml")
    arch = arch or host_arch()
    items = bundle_items(plan, arch=arch, argocd_manifest=argocd_text)
    if not need_box:
        items = [i for i in items if i.kind != "box"]
    sums_text = _read_text(directory / k3s_asset_names(arch)[1])
    sums = parse_sums(sums_text) if sums_text is not None else {}
    skipped = {n.name: n.reason for n in manifest.not_fetched} if manifest else {}
    for item in items:
        path = directory / item.name
        if not path.is_file():
            if item.name in skipped:
                problems.append(
                    Problem(
                        "not-fetched",
                        item.name,
                        f"not fetched: {skipped[item.name]}",
                        fatal=item.required,
                    )
                )
            else:
                what = "missing" if item.required else "missing (optional)"
                problems.append(
                    Problem(
                        "missing", item.name, f"{what}; needed by {item.why}", fatal=item.required
                    )
                )
            continue
        problems += _check_file(item, path, manifest, sums, k3s_asset_names(arch)[1])
    expected = {i.name for i in items} | {MANIFEST}
    if not need_box:
        expected |= {box_file_name(plan.box, plan.lab.provider)}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.is_file() and path.name not in expected and not path.name.startswith("."):
            problems.append(Problem("extra", path.name, "not part of this lab's bundle", False))
    return problems


def _check_file(
    item: BundleItem,
    path: Path,
    manifest: Manifest | None,
    sums: Mapping[str, str],
    sums_name: str,
) -> list[Problem]:
    """A present file against the manifest's record and, for K3s, the release's sums."""
    problems: list[Problem] = []
    actual = sha256_file(path)
    entry = manifest.entry(item.name) if manifest else None
    if entry is not None and entry.sha256 != actual:
        problems.append(
            Problem(
                "corrupt",
                item.name,
                f"sha256 {actual[:12]}… differs from the manifest's {entry.sha256[:12]}…",
            )
        )
    published = sums.get(item.checksum.entry or "") if item.checksum.kind == "sums-file" else None
    if item.checksum.kind == "sums-file" and published is None:
        problems.append(
            Problem(
                "corrupt",
                item.name,
                f"not listed in {sums_name}, which the k3s_binary role checks it against",
            )
        )
    elif published is not None and published != actual:
        problems.append(
            Problem(
                "corrupt",
                item.name,
                f"sha256 {actual[:12]}… differs from {sums_name}'s {published[:12]}…",
            )
        )
    problems += _check_version(item, path, entry)
    if entry is None and manifest is not None and not problems:
        problems.append(
            Problem(
                "unlisted",
                item.name,
                "not in manifest.json: its source is not on record",
                fatal=False,
            )
        )
    return problems


def _check_version(item: BundleItem, path: Path, entry: ManifestEntry | None) -> list[Problem]:
    """A file made for another release than the spec pins. Its name does not say (K3s's files
    and Argo CD's manifest carry no version), so the manifest's source does, and Argo CD's
    manifest says itself through its images (a hand-made bundle has no manifest)."""
    if item.version is None or names_version(item.name, item.version):
        return []
    found: str | None = None
    if entry is not None and not names_version(entry.source, item.version):
        found = entry.source
    elif item.kind == "argocd":
        tagged = argocd_manifest_version(_read_text(path) or "")
        if tagged is not None and tagged != item.version:
            found = f"its images are tagged {tagged}"
    if found is None:
        return []
    return [
        Problem(
            "version",
            item.name,
            f"made for another release ({found}); this lab pins {item.pinned_by}: {item.version}",
        )
    ]


def require_complete(
    plan: Plan,
    directory: Path,
    *,
    need_box: bool = True,
    need_manifest: bool = True,
    spec: str | None = None,
) -> None:
    """Raise BundleError naming every missing, corrupt or other-release file in DIR."""
    if not directory.is_dir():
        raise BundleError(f"--offline {directory}: no such directory", fetch_hint(directory, spec))
    fatal = [
        p
        for p in verify(plan, directory, need_box=need_box, need_manifest=need_manifest)
        if p.fatal
    ]
    if fatal:
        raise incomplete_error(directory, fatal, spec)


def require_offline_ready(plan: Plan, directory: Path, spec: str | None = None) -> None:
    """What `up --offline DIR` calls before boot: every file the roles will read is there and
    matches its checksums (the manifest's when there is one, K3s's sums always).

    The box is left out here: `add_box_from_bundle` checks and adds it only when Vagrant's
    store lacks it. A hand-made DIR without manifest.json is accepted, as the roles accept it.
    """
    require_complete(plan, directory, need_box=False, need_manifest=False, spec=spec)


def incomplete_error(directory: Path, fatal: list[Problem], spec: str | None = None) -> BundleError:
    """The one error for a bundle that falls short: a line per file missing, corrupt or of
    another release."""
    count = len(fatal)
    return BundleError(
        f"the offline bundle {directory} is incomplete: {count} "
        f"{'file' if count == 1 else 'files'} missing, corrupt or of another release",
        fetch_hint(directory, spec),
        details=[f"{directory / p.name}: {p.message}" for p in fatal],
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
