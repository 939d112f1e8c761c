"""`labctl bundle fetch`: the network edge that downloads each item, checks it, and records it in
the manifest as it goes, so an interrupted fetch resumes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import BundleError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from urllib.request import OpenerDirector

    from labctl.plan import Plan
from labctl.workshop.bundle.boxstore import export_box, local_boxes
from labctl.workshop.bundle.items import (
    CHUNK,
    DEFAULT_BASE_URLS,
    DOWNLOAD_TIMEOUT,
    BundleItem,
    Manifest,
    ManifestEntry,
    NotFetched,
    bundle_items,
    find_apt_package,
    host_arch,
    image_pull_source,
    k3s_asset_names,
    parse_sums,
)
from labctl.workshop.bundle.manifest import (
    _read_text,
    read_manifest,
    sha256_file,
    write_manifest,
)
from labctl.workshop.bundle.versions import choose_box, newest_local

# Saved with skopeo or docker rather than downloaded.
IMAGE_KINDS = ("demo-image", "argocd-image")


@dataclass
class _Fetcher:
    """One fetch run: the opener, the directory, the previous manifest, and what it did."""

    directory: Path
    opener: OpenerDirector
    previous: Manifest | None
    timeout: float
    say: Callable[[str], None]
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    skipped: dict[str, NotFetched] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)

    def get_bytes(self, url: str, *, accept: str | None = None, limit: int = 256 << 20) -> bytes:
        """A small document (sums file, index, metadata) into memory; gunzipped if .gz."""
        from urllib.request import Request  # noqa: PLC0415

        request = Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310
        with self.opener.open(request, timeout=self.timeout) as response:
            data = bytes(response.read(limit + 1))
        if len(data) > limit:
            raise BundleError(f"{url} is larger than {limit >> 20} MiB; refusing to hold it")
        return gzip.decompress(data) if url.endswith(".gz") else data

    def download(self, url: str, name: str, *, sha256: str | None = None) -> ManifestEntry:
        """Stream `url` into DIR/name through a temp file; rename only when complete and right."""
        from urllib.request import Request  # noqa: PLC0415

        target = self.directory / name
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".part")
        tmp = Path(tmp_name)
        digest, size = hashlib.sha256(), 0
        try:
            request = Request(url)  # noqa: S310 - https upstream, or the caller's base_urls
            with (
                self.opener.open(request, timeout=self.timeout) as response,
                os.fdopen(fd, "wb") as out,
            ):
                expected_size = response.headers.get("Content-Length")
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            if expected_size is not None and int(expected_size) != size:
                raise BundleError(f"{url}: got {size} of {expected_size} bytes (cut off)")
            actual = digest.hexdigest()
            if sha256 is not None and actual != sha256.lower():
                raise BundleError(
                    f"{name}: sha256 {actual} does not match the published {sha256.lower()}"
                )
            tmp.chmod(0o644)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.downloaded.append(name)
        return ManifestEntry(name, url, actual, size, _now())

    def keep_if_good(
        self, item: BundleItem, expected: str | None, source: str | None = None
    ) -> bool:
        """Reuse DIR/name when it hashes to the published sum or, with none published, to the
        manifest's record of a file from the same source (a new version has a new source)."""
        path = self.directory / item.name
        if not path.is_file():
            return False
        previous = self.previous.entry(item.name) if self.previous else None
        if expected is None and previous is not None and previous.source != (source or item.source):
            previous = None
        wanted = expected or (previous.sha256 if previous else None)
        if wanted is None:
            return False
        actual = sha256_file(path)
        if actual != wanted:
            return False
        if previous is not None and previous.sha256 == actual:
            self.entries[item.name] = previous
        else:
            self.entries[item.name] = ManifestEntry(
                item.name, item.source, actual, path.stat().st_size, _now(), item.checksum.url
            )
        self.say(f"kept       {item.name} (sha256 matches)")
        return True

    def keep_verified(self, item: BundleItem) -> bool:
        """Reuse DIR/name, without asking upstream again, when the manifest says it was checked
        against this very index or metadata URL and it still hashes the same."""
        previous = self.previous.entry(item.name) if self.previous else None
        if previous is None or previous.verified_against != item.checksum.url:
            return False
        return self.keep_if_good(item, previous.sha256)

    def record(self, entry: ManifestEntry, verified_against: str | None) -> None:
        self.entries[entry.name] = replace(entry, verified_against=verified_against)
        checked = f", sha256 verified against {verified_against}" if verified_against else ""
        self.say(f"fetched    {entry.name} ({_size(entry.size)}{checked})")

    def stamp_version(self, name: str, version: str | None) -> None:
        """Record which version a fetched or kept box is (`up --offline` adds it as that)."""
        entry = self.entries.get(name)
        if entry is not None and version:
            self.entries[name] = replace(entry, version=version)


def _now() -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


