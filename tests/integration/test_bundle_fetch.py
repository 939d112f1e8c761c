"""`bundle fetch` and `bundle verify` for real over HTTP, against a server on 127.0.0.1.

The server lays out small stand-in artifacts the way each upstream does (K3s release assets
with their sums file, Argo CD's manifest at its tag, GitLab's apt index and pool, Vagrant's box
metadata), so URLs, checksum checks, manifest and idempotence are exercised for real; nothing
here contacts an outside address. The local box store path runs the real `vagrant box`
against a throwaway VAGRANT_HOME.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from labctl.errors import BundleError
from labctl.registry import plan_lab
from labctl.spec.loader import load_lab
from labctl.workshop import bundle

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labctl.plan import Plan

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
K3S = "v1.31.12+k3s1"
GITLAB = "17.11.7-ce.0"
SPEC = f"""\
name: offline
provider: virtualbox
box: bento/ubuntu-24.04
k3s: {{version: "{K3S}"}}
addons:
  argocd: {{enabled: true, version: v2.14.11}}
  gitlab: {{enabled: true, version: "{GITLAB}"}}
"""
ARGOCD_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - image: quay.io/argoproj/argocd:v2.14.11
        name: argocd-server
      - image: ghcr.io/dexidp/dex:v2.41.1
        name: dex
"""


@dataclass
class Upstream:
    """The fake upstreams: served files by URL path, and every path a client asked for."""

    root: Path
    base: str
    requests: list[str] = field(default_factory=list)

    def url(self, kind: str) -> str:
        return f"{self.base}/{kind}"

    @property
    def base_urls(self) -> dict[str, str]:
        # Images come through the same server as a plain-HTTP registry mirror (its /v2/ API).
        urls = {kind: self.url(kind) for kind in bundle.DEFAULT_BASE_URLS}
        return {**urls, "registry": self.base}

    def file(self, relative: str) -> Path:
        return self.root / relative

    def sha(self, relative: str) -> str:
        return hashlib.sha256(self.file(relative).read_bytes()).hexdigest()

    def asked(self, suffix: str) -> int:
        return sum(path.endswith(suffix) for path in self.requests)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
# What the bundle of SPEC saves: the demo app's image and the two ARGOCD_MANIFEST names.
IMAGES = (
    "docker.io/traefik/whoami:v1.10.3",
    "quay.io/argoproj/argocd:v2.14.11",
    "ghcr.io/dexidp/dex:v2.41.1",
)


def push_image(registry: Path, image: str, arch: str = "amd64") -> None:
    """A one-layer linux/`arch` image as a registry stores it (Docker's v2 schema 2 manifest,
    config and gzipped layer, by digest), at <registry>/<repository>/, for the stand-in below."""
    import gzip

    repository, _, tag = image.rpartition(":")
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        data = f"stand-in for {image}\n".encode()
        info = tarfile.TarInfo("stand-in.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()
    layer = gzip.compress(layer_tar.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": arch, "os": "linux", "config": {"Cmd": ["/stand-in"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()  # fmt: skip

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _write(registry / repository / "blobs" / digest, data)
        return digest

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": blob(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": blob(layer)}],
    }).encode()  # fmt: skip
    _write(registry / repository / "manifests" / tag, manifest)
    _write(registry / repository / "manifests" / blob(manifest), manifest)


def serve_registry(handler: SimpleHTTPRequestHandler, registry: Path, *, body: bool) -> None:
    """The parts of the registry API (distribution spec v2) an image pull uses, answering an
    unknown manifest or blob with the 404 and error code a real registry gives."""
    path = handler.path.split("?", 1)[0]
    status, headers, payload = 200, {"Content-Type": "application/json"}, b"{}"
    if path != "/v2/":
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path)
        found = registry / match[1] / match[2] / match[3] if match else None
        if found is None or not found.is_file():
            code = "MANIFEST_UNKNOWN" if match and match[2] == "manifests" else "BLOB_UNKNOWN"
            status = 404
            payload = json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode()
        else:
            payload = found.read_bytes()
            digest = "sha256:" + hashlib.sha256(payload).hexdigest()
            kind = MANIFEST_V2 if match and match[2] == "manifests" else "application/octet-stream"
            headers = {"Content-Type": kind, "Docker-Content-Digest": digest}
    handler.send_response(status)
    for key, value in {**headers, "Docker-Distribution-API-Version": "registry/2.0"}.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if body:
        handler.wfile.write(payload)


