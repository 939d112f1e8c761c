"""The offline bundle: what `labctl up` would download, gathered into one directory beforehand.

A workshop room without Wi-Fi runs `labctl up --offline DIR`; `labctl bundle fetch --dir DIR`
fills DIR on a machine with internet. File names are exactly the ones the roles read from
`labctl_offline_dir` (playbooks/roles/*/vars/main.yml and defaults/main.yml):

    k3s, sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst   k3s_binary (K3s release assets)
    argocd-install.yaml                                           argocd (install manifest)
    gitlab-ce_<version>_amd64.deb                                 gitlab (omnibus package)
    box-<user>-<name>-<provider>.box                              Vagrant box (`vagrant box add`)
    argocd-image-<image>.tar                                      Argo CD images (docker-archive)

The pure part (`bundle_items`, the URL builders, the parsers, `Manifest`, `check`) never touches
the network or runs a tool; `fetch`, `export_box` and `save_image` are the edges (urllib, the
`vagrant box` command, skopeo/docker).

manifest.json (written atomically, after every fetch):

    {
      "schema": 1,
      "labctl_version": "0.1.0",            # the labctl that wrote it
      "lab": "demo",                        # the spec's lab name
      "spec_hash": "0123456789abcdef",      # labctl.state.spec_hash of the spec fetched for
      "files": [                            # every file in the bundle, sorted by name
        {"name": "k3s",
         "source": "https://github.com/k3s-io/k3s/releases/download/v1.31.12%2Bk3s1/k3s",
         "sha256": "<64 hex>", "size": 71233536,
         "fetched_at": "2025-01-31T12:00:00Z",   # UTC; kept when a later fetch reuses the file
         "verified_against": "https://.../sha256sum-amd64.txt"}   # or null: no upstream sum
      ],
      "not_fetched": [                      # what this host could not get, and why
        {"name": "argocd-image-quay.io-argoproj-argocd-v2.14.11.tar",
         "source": "quay.io/argoproj/argocd:v2.14.11",
         "reason": "needs skopeo, or docker with a running daemon"}
      ]
    }
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from labctl.errors import BundleError
from labctl.messages import quoted

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from urllib.request import OpenerDirector

    from labctl.plan import Plan

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1
ARCH = "amd64"  # labctl_arch in render.py: the only architecture labs run today

# Where each kind of artifact comes from; `base_urls` overrides any of these (tests, mirrors).
DEFAULT_BASE_URLS: dict[str, str] = {
    # Release assets: https://github.com/k3s-io/k3s/releases/download/<tag, + as %2B>/<asset>
    "k3s": "https://github.com/k3s-io/k3s/releases/download",
    # The install manifest at the release tag, as each Argo CD release's notes link it.
    "argocd": "https://raw.githubusercontent.com/argoproj/argo-cd",
    # GitLab's apt repositories, one per OS release: <base>/<distro>/<codename>, suite <codename>.
    "gitlab": "https://packages.gitlab.com/gitlab/gitlab-ce",
    # Vagrant's own default server URL (Vagrant::DEFAULT_SERVER_URL): <base>/<user>/<box>
    # answers with the box's metadata JSON (versions -> providers -> url, checksum).
    "vagrant": "https://vagrantcloud.com/api/v2/vagrant",
}

Kind = Literal["box", "k3s", "argocd", "argocd-image", "gitlab"]
ChecksumKind = Literal["sums-file", "apt-packages", "vagrant-metadata", "none"]
ProblemKind = Literal["missing", "corrupt", "no-manifest", "not-fetched", "unlisted", "extra"]
DOWNLOAD_TIMEOUT = 60.0  # seconds without progress before a download counts as failed
CHUNK = 1 << 20


@dataclass(frozen=True)
class ChecksumSource:
    """Where the expected sha256 of an item is published, if anywhere.

    sums-file: a `sha256sum` listing (K3s's sha256sum-<arch>.txt), `entry` names the line.
    apt-packages: an apt `Packages` index; `entry` is `package=version`.
    vagrant-metadata: the box's metadata JSON (checksum + checksum_type of the chosen provider).
    none: nothing upstream; the manifest records what was fetched.
    """

    kind: ChecksumKind
    url: str | None = None
    entry: str | None = None


@dataclass(frozen=True)
class BundleItem:
    """One file `up` would otherwise download: its bundle name, where from, how it is checked."""

    name: str
    kind: Kind
    source: str
    checksum: ChecksumSource
    required: bool = True
    why: str = ""  # which role or tool reads the file


@dataclass(frozen=True)
class ManifestEntry:
    """One file in the bundle as fetched."""

    name: str
    source: str
    sha256: str
    size: int
    fetched_at: str
    verified_against: str | None = None


@dataclass(frozen=True)
class NotFetched:
    """An item this host could not fetch, kept in the manifest so the gap is on record."""

    name: str
    source: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what the bundle holds, for which spec, from where, with which checksums."""

    labctl_version: str
    lab: str
    spec_hash: str
    files: tuple[ManifestEntry, ...] = ()
    not_fetched: tuple[NotFetched, ...] = ()
    schema: int = MANIFEST_SCHEMA

    def entry(self, name: str) -> ManifestEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json(self) -> str:
        data = {
            "schema": self.schema,
            "labctl_version": self.labctl_version,
            "lab": self.lab,
            "spec_hash": self.spec_hash,
            "files": [asdict(f) for f in sorted(self.files, key=lambda f: f.name)],
            "not_fetched": [asdict(n) for n in sorted(self.not_fetched, key=lambda n: n.name)],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            labctl_version=str(raw["labctl_version"]),
            lab=str(raw["lab"]),
            spec_hash=str(raw["spec_hash"]),
            files=tuple(ManifestEntry(**f) for f in raw.get("files", [])),
            not_fetched=tuple(NotFetched(**n) for n in raw.get("not_fetched", [])),
            schema=int(raw.get("schema", MANIFEST_SCHEMA)),
        )


@dataclass(frozen=True)
class Problem:
    """Something wrong with a bundle for a plan: what, which file, and how to put it right."""

    kind: ProblemKind
    name: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


# --- pure: what a plan needs, and from where -------------------------------------------------


def k3s_asset_url(version: str, asset: str, base: str = DEFAULT_BASE_URLS["k3s"]) -> str:
    """A K3s release asset: the tag goes into the path with `+` escaped (v1.31.12%2Bk3s1)."""
    return f"{base.rstrip('/')}/{quote(version, safe='')}/{asset}"


def k3s_asset_names(arch: str = ARCH) -> tuple[str, str, str]:
    """(binary, sums, airgap images): the names K3s publishes and k3s_binary/vars reads."""
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    return binary, f"sha256sum-{arch}.txt", f"k3s-airgap-images-{arch}.tar.zst"


def argocd_manifest_url(version: str, base: str = DEFAULT_BASE_URLS["argocd"]) -> str:
    return f"{base.rstrip('/')}/{version}/manifests/install.yaml"


def gitlab_deb_name(version: str, arch: str = ARCH) -> str:
    """gitlab_deb_name in playbooks/roles/gitlab/vars/main.yml."""
    return f"gitlab-ce_{version}_{arch}.deb"


def gitlab_repo_url(distro: str, codename: str, base: str = DEFAULT_BASE_URLS["gitlab"]) -> str:
    """GitLab's per-release apt repository (the 2025 layout: <base>/ubuntu/noble, suite noble)."""
    return f"{base.rstrip('/')}/{distro}/{codename}"


def gitlab_packages_url(
    distro: str, codename: str, arch: str = ARCH, base: str = DEFAULT_BASE_URLS["gitlab"]
) -> str:
    repo = gitlab_repo_url(distro, codename, base)
    return f"{repo}/dists/{codename}/main/binary-{arch}/Packages"


def vagrant_metadata_url(box: str, base: str = DEFAULT_BASE_URLS["vagrant"]) -> str:
    """What `vagrant box add user/name` asks first: the box's metadata JSON."""
    return f"{base.rstrip('/')}/{box}"


def box_file_name(box: str, provider: str) -> str:
    return f"box-{box.replace('/', '-')}-{provider}.box"


_RELEASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ubuntu", "noble", ("noble", "24.04", "2404")),
    ("ubuntu", "jammy", ("jammy", "22.04", "2204")),
    ("ubuntu", "focal", ("focal", "20.04", "2004")),
    ("debian", "trixie", ("trixie", "debian-13", "debian13")),
    ("debian", "bookworm", ("bookworm", "debian-12", "debian12")),
    ("debian", "bullseye", ("bullseye", "debian-11", "debian11")),
)