def fetch(
    plan: Plan,
    directory: Path,
    *,
    base_urls: Mapping[str, str] | None = None,
    opener: OpenerDirector | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
    on_line: Callable[[str], None] | None = None,
    image_tool: str | None = None,
    use_box_store: bool = True,
    arch: str | None = None,
) -> Manifest:
    """Fill DIR with this plan's bundle and write manifest.json; files already right are kept.
    `arch`: the lab machines' architecture (this host's when None).

    Every failure is collected; the manifest records what did arrive, then a BundleError names
    each file that did not. `image_tool`: "auto" (None) finds skopeo or a working docker,
    "skopeo"/"docker" force one, "none" records the images as not fetched without trying.
    """
    import urllib.request  # noqa: PLC0415

    from labctl import __version__  # noqa: PLC0415
    from labctl.lab.state import spec_hash  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    run = _Fetcher(
        directory,
        opener or urllib.request.build_opener(),
        read_manifest(directory),
        timeout,
        on_line or (lambda _line: None),
    )
    urls = {**DEFAULT_BASE_URLS, **(base_urls or {})}
    arch = arch or host_arch()
    run.say(f"for {arch} machines")
    items = bundle_items(plan, arch=arch, base_urls=urls)
    sums: dict[str, str] | None = None  # the K3s release's, once its file is in DIR
    for item in items:
        try:
            if item.kind == "box":
                version = _fetch_box(run, plan, item, arch, use_box_store=use_box_store)
                run.stamp_version(item.name, version)
            elif item.kind == "gitlab":
                _fetch_gitlab(run, plan, item, arch)
            elif item.kind in IMAGE_KINDS:
                continue  # saved with an image tool below, once Argo CD's manifest names its own
            elif item.checksum.kind == "sums-file":
                if sums is None:
                    raise BundleError(
                        f"skipped: {k3s_asset_names(arch)[1]}, which it is checked against, "
                        "could not be fetched"
                    )
                expected = sums.get(item.checksum.entry or "")
                if expected is None:
                    raise BundleError(f"{item.name} is not listed in {item.checksum.url}")
                if not run.keep_if_good(item, expected):
                    run.record(
                        run.download(item.source, item.name, sha256=expected), item.checksum.url
                    )
            elif not run.keep_if_good(item, None):
                run.record(run.download(item.source, item.name), None)
            if item.name == k3s_asset_names(arch)[1]:
                sums = parse_sums((directory / item.name).read_text(encoding="utf-8"))
        except (BundleError, OSError, ValueError) as exc:
            run.errors.append(f"{item.name}: {_reason(exc)} (from {item.source})")
            run.say(f"FAILED     {item.name}: {_reason(exc)}")
    argocd_text = _read_text(directory / "argocd-install.yaml")
    images = [
        i
        for i in bundle_items(plan, arch=arch, base_urls=urls, argocd_manifest=argocd_text)
        if i.kind in IMAGE_KINDS
    ]
    _fetch_images(run, images, image_tool, arch, urls["registry"])
    manifest = Manifest(
        labctl_version=__version__,
        lab=plan.name,
        spec_hash=spec_hash(plan.lab),
        files=tuple(run.entries[name] for name in sorted(run.entries)),
        not_fetched=tuple(run.skipped[name] for name in sorted(run.skipped)),
    )
    write_manifest(directory, manifest)
    if run.errors:
        count = len(run.errors)
        raise BundleError(
            f"{count} {'file' if count == 1 else 'files'} could not be fetched into {directory}",
            "check the network and the versions in lab.yaml, then run the same command again: "
            "files already fetched are kept",
            details=run.errors,
        )
    return manifest