def lay_out(root: Path, base: str) -> None:
    """Stand-ins named like the real artifacts, at the paths each upstream serves them from."""
    release = root / "k3s" / K3S  # the server unquotes %2B back to +
    binary = _write(release / "k3s", b"#!/bin/sh\necho k3s stand-in\n" * 64)
    images = _write(release / "k3s-airgap-images-amd64.tar.zst", os.urandom(300_000))
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in (binary, images)
    )
    _write(release / "sha256sum-amd64.txt", f"{'c' * 64}  k3s-arm64\n{sums}".encode())
    _write(root / "argocd" / "v2.14.11" / "manifests" / "install.yaml", ARGOCD_MANIFEST.encode())
    repo = root / "gitlab" / "ubuntu" / "noble"
    deb = _write(
        repo / "pool/main/g/gitlab-ce" / f"gitlab-ce_{GITLAB}_amd64.deb", b"!<arch>\n" * 999
    )
    index = (
        "Package: gitlab-ce\nVersion: 17.11.6-ce.0\nArchitecture: amd64\n"
        f"SHA256: {'d' * 64}\nSize: 1\nFilename: pool/main/g/gitlab-ce/old.deb\n\n"
        f"Package: gitlab-ce\nVersion: {GITLAB}\nArchitecture: amd64\n"
        f"SHA256: {hashlib.sha256(deb.read_bytes()).hexdigest()}\nSize: {deb.stat().st_size}\n"
        f"Filename: pool/main/g/gitlab-ce/{deb.name}\n"
    )
    _write(repo / "dists/noble/main/binary-amd64/Packages", index.encode())
    box = _write(root / "boxes" / "bento-noble-virtualbox.box", os.urandom(200_000))
    metadata = {
        "name": "bento/ubuntu-24.04",
        "versions": [
            {
                "version": "202502.21.0",
                "providers": [
                    {
                        "name": "virtualbox",
                        "architecture": "amd64",
                        "url": f"{base}/boxes/{box.name}",
                        "checksum": hashlib.sha256(box.read_bytes()).hexdigest(),
                        "checksum_type": "sha256",
                    }
                ],
            }
        ],
    }
    _write(root / "vagrant" / "bento" / "ubuntu-24.04", json.dumps(metadata).encode())
    for image in IMAGES:  # on the mirror as <registry>/<repository>
        push_image(root / "registry", image)