def box_release(box: str) -> tuple[str, str] | None:
    """(distro, codename) of a box from its name (bento/ubuntu-24.04 -> ubuntu, noble)."""
    lowered = box.lower()
    for distro, codename, marks in _RELEASES:
        if any(mark in lowered for mark in marks) and (distro in lowered or codename in lowered):
            return distro, codename
    return None


def bundle_items(
    plan: Plan,
    *,
    base_urls: Mapping[str, str] | None = None,
    argocd_manifest: str | None = None,
) -> list[BundleItem]:
    """Everything `up` would download for this plan, in fetch order (sums before what they sum).

    The Argo CD images are known only from the manifest's text; pass it to list them.
    """
    urls = {**DEFAULT_BASE_URLS, **(base_urls or {})}
    lab = plan.lab
    box = lab.resolved_box
    items = [_box_item(box, lab.provider, lab.box_version, urls["vagrant"])]
    binary, sums, images = k3s_asset_names()
    sums_url = k3s_asset_url(lab.k3s.version, sums, urls["k3s"])
    items += [
        BundleItem(
            sums,
            "k3s",
            sums_url,
            ChecksumSource("none"),
            why="the k3s_binary role (the release's sha256 sums)",
        ),
        BundleItem(
            binary,
            "k3s",
            k3s_asset_url(lab.k3s.version, binary, urls["k3s"]),
            ChecksumSource("sums-file", sums_url, binary),
            why="the k3s_binary role (the K3s binary)",
        ),
        BundleItem(
            images,
            "k3s",
            k3s_asset_url(lab.k3s.version, images, urls["k3s"]),
            ChecksumSource("sums-file", sums_url, images),
            why="the k3s_binary role (airgap images K3s imports at start)",
        ),
    ]
    if lab.addons.argocd.enabled:
        items.append(
            BundleItem(
                "argocd-install.yaml",
                "argocd",
                argocd_manifest_url(lab.addons.argocd.version, urls["argocd"]),
                ChecksumSource("none"),
                why="the argocd role (the install manifest)",
            )
        )
        if argocd_manifest is not None:
            items += [
                BundleItem(
                    image_file_name(image),
                    "argocd-image",
                    image,
                    ChecksumSource("none"),
                    required=False,  # no role imports them yet; pods pull from the registry
                    why="Argo CD's pods (no role imports image tarballs yet)",
                )
                for image in manifest_images(argocd_manifest)
            ]
    if lab.addons.gitlab.enabled:
        items.append(_gitlab_item(box, lab.addons.gitlab.version, urls["gitlab"]))
    return items