def _reason(exc: BaseException) -> str:
    from urllib.error import HTTPError, URLError  # noqa: PLC0415

    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        return f"cannot connect: {exc.reason}"
    if isinstance(exc, BundleError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _fetch_gitlab(run: _Fetcher, plan: Plan, item: BundleItem, arch: str) -> None:
    if item.checksum.kind != "apt-packages" or item.checksum.url is None:
        raise BundleError(
            f"cannot tell which OS release box {plan.box} runs, and GitLab builds "
            "one package per release"
        )
    if run.keep_verified(item):
        return
    version = plan.lab.addons.gitlab.version
    index = run.get_bytes(item.checksum.url).decode("utf-8", "replace")
    package = find_apt_package(index, "gitlab-ce", version, arch)
    if run.keep_if_good(item, package.sha256):
        return
    repo = item.checksum.url.split("/dists/", 1)[0]
    url = f"{repo}/{package.filename}"
    entry = run.download(url, item.name, sha256=package.sha256)
    run.record(entry, item.checksum.url)


def _fetch_box(
    run: _Fetcher, plan: Plan, item: BundleItem, arch: str, *, use_box_store: bool
) -> str | None:
    """Fetch the box (from the local store, else the registry); its version, None when a
    kept file's manifest record already says it."""
    lab = plan.lab
    box, provider, constraint = plan.box, lab.provider, lab.box_version
    if use_box_store:
        local = newest_local(local_boxes(), box, provider, constraint)
        if local is not None:
            source = f"vagrant box store: {box} {local} ({provider})"
            if run.keep_if_good(item, None, source):
                return local
            export_box(box, provider, local, run.directory / item.name)
            path = run.directory / item.name
            entry = ManifestEntry(item.name, source, sha256_file(path), path.stat().st_size, _now())
            run.downloaded.append(item.name)
            run.record(entry, None)
            return local
    built_here = plan.provider.local_box_hint(box)
    if built_here is not None:
        raise BundleError(
            f"{box} is built locally and is not in this host's Vagrant box store; {built_here}"
        )
    if run.keep_verified(item):
        return None
    metadata = json.loads(run.get_bytes(item.source, accept="application/json"))
    chosen = choose_box(metadata, provider, constraint, arch)
    checksum_type = (chosen.checksum_type or "").lower()
    if checksum_type == "sha256" and chosen.checksum:
        if not run.keep_if_good(item, chosen.checksum):
            run.record(run.download(chosen.url, item.name, sha256=chosen.checksum), item.source)
        return chosen.version
    if not run.keep_if_good(item, None, chosen.url):
        entry = run.download(chosen.url, item.name)
        if chosen.checksum and checksum_type in hashlib.algorithms_available:
            actual = hashlib.new(checksum_type, (run.directory / item.name).read_bytes())
            if actual.hexdigest() != chosen.checksum.lower():
                (run.directory / item.name).unlink()
                raise BundleError(f"{checksum_type} does not match the box metadata's checksum")
            run.record(entry, item.source)
        else:
            run.record(entry, None)
    return chosen.version


def image_tool_available() -> str | None:
    """skopeo, or docker with a running daemon: the tools that can save an image to a tarball."""
    if shutil.which("skopeo"):
        return "skopeo"
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if probe.returncode == 0:
            return "docker"
    return None


def save_image(
    tool: str, image: str, target: Path, arch: str, *, source: str | None = None, tls: bool = True
) -> None:
    """Save `image` (linux/`arch`) as a docker-archive tar, which K3s imports from agent/images,
    pulled from `source` (a mirror's copy; `image` itself by default) and named `image` inside,
    so K3s finds it under the name the pods ask for."""
    pull = source or image
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".image-") as work:
        tar = Path(work) / "image.tar"
        if tool == "skopeo":
            steps = [
                [
                    "skopeo",
                    "copy",
                    "--override-os",
                    "linux",
                    "--override-arch",
                    arch,
                    *([] if tls else ["--src-tls-verify=false"]),
                    f"docker://{pull}",
                    f"docker-archive:{tar}:{image}",
                ]
            ]
        else:  # docker: an http mirror must be among the daemon's insecure-registries
            steps = [
                ["docker", "pull", "--platform", f"linux/{arch}", pull],
                *([["docker", "tag", pull, image]] if pull != image else []),
                ["docker", "save", "-o", str(tar), image],
            ]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
                raise BundleError(f"`{' '.join(argv)}` failed: {tail}")
        tar.chmod(0o644)
        tar.replace(target)


def _fetch_images(
    run: _Fetcher, images: list[BundleItem], image_tool: str | None, arch: str, registry: str
) -> None:
    """Save each image as a docker-archive tar. One that cannot be saved is on record in the
    manifest; a required one (every image, now that the roles import them) also fails the fetch:
    offline, its pods would wait for a registry that is not there."""

    def not_fetched(item: BundleItem, reason: str) -> None:
        run.skipped[item.name] = NotFetched(item.name, item.source, reason)
        run.say(f"not fetched {item.name}: {reason}")
        if item.required:
            run.errors.append(f"{item.name}: {reason} (image {item.source})")

    tool = image_tool_available() if image_tool in {None, "auto"} else image_tool
    if tool in {None, "none"}:
        reason = (
            "skipped: --image-tool none"
            if tool == "none"
            else "needs skopeo (apt install skopeo), or docker with a running daemon"
        )
        for item in images:
            if not run.keep_if_good(item, None):
                not_fetched(item, reason)
        return
    for item in images:
        if run.keep_if_good(item, None):
            continue
        try:
            pull, tls = image_pull_source(item.source, registry)
            save_image(
                str(tool), item.source, run.directory / item.name, arch, source=pull, tls=tls
            )
        except (BundleError, OSError, subprocess.TimeoutExpired) as exc:
            not_fetched(item, _reason(exc))
            continue
        path = run.directory / item.name
        entry = ManifestEntry(
            item.name, item.source, sha256_file(path), path.stat().st_size, _now()
        )
        run.downloaded.append(item.name)
        run.record(entry, None)