@contextlib.contextmanager
def serving(
    root: Path, lay: Callable[[Path, str], None] = lambda _root, _base: None
) -> Iterator[Upstream]:
    """The stand-in upstreams over HTTP on 127.0.0.1: files under `root` by path, and the
    registry API under /v2/ from `root`/registry; `lay` fills `root` once the address is known."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path.startswith("/v2/"):
                serve_registry(self, root / "registry", body=True)
            else:
                super().do_GET()

        def do_HEAD(self) -> None:
            requests.append(self.path)
            if self.path.startswith("/v2/"):
                serve_registry(self, root / "registry", body=False)
            else:
                super().do_HEAD()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base's name
            pass

    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    lay(root, base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream(root, base, requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    with serving(tmp_path / "upstream", lay_out) as served:
        yield served


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # An empty box store of our own: the host's boxes are neither read nor touched.
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant-home"))
    path = tmp_path / "lab.yaml"
    path.write_text(SPEC)
    return path


def plan_for(spec: Path) -> Plan:
    return plan_lab(load_lab(spec).lab)


def fetch(spec: Path, directory: Path, upstream: Upstream) -> bundle.Manifest:
    """bundle fetch against the stand-ins, images through real skopeo (installed by CI)."""
    return bundle.fetch(
        plan_for(spec), directory, base_urls=upstream.base_urls, image_tool=SKOPEO, timeout=10
    )


SKOPEO = "skopeo"
needs_skopeo = pytest.mark.skipif(
    shutil.which("skopeo") is None, reason="needs skopeo (.ci/run installs it)"
)


def labctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process."""
    prefix = ["-m", "labctl"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, *prefix, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


@needs_skopeo
def test_fetch_fills_the_bundle_with_verified_files_and_a_manifest(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    directory = tmp_path / "bundle"
    manifest = fetch(spec, directory, upstream)

    release = f"k3s/{K3S}"
    expected = {
        "sha256sum-amd64.txt": f"{release}/sha256sum-amd64.txt",
        "k3s": f"{release}/k3s",
        "k3s-airgap-images-amd64.tar.zst": f"{release}/k3s-airgap-images-amd64.tar.zst",
        "argocd-install.yaml": "argocd/v2.14.11/manifests/install.yaml",
        f"gitlab-ce_{GITLAB}_amd64.deb": f"gitlab/ubuntu/noble/pool/main/g/gitlab-ce/"
        f"gitlab-ce_{GITLAB}_amd64.deb",
        "box-bento-ubuntu-24.04-virtualbox.box": "boxes/bento-noble-virtualbox.box",
    }
    on_disk = json.loads((directory / "manifest.json").read_text())
    assert on_disk["lab"] == "offline"
    assert on_disk["spec_hash"] == manifest.spec_hash
    images = {bundle.image_file_name(i, "demo" if "whoami" in i else "argocd"): i for i in IMAGES}
    assert {f["name"] for f in on_disk["files"]} == set(expected) | set(images)
    for entry in manifest.files:
        if entry.name in images:
            continue
        served = expected[entry.name]
        assert entry.sha256 == upstream.sha(served) == bundle.sha256_file(directory / entry.name)
        assert entry.size == upstream.file(served).stat().st_size
        assert entry.fetched_at.endswith("Z")
    by_name = {e.name: e for e in manifest.files}
    sums_url = f"{upstream.base}/k3s/v1.31.12%2Bk3s1/sha256sum-amd64.txt"
    assert by_name["k3s"].source == f"{upstream.base}/k3s/v1.31.12%2Bk3s1/k3s"
    assert by_name["k3s"].verified_against == sums_url
    assert by_name["k3s-airgap-images-amd64.tar.zst"].verified_against == sums_url
    assert by_name[f"gitlab-ce_{GITLAB}_amd64.deb"].verified_against == (
        f"{upstream.base}/gitlab/ubuntu/noble/dists/noble/main/binary-amd64/Packages"
    )
    assert by_name["box-bento-ubuntu-24.04-virtualbox.box"].verified_against == (
        f"{upstream.base}/vagrant/bento/ubuntu-24.04"
    )
    assert by_name["argocd-install.yaml"].verified_against is None  # nothing published upstream
    # The images, through the mirror by real skopeo, as docker-archives K3s imports under the
    # names the pods ask for.
    assert manifest.not_fetched == ()
    for name, image in images.items():
        assert by_name[name].source == image
        assert by_name[name].sha256 == bundle.sha256_file(directory / name)
        with tarfile.open(directory / name) as tar:
            member = tar.extractfile("manifest.json")
            assert member is not None
            [archived] = json.load(member)
        assert archived["RepoTags"] == [image]
        repository, _, tag = image.rpartition(":")
        assert f"/v2/{repository}/manifests/{tag}" in upstream.requests
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]  # no .part left
    problems = bundle.verify(plan_for(spec), directory)
    assert [p for p in problems if p.fatal] == []
    assert problems == []


def test_verify_names_a_corrupted_file(tmp_path: Path, spec: Path, upstream: Upstream) -> None:
    directory = tmp_path / "bundle"
    fetch(spec, directory, upstream)
    with (directory / "k3s-airgap-images-amd64.tar.zst").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0bitrot\0")
    fatal = [p for p in bundle.verify(plan_for(spec), directory) if p.fatal]
    assert {(p.kind, p.name) for p in fatal} == {("corrupt", "k3s-airgap-images-amd64.tar.zst")}
    assert "differs from the manifest's" in fatal[0].message


def test_a_deleted_file_fails_verify_and_a_second_fetch_gets_only_it(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    directory = tmp_path / "bundle"
    first = fetch(spec, directory, upstream)
    (directory / "k3s").unlink()

    result = labctl("bundle", "verify", str(spec), "--dir", str(directory), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert f"error: {directory / 'k3s'}: missing; needed by the k3s_binary role" in "\n".join(
        errors
    )
    assert f"labctl bundle fetch {spec} --dir {directory}" in result.stderr

    upstream.requests.clear()
    second = fetch(spec, directory, upstream)
    assert upstream.requests == ["/k3s/v1.31.12%2Bk3s1/k3s"]  # nothing else, not even indexes
    assert {e.name: e.sha256 for e in second.files} == {e.name: e.sha256 for e in first.files}
    kept = {e.name: e.fetched_at for e in second.files if e.name != "k3s"}
    assert kept == {e.name: e.fetched_at for e in first.files if e.name != "k3s"}

    result = labctl("bundle", "verify", str(spec), "--dir", str(directory), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Bundle {directory} is complete for lab offline." in result.stdout


def test_a_download_that_does_not_match_the_release_sums_is_refused(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    upstream.file(f"k3s/{K3S}/k3s").write_bytes(b"tampered in transit\n")
    directory = tmp_path / "bundle"
    with pytest.raises(BundleError) as raised:
        fetch(spec, directory, upstream)
    assert raised.value.message == f"1 file could not be fetched into {directory}"
    [detail] = raised.value.details
    assert detail.startswith("k3s: k3s: sha256 ")
    assert "does not match the published" in detail
    assert not (directory / "k3s").exists()
    assert not list(directory.glob(".k3s.*"))  # the partial file is gone too
    recorded = bundle.read_manifest(directory)
    assert recorded is not None
    assert "k3s" not in {e.name for e in recorded.files}  # the rest is on record
    assert "k3s-airgap-images-amd64.tar.zst" in {e.name for e in recorded.files}


def test_missing_upstream_files_are_each_named(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    upstream.file("argocd/v2.14.11/manifests/install.yaml").unlink()
    upstream.file("vagrant/bento/ubuntu-24.04").unlink()
    with pytest.raises(BundleError) as raised:
        fetch(spec, tmp_path / "bundle", upstream)
    details = "\n".join(raised.value.details)
    assert "argocd-install.yaml: HTTP 404" in details
    assert "box-bento-ubuntu-24.04-virtualbox.box: HTTP 404" in details
    assert len(raised.value.details) == 2


@needs_skopeo
def test_cli_fetch_prints_one_plain_line_per_file(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    directory = tmp_path / "bundle"
    args = [f"--base-url={kind}={url}" for kind, url in upstream.base_urls.items()]
    # Without its images the bundle cannot run the demo app offline: the fetch says so, exit 2.
    skipped = labctl("bundle", "fetch", str(spec), "--dir", str(directory), *args,
                     "--image-tool=none", cwd=tmp_path)  # fmt: skip
    assert skipped.returncode == 2, skipped.stdout + skipped.stderr
    assert "error: 3 files could not be fetched into" in skipped.stderr
    for image in IMAGES:
        assert f"skipped: --image-tool none (image {image})" in skipped.stderr

    result = labctl("bundle", "fetch", str(spec), "--dir", str(directory), *args,
                    "--image-tool=skopeo", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Fetching the offline bundle of lab offline into {directory}/"
    assert any(
        line.startswith("  fetched    demo-image-docker.io-traefik-whoami-v1.10.3.tar (")
        for line in lines
    )
    assert sum("kept       " in line for line in lines) == 6  # the first run's files
    assert "\x1b[" not in result.stdout  # no terminal styling off a terminal
    assert f"Use it: labctl up --offline {directory}" in lines
    again = labctl("bundle", "fetch", str(spec), "--dir", str(directory), *args,
                   "--image-tool=skopeo", cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert not any("fetched    " in line for line in again.stdout.splitlines())
    assert sum("kept       " in line for line in again.stdout.splitlines()) == 9


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant")
def test_a_box_in_the_local_store_is_exported_with_vagrant_box_repackage(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    source = tmp_path / "tiny"
    source.mkdir()
    (source / "metadata.json").write_text('{"provider": "lxc"}\n')
    with tarfile.open(tmp_path / "tiny.box", "w:gz") as tar:
        tar.add(source / "metadata.json", arcname="metadata.json")
    subprocess.run(
        ["vagrant", "box", "add", "--name", "labctl-test/tiny", str(tmp_path / "tiny.box")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    spec.write_text("name: offline\nprovider: lxc\nbox: labctl-test/tiny\n")
    directory = tmp_path / "bundle"
    manifest = fetch(spec, directory, upstream)
    entry = next(e for e in manifest.files if e.name == "box-labctl-test-tiny-lxc.box")
    assert entry.source == "vagrant box store: labctl-test/tiny 0 (lxc)"
    assert entry.version == "0"
    with tarfile.open(directory / entry.name) as tar:  # vagrant writes ./metadata.json
        member = next(m for m in tar.getmembers() if m.name.lstrip("./") == "metadata.json")
        packed = tar.extractfile(member)
        assert packed is not None
        assert json.load(packed) == {"provider": "lxc"}
    assert entry.sha256 == bundle.sha256_file(directory / entry.name)
    assert not any(path.startswith("/vagrant") for path in upstream.requests)
    again = fetch(spec, directory, upstream)
    assert next(e for e in again.files if e.name == entry.name).fetched_at == entry.fetched_at


def test_without_a_container_tool_the_images_are_named_and_the_fetch_fails(
    tmp_path: Path, spec: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host with neither skopeo nor docker: before issue 18 the images were optional and the
    bundle passed, then offline every rollout waited ten minutes for a registry."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    assert bundle.image_tool_available() is None
    directory = tmp_path / "bundle"
    with pytest.raises(BundleError) as raised:
        bundle.fetch(
            plan_for(spec), directory, base_urls=upstream.base_urls, image_tool="auto", timeout=10
        )
    reason = "needs skopeo (apt install skopeo), or docker with a running daemon"
    assert raised.value.details == [
        f"{bundle.image_file_name(image, 'demo' if 'whoami' in image else 'argocd')}: {reason} "
        f"(image {image})"
        for image in IMAGES
    ]
    recorded = bundle.read_manifest(directory)
    assert recorded is not None
    assert {n.source for n in recorded.not_fetched} == set(IMAGES)
    fatal = {p.name for p in bundle.verify(plan_for(spec), directory) if p.fatal}
    assert len(fatal) == 3


def test_the_lifecycle_tests_hand_made_offline_dir_passes_the_up_check(tmp_path: Path) -> None:
    """Wiring require_offline_ready into `up --offline` keeps the lxc lifecycle tests working."""
    from tests.integration.test_ansible_roles import make_offline_dir

    offline = make_offline_dir(tmp_path / "offline")
    plan = plan_lab(load_lab(_write(tmp_path / "lab.yaml", b"name: lc\nprovider: lxc\n")).lab)
    bundle.require_offline_ready(plan, offline)
    (offline / "k3s-airgap-images-amd64.tar.zst").write_bytes(b"not what the sums say\n")
    with pytest.raises(BundleError, match="1 file missing, corrupt or of another") as raised:
        bundle.require_offline_ready(plan, offline)
    assert raised.value.details[0].startswith(
        f"{offline / 'k3s-airgap-images-amd64.tar.zst'}: sha256 "
    )


def _tiny_box(path: Path) -> Path:
    """A box file vagrant-lxc accepts into the store (metadata.json only: never booted)."""
    with tarfile.open(path, "w:gz") as tar:
        data = b'{"provider": "lxc"}\n'
        info = tarfile.TarInfo("metadata.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _bundle_with_box(directory: Path, version: str | None) -> Path:
    directory.mkdir()
    box = _tiny_box(directory / "box-labctl-test-tiny-lxc.box")
    entry = bundle.ManifestEntry(
        box.name,
        "https://registry.invalid/labctl-test/tiny",
        bundle.sha256_file(box),
        box.stat().st_size,
        "2026-12-01T00:00:00Z",
        version=version,
    )
    bundle.write_manifest(directory, bundle.Manifest("0.1.0", "offline", "h", (entry,)))
    return box


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant")
def test_up_offline_adds_the_bundled_box_to_an_empty_store_as_its_version(
    tmp_path: Path, spec: Path
) -> None:
    """Before issue 18, boot asked the Vagrant registry for a box the store lacked even with
    the box in the bundle; now `up --offline` adds it from the bundle, at the version the
    manifest records, so `box_version` still matches. Real `vagrant box add`, own VAGRANT_HOME."""
    spec.write_text(
        "name: offline\nprovider: lxc\nbox: labctl-test/tiny\nbox_version: '>= 2.0, < 3'\n"
    )
    directory = tmp_path / "bundle"
    _bundle_with_box(directory, "2.1.0")
    plan = plan_for(spec)
    lines: list[str] = []
    assert bundle.add_box_from_bundle(plan, directory, on_line=lines.append) == "2.1.0"
    assert ("labctl-test/tiny", "lxc", "2.1.0") in bundle.local_boxes()
    assert lines == [f"adding box labctl-test/tiny 2.1.0 (lxc) from {directory / _BOX}"]
    # Now the store has it: nothing to add, nothing asked of the bundle.
    (directory / _BOX).unlink()
    assert bundle.add_box_from_bundle(plan, directory) is None


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant")
@pytest.mark.parametrize(
    ("version", "remove", "message"),
    [
        ("2.1.0", True, "the offline bundle has no box-labctl-test-tiny-lxc.box"),
        ("1.0.0", False, "the bundle's box-labctl-test-tiny-lxc.box is version 1.0.0"),
        (None, False, "box-labctl-test-tiny-lxc.box does not say which version it is"),
    ],
)
def test_up_offline_fails_before_boot_when_the_bundle_cannot_supply_the_box(
    tmp_path: Path, spec: Path, version: str | None, remove: bool, message: str
) -> None:
    from labctl.errors import ExitCode, PreflightError

    spec.write_text(
        "name: offline\nprovider: lxc\nbox: labctl-test/tiny\nbox_version: '>= 2.0, < 3'\n"
    )
    directory = tmp_path / "bundle"
    box = _bundle_with_box(directory, version)
    if remove:
        box.unlink()
    with pytest.raises(PreflightError) as raised:
        bundle.add_box_from_bundle(plan_for(spec), directory)
    assert message in raised.value.message
    assert raised.value.exit_code == ExitCode.PREFLIGHT
    assert "labctl bundle fetch" in raised.value.hint
    assert not any(name == "labctl-test/tiny" for name, _, _ in bundle.local_boxes())


_BOX = "box-labctl-test-tiny-lxc.box"


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs vagrant")
def test_cli_up_offline_adds_the_box_before_preflight(tmp_path: Path, spec: Path) -> None:
    """`labctl up --offline DIR` with an empty box store: the box comes from DIR (a hand-made
    one, no manifest: Vagrant's own version 0), then preflight finds it installed."""
    from tests.integration.test_ansible_roles import make_offline_dir

    offline = make_offline_dir(tmp_path / "offline")
    _tiny_box(offline / _BOX)
    spec.write_text(
        "name: offline\nprovider: lxc\nbox: labctl-test/tiny\nnetwork: {cidr: 192.168.77.0/24}\n"
    )
    result = labctl("up", "--offline", str(offline), "--until", "render", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"note: adding box labctl-test/tiny 0 (lxc) from {offline / _BOX}" in result.stderr
    assert ("labctl-test/tiny", "lxc", "0") in bundle.local_boxes()
    assert "Lab offline stopped after render as asked (--until)" in result.stdout
    assert "is up" not in result.stdout


@needs_skopeo
def test_cli_up_offline_refuses_a_bundle_short_of_an_item_or_of_another_release(
    tmp_path: Path, spec: Path, upstream: Upstream
) -> None:
    """A fetched bundle, then `labctl up --offline` for it: with a file gone, or for a spec that
    pins another K3s release, it stops before anything boots (exit 2), naming the file."""
    directory = tmp_path / "bundle"
    fetch(spec, directory, upstream)
    (directory / bundle.image_file_name(IMAGES[0], "demo")).unlink()
    gone = labctl("up", "--offline", str(directory), cwd=tmp_path)
    assert gone.returncode == 2, gone.stdout + gone.stderr
    assert f"{directory / bundle.image_file_name(IMAGES[0], 'demo')}: missing" in gone.stderr
    assert "preflight" not in gone.stdout  # refused before the first phase
    fetch(spec, directory, upstream)  # puts it back

    spec.write_text(SPEC.replace(K3S, "v1.32.8+k3s1"))
    other = labctl("up", "--offline", str(directory), cwd=tmp_path)
    assert other.returncode == 2, other.stdout + other.stderr
    assert (
        f"{directory / 'k3s'}: made for another release ({upstream.base}/k3s/v1.31.12%2Bk3s1/k3s)"
        "; this lab pins k3s.version: v1.32.8+k3s1"
    ) in other.stderr
    assert f"labctl bundle fetch lab.yaml --dir {directory}" in other.stderr
    assert "preflight" not in other.stdout
    assert not (tmp_path / ".labctl" / "offline" / "Vagrantfile").exists()