def _box_item(box: str, provider: str, constraint: str | None, base: str) -> BundleItem:
    return BundleItem(
        box_file_name(box, provider),
        "box",
        vagrant_metadata_url(box, base),
        ChecksumSource("vagrant-metadata", vagrant_metadata_url(box, base), constraint or ""),
        why=f"`vagrant box add` (the {provider} box {box})",
    )


def _gitlab_item(box: str, version: str, base: str) -> BundleItem:
    release = box_release(box)
    name = gitlab_deb_name(version)
    if release is None:
        # GitLab builds one package per OS release; without knowing the box's, any guess could
        # install a package built for another libc.
        return BundleItem(
            name,
            "gitlab",
            f"unknown: cannot tell the OS release of box {box}",
            ChecksumSource("none"),
            why="the gitlab role (the omnibus package)",
        )
    distro, codename = release
    return BundleItem(
        name,
        "gitlab",
        gitlab_packages_url(distro, codename, base=base),
        ChecksumSource(
            "apt-packages", gitlab_packages_url(distro, codename, base=base), f"gitlab-ce={version}"
        ),
        why=f"the gitlab role (the omnibus package for {distro} {codename})",
    )


_IMAGE_RE = re.compile(r"^\s*(?:-\s+)?image:\s*[\"']?([^\s\"'#]+)", re.MULTILINE)


def manifest_images(text: str) -> list[str]:
    """The container images a Kubernetes manifest names, each once, in first-seen order."""
    seen: dict[str, None] = {}
    for match in _IMAGE_RE.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def image_file_name(image: str) -> str:
    """quay.io/argoproj/argocd:v2.14.11 -> argocd-image-quay.io-argoproj-argocd-v2.14.11.tar"""
    return "argocd-image-" + re.sub(r"[^A-Za-z0-9._-]+", "-", image).strip("-") + ".tar"


def parse_sums(text: str) -> dict[str, str]:
    """A `sha256sum` listing as {file name: sha256}; `*name` (binary mode) counts as name."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


@dataclass(frozen=True)
class AptPackage:
    """One stanza of an apt Packages index: where the .deb is and what it must hash to."""

    filename: str
    sha256: str
    size: int


def find_apt_package(index: str, package: str, version: str, arch: str = ARCH) -> AptPackage:
    """The stanza of `package` at `version` for `arch` in an apt Packages index."""
    for stanza in re.split(r"\n\s*\n", index):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[key.strip()] = value.strip()
        if (
            fields.get("Package") == package
            and fields.get("Version") == version
            and fields.get("Architecture") in {arch, "all"}
        ):
            try:
                return AptPackage(fields["Filename"], fields["SHA256"].lower(), int(fields["Size"]))
            except (KeyError, ValueError):
                break
    raise BundleError(
        f"{package} {version} ({arch}) is not in the repository's package index",
        "check addons.gitlab.version against GitLab's releases for this OS release",
    )


# Vagrant box versions and constraints, as Vagrant reads them (RubyGems versions/requirements).


def _segments(version: str) -> list[int | str]:
    return [int(s) if s.isdigit() else s for s in re.findall(r"\d+|[A-Za-z]+", version)]


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1, ordering like Gem::Version: numbers numerically, letters mark a prerelease."""
    a, b = _segments(left), _segments(right)
    for index in range(max(len(a), len(b))):
        x = a[index] if index < len(a) else 0
        y = b[index] if index < len(b) else 0
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, str) and isinstance(y, str):
            return -1 if x < y else 1
        return -1 if isinstance(x, str) else 1  # a letter segment is a prerelease: it sorts first
    return 0


_REQUIREMENT_RE = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*(\d[0-9A-Za-z.]*)\s*$")


def satisfies(version: str, constraint: str | None) -> bool:
    """Whether `version` meets a Vagrant box_version constraint (`>= 1.0, < 2.0`, `~> 2.1`)."""
    if not constraint or not constraint.strip():
        return True
    for part in constraint.split(","):
        match = _REQUIREMENT_RE.match(part)
        if not match:
            raise BundleError(
                f"box_version {quoted(constraint)}: {quoted(part.strip())} "
                "is not a version constraint",
                "write it as Vagrant does, e.g. '>= 202502.21.0' or '~> 202502.21'",
            )
        op, wanted = match.group(1) or "=", match.group(2)
        order = compare_versions(version, wanted)
        if op == "~>":
            parts = wanted.split(".")
            upper = parts[:-1] or parts
            upper = [*upper[:-1], str(int(upper[-1]) + 1)] if upper[-1].isdigit() else upper
            ok = order >= 0 and compare_versions(version, ".".join(upper)) < 0
        else:
            ok = {
                "=": order == 0,
                "!=": order != 0,
                ">": order > 0,
                "<": order < 0,
                ">=": order >= 0,
                "<=": order <= 0,
            }[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class BoxDownload:
    """The box file Vagrant's metadata names for a version and provider."""

    version: str
    url: str
    checksum: str | None
    checksum_type: str | None


def choose_box(
    metadata: Mapping[str, Any], provider: str, constraint: str | None, arch: str = ARCH
) -> BoxDownload:
    """The newest version meeting `constraint` with a `provider` box for `arch` (Vagrant's pick)."""
    versions = sorted(
        (v for v in metadata.get("versions", []) if isinstance(v, dict) and "version" in v),
        key=lambda v: _SortKey(str(v["version"])),
        reverse=True,
    )
    for version in versions:
        if not satisfies(str(version["version"]), constraint):
            continue
        candidates = [p for p in version.get("providers", []) if p.get("name") == provider]
        exact = [p for p in candidates if p.get("architecture") == arch]
        default = [p for p in candidates if p.get("default_architecture")]
        plain = [p for p in candidates if not p.get("architecture")]
        for chosen in (exact or default or plain)[:1]:
            return BoxDownload(
                str(version["version"]),
                str(chosen["url"]),
                chosen.get("checksum") or None,
                chosen.get("checksum_type") or None,
            )
    wanted = f" matching {quoted(constraint)}" if constraint else ""
    raise BundleError(
        f"box {metadata.get('name', '?')} has no {provider} version{wanted}",
        "check box and box_version in lab.yaml against the box's page on Vagrant Cloud",
    )


@dataclass(frozen=True)
class _SortKey:
    version: str

    def __lt__(self, other: _SortKey) -> bool:
        return compare_versions(self.version, other.version) < 0


def parse_box_list(text: str) -> list[tuple[str, str, str]]:
    """`vagrant box list --machine-readable` as (name, provider, version) triples."""
    boxes: list[tuple[str, str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(",", 3)
        if len(parts) < 4:
            continue
        key, value = parts[2], parts[3].strip()
        if key == "box-name":
            current = {"name": value}
        elif key in {"box-provider", "box-version"} and current:
            current[key.removeprefix("box-")] = value
            if {"provider", "version"} <= current.keys():
                boxes.append((current["name"], current["provider"], current["version"]))
                current = {"name": current["name"]}
    return boxes


def newest_local(
    boxes: list[tuple[str, str, str]], box: str, provider: str, constraint: str | None
) -> str | None:
    """The newest version of `box` for `provider` in the local store that meets `constraint`."""
    found = [v for n, p, v in boxes if n == box and p == provider and satisfies(v, constraint)]
    return max(found, key=_SortKey) if found else None


# --- checking a bundle (reads files; no network) ---------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> Manifest | None:
    """The bundle's manifest, None when there is none; a damaged one is a BundleError."""
    from labctl.readback import read_json  # noqa: PLC0415

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
    from labctl.labdir import write_atomic  # noqa: PLC0415 - jinja2 loads only when writing

    write_atomic(directory / MANIFEST, manifest.to_json())


def fetch_hint(directory: Path, spec: str | None = None) -> str:
    spec_arg = f" {spec}" if spec else ""
    return (
        f"on a machine with internet run `labctl bundle fetch{spec_arg} --dir {directory}` "
        f"and copy the directory here"
    )


def verify(
    plan: Plan, directory: Path, *, need_box: bool = True, need_manifest: bool = True
) -> list[Problem]:
    """Every way DIR falls short of what `up --offline` needs for this plan (empty: complete).

    Fatal: a required file missing, a file whose sha256 differs from the manifest or from the
    K3s sums, no manifest. Not fatal: optional files (Argo CD images) missing, files not listed.
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
    items = bundle_items(plan, argocd_manifest=argocd_text)
    if not need_box:
        items = [i for i in items if i.kind != "box"]
    sums_text = _read_text(directory / k3s_asset_names()[1])
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
        problems += _check_file(item, path, manifest, sums)
    expected = {i.name for i in items} | {MANIFEST}
    if not need_box:
        expected |= {box_file_name(plan.lab.resolved_box, plan.lab.provider)}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.is_file() and path.name not in expected and not path.name.startswith("."):
            problems.append(Problem("extra", path.name, "not part of this lab's bundle", False))
    return problems


def _check_file(
    item: BundleItem, path: Path, manifest: Manifest | None, sums: Mapping[str, str]
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
                f"not listed in {k3s_asset_names()[1]}, which the "
                "k3s_binary role checks it against",
            )
        )
    elif published is not None and published != actual:
        problems.append(
            Problem(
                "corrupt",
                item.name,
                f"sha256 {actual[:12]}… differs from {k3s_asset_names()[1]}'s {published[:12]}…",
            )
        )
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


def require_complete(
    plan: Plan,
    directory: Path,
    *,
    need_box: bool = True,
    need_manifest: bool = True,
    spec: str | None = None,
) -> None:
    """Raise BundleError naming every missing or corrupt file in DIR."""
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

    The box is left out (nothing in `up` adds it from DIR yet; Vagrant uses its own store) and
    a hand-made DIR without manifest.json is accepted, as the roles themselves accept it.
    """
    require_complete(plan, directory, need_box=False, need_manifest=False, spec=spec)


def incomplete_error(directory: Path, fatal: list[Problem], spec: str | None = None) -> BundleError:
    """The one error for a bundle that falls short: a line per missing or corrupt file."""
    count = len(fatal)
    return BundleError(
        f"the offline bundle {directory} is incomplete: {count} "
        f"{'file' if count == 1 else 'files'} missing or corrupt",
        fetch_hint(directory, spec),
        details=[f"{directory / p.name}: {p.message}" for p in fatal],
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


# --- edges: urllib, `vagrant box`, skopeo/docker ---------------------------------------------


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
) -> Manifest:
    """Fill DIR with this plan's bundle and write manifest.json; files already right are kept.

    Every failure is collected; the manifest records what did arrive, then a BundleError names
    each file that did not. `image_tool`: "auto" (None) finds skopeo or a working docker,
    "skopeo"/"docker" force one, "none" records the images as not fetched without trying.
    """
    import urllib.request  # noqa: PLC0415

    from labctl import __version__  # noqa: PLC0415
    from labctl.state import spec_hash  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    run = _Fetcher(
        directory,
        opener or urllib.request.build_opener(),
        read_manifest(directory),
        timeout,
        on_line or (lambda _line: None),
    )
    urls = {**DEFAULT_BASE_URLS, **(base_urls or {})}
    items = bundle_items(plan, base_urls=urls)
    sums: dict[str, str] | None = None  # the K3s release's, once its file is in DIR
    for item in items:
        try:
            if item.kind == "box":
                _fetch_box(run, plan, item, use_box_store=use_box_store)
            elif item.kind == "gitlab":
                _fetch_gitlab(run, plan, item)
            elif item.checksum.kind == "sums-file":
                if sums is None:
                    raise BundleError(
                        f"skipped: {k3s_asset_names()[1]}, which it is checked against, "
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
            if item.name == k3s_asset_names()[1]:
                sums = parse_sums((directory / item.name).read_text(encoding="utf-8"))
        except (BundleError, OSError, ValueError) as exc:
            run.errors.append(f"{item.name}: {_reason(exc)} (from {item.source})")
            run.say(f"FAILED     {item.name}: {_reason(exc)}")
    argocd_text = _read_text(directory / "argocd-install.yaml")
    if plan.lab.addons.argocd.enabled and argocd_text is not None:
        images = [
            i
            for i in bundle_items(plan, base_urls=urls, argocd_manifest=argocd_text)
            if i.kind == "argocd-image"
        ]
        _fetch_images(run, images, image_tool)
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


def _fetch_gitlab(run: _Fetcher, plan: Plan, item: BundleItem) -> None:
    if item.checksum.kind != "apt-packages" or item.checksum.url is None:
        raise BundleError(
            f"cannot tell which OS release box {plan.lab.resolved_box} runs, and GitLab builds "
            "one package per release"
        )
    if run.keep_verified(item):
        return
    version = plan.lab.addons.gitlab.version
    index = run.get_bytes(item.checksum.url).decode("utf-8", "replace")
    package = find_apt_package(index, "gitlab-ce", version)
    if run.keep_if_good(item, package.sha256):
        return
    repo = item.checksum.url.split("/dists/", 1)[0]
    url = f"{repo}/{package.filename}"
    entry = run.download(url, item.name, sha256=package.sha256)
    run.record(entry, item.checksum.url)


def _fetch_box(run: _Fetcher, plan: Plan, item: BundleItem, *, use_box_store: bool) -> None:
    lab = plan.lab
    box, provider, constraint = lab.resolved_box, lab.provider, lab.box_version
    if use_box_store:
        local = newest_local(local_boxes(), box, provider, constraint)
        if local is not None:
            source = f"vagrant box store: {box} {local} ({provider})"
            if run.keep_if_good(item, None, source):
                return
            export_box(box, provider, local, run.directory / item.name)
            path = run.directory / item.name
            entry = ManifestEntry(item.name, source, sha256_file(path), path.stat().st_size, _now())
            run.downloaded.append(item.name)
            run.record(entry, None)
            return
    if provider == "lxc" and box.startswith("labctl/"):
        raise BundleError(
            f"{box} is built locally and is not in this host's Vagrant box store; "
            "run `labctl box build --provider lxc` first"
        )
    if run.keep_verified(item):
        return
    metadata = json.loads(run.get_bytes(item.source, accept="application/json"))
    chosen = choose_box(metadata, provider, constraint)
    checksum_type = (chosen.checksum_type or "").lower()
    if checksum_type == "sha256" and chosen.checksum:
        if run.keep_if_good(item, chosen.checksum):
            return
        run.record(run.download(chosen.url, item.name, sha256=chosen.checksum), item.source)
        return
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


def save_image(tool: str, image: str, target: Path) -> None:
    """Save `image` (linux/amd64) as a docker-archive tar, which K3s imports from agent/images."""
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
                    ARCH,
                    f"docker://{image}",
                    f"docker-archive:{tar}:{image}",
                ]
            ]
        else:
            steps = [
                ["docker", "pull", "--platform", f"linux/{ARCH}", image],
                ["docker", "save", "-o", str(tar), image],
            ]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
                raise BundleError(f"`{' '.join(argv)}` failed: {tail}")
        tar.chmod(0o644)
        tar.replace(target)


def _fetch_images(run: _Fetcher, images: list[BundleItem], image_tool: str | None) -> None:
    tool = image_tool_available() if image_tool in {None, "auto"} else image_tool
    if tool in {None, "none"}:
        reason = (
            "skipped: --image-tool none"
            if tool == "none"
            else "needs skopeo, or docker with a running daemon"
        )
        for item in images:
            if not run.keep_if_good(item, None):
                run.skipped[item.name] = NotFetched(item.name, item.source, reason)
                run.say(f"not fetched {item.name}: {reason}")
        return
    for item in images:
        if run.keep_if_good(item, None):
            continue
        try:
            save_image(str(tool), item.source, run.directory / item.name)
        except (BundleError, OSError, subprocess.TimeoutExpired) as exc:
            run.skipped[item.name] = NotFetched(item.name, item.source, _reason(exc))
            run.say(f"not fetched {item.name}: {_reason(exc)}")
            continue
        path = run.directory / item.name
        entry = ManifestEntry(
            item.name, item.source, sha256_file(path), path.stat().st_size, _now()
        )
        run.downloaded.append(item.name)
        run.record(entry, None)
