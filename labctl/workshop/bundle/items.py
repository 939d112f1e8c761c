"""What an offline bundle holds (pure): the items a lab needs, their release URLs and file names,
the manifest's records, and the lists read from release files (SHA sums, images, apt indexes)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from labctl.errors import BundleError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labctl.plan import Plan


MANIFEST = "manifest.json"


MANIFEST_SCHEMA = 1


def host_arch() -> str:
    """The architecture a bundle is for unless told otherwise: this host's, in K3s's and
    Debian's names (amd64, arm64). Every provider runs the lab's machines natively, so they
    share it, and the roles pick their files by the machine's own (labctl_arch, from facts)."""
    import platform  # noqa: PLC0415

    from labctl.doctor.parse import normalize_arch  # noqa: PLC0415

    return normalize_arch(platform.machine()) or "amd64"


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
    # Container images: empty pulls each from its own registry; a mirror (a pull-through cache,
    # or a plain-HTTP registry on the LAN) serves them as <mirror>/<registry>/<repository>.
    "registry": "",
}


Kind = Literal["box", "k3s", "argocd", "argocd-image", "demo-image", "gitlab"]


# The demo app's image (gitops_demo_image in playbooks/roles/gitops_demo/defaults/main.yml), which
# the lessons run too. The smoke checks' probe image needs no bundling: K3s's airgap images
# carry it (labctl.checks.demo.PROBE_IMAGE).
DEMO_IMAGE = "docker.io/traefik/whoami:v1.10.3"


ChecksumKind = Literal["sums-file", "apt-packages", "vagrant-metadata", "none"]


ProblemKind = Literal[
    "missing", "corrupt", "version", "no-manifest", "not-fetched", "unlisted", "extra"
]


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
    # The release the file must come from (the spec's pin), and the spec field that pins it;
    # None where the name already says it (images) or Vagrant checks it (the box).
    version: str | None = None
    pinned_by: str = ""


@dataclass(frozen=True)
class ManifestEntry:
    """One file in the bundle as fetched."""

    name: str
    source: str
    sha256: str
    size: int
    fetched_at: str
    verified_against: str | None = None
    # The box's version (what `vagrant box add` records it as); None for every other file.
    version: str | None = None


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


def k3s_asset_url(version: str, asset: str, base: str = DEFAULT_BASE_URLS["k3s"]) -> str:
    """A K3s release asset: the tag goes into the path with `+` escaped (v1.31.12%2Bk3s1)."""
    return f"{base.rstrip('/')}/{quote(version, safe='')}/{asset}"


def k3s_asset_names(arch: str) -> tuple[str, str, str]:
    """(binary, sums, airgap images): the names K3s publishes and k3s_binary/vars reads."""
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    return binary, f"sha256sum-{arch}.txt", f"k3s-airgap-images-{arch}.tar.zst"


def argocd_manifest_url(version: str, base: str = DEFAULT_BASE_URLS["argocd"]) -> str:
    return f"{base.rstrip('/')}/{version}/manifests/install.yaml"


def gitlab_deb_name(version: str, arch: str) -> str:
    """gitlab_deb_name in playbooks/roles/gitlab/vars/main.yml."""
    return f"gitlab-ce_{version}_{arch}.deb"


def gitlab_repo_url(distro: str, codename: str, base: str = DEFAULT_BASE_URLS["gitlab"]) -> str:
    """GitLab's per-release apt repository (the 2025 layout: <base>/ubuntu/noble, suite noble)."""
    return f"{base.rstrip('/')}/{distro}/{codename}"


def gitlab_packages_url(
    distro: str, codename: str, arch: str, base: str = DEFAULT_BASE_URLS["gitlab"]
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
    arch: str,
    base_urls: Mapping[str, str] | None = None,
    argocd_manifest: str | None = None,
) -> list[BundleItem]:
    """Everything `up` would download for this plan's machines of architecture `arch`, in fetch
    order (sums before what they sum).

    The Argo CD images are known only from the manifest's text; pass it to list them.
    """
    urls = {**DEFAULT_BASE_URLS, **(base_urls or {})}
    lab = plan.lab
    box = plan.box
    items = []  # machines that exist already (provider ssh) boot from no box
    if plan.provider.boots_machines:
        items.append(_box_item(box, lab.provider, lab.box_version, urls["vagrant"]))
    binary, sums, images = k3s_asset_names(arch)
    sums_url = k3s_asset_url(lab.k3s.version, sums, urls["k3s"])
    items += [
        BundleItem(
            sums,
            "k3s",
            sums_url,
            ChecksumSource("none"),
            why="the k3s_binary role (the release's sha256 sums)",
            version=lab.k3s.version,
            pinned_by="k3s.version",
        ),
        BundleItem(
            binary,
            "k3s",
            k3s_asset_url(lab.k3s.version, binary, urls["k3s"]),
            ChecksumSource("sums-file", sums_url, binary),
            why="the k3s_binary role (the K3s binary)",
            version=lab.k3s.version,
            pinned_by="k3s.version",
        ),
        BundleItem(
            images,
            "k3s",
            k3s_asset_url(lab.k3s.version, images, urls["k3s"]),
            ChecksumSource("sums-file", sums_url, images),
            why="the k3s_binary role (airgap images K3s imports at start)",
            version=lab.k3s.version,
            pinned_by="k3s.version",
        ),
    ]
    items.append(
        BundleItem(
            image_file_name(DEMO_IMAGE, "demo"),
            "demo-image",
            DEMO_IMAGE,
            ChecksumSource("none"),
            why="the demo app and the lessons (imported by K3s from its agent images directory)",
        )
    )
    if lab.addons.argocd.enabled:
        items.append(
            BundleItem(
                "argocd-install.yaml",
                "argocd",
                argocd_manifest_url(lab.addons.argocd.version, urls["argocd"]),
                ChecksumSource("none"),
                why="the argocd role (the install manifest)",
                version=lab.addons.argocd.version,
                pinned_by="addons.argocd.version",
            )
        )
        if argocd_manifest is not None:
            # Required: offline, a missing image would hold each rollout for its full timeout.
            items += [
                BundleItem(
                    image_file_name(image),
                    "argocd-image",
                    image,
                    ChecksumSource("none"),
                    why="Argo CD's pods (imported by K3s from its agent images directory)",
                )
                for image in manifest_images(argocd_manifest)
            ]
    if lab.addons.gitlab.enabled:
        items.append(_gitlab_item(box, lab.addons.gitlab.version, urls["gitlab"], arch))
    return items


def _box_item(box: str, provider: str, constraint: str | None, base: str) -> BundleItem:
    return BundleItem(
        box_file_name(box, provider),
        "box",
        vagrant_metadata_url(box, base),
        ChecksumSource("vagrant-metadata", vagrant_metadata_url(box, base), constraint or ""),
        why=f"`vagrant box add` (the {provider} box {box})",
    )


def _gitlab_item(box: str, version: str, base: str, arch: str) -> BundleItem:
    release = box_release(box)
    name = gitlab_deb_name(version, arch)
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
        gitlab_packages_url(distro, codename, arch, base=base),
        ChecksumSource(
            "apt-packages",
            gitlab_packages_url(distro, codename, arch, base=base),
            f"gitlab-ce={version}",
        ),
        why=f"the gitlab role (the omnibus package for {distro} {codename})",
        version=version,
        pinned_by="addons.gitlab.version",
    )


_IMAGE_RE = re.compile(r"^\s*(?:-\s+)?image:\s*[\"']?([^\s\"'#]+)", re.MULTILINE)


def manifest_images(text: str) -> list[str]:
    """The container images a Kubernetes manifest names, each once, in first-seen order."""
    seen: dict[str, None] = {}
    for match in _IMAGE_RE.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def names_version(text: str, version: str) -> bool:
    """Whether a URL, image reference or file name names this exact release: `version` as a
    whole word (v1.31.1 is not v1.31.12), raw or URL-escaped (v1.31.12%2Bk3s1)."""
    for form in dict.fromkeys((version, quote(version, safe=""))):
        if re.search(rf"(?<![0-9A-Za-z.]){re.escape(form)}(?![0-9A-Za-z.])", text):
            return True
    return False


def argocd_manifest_version(text: str) -> str | None:
    """The release an Argo CD install manifest is for: the tag of its argocd image."""
    for image in manifest_images(text):
        repo, _, tag = image.rpartition(":")
        if repo.endswith("/argocd") and tag:
            return tag
    return None


_BOX_VERSION_IN_SOURCE = (
    re.compile(r"^vagrant box store: \S+ (?P<version>\S+) \("),  # exported from the store
    re.compile(r"/versions/(?P<version>[^/]+)/"),  # a Vagrant registry download URL
)


def box_version_of(entry: ManifestEntry) -> str | None:
    """The version of a bundled box: as recorded, else read from where it came from (bundles
    fetched before the version was recorded)."""
    if entry.version:
        return entry.version
    for pattern in _BOX_VERSION_IN_SOURCE:
        match = pattern.search(entry.source)
        if match:
            return match.group("version")
    return None


def box_metadata(box: str, version: str, provider: str, url: str, sha256: str) -> dict[str, Any]:
    """The metadata.json `vagrant box add` reads for a box file: it names the box and its
    version, so the store holds the box as `box_version` expects, and carries the checksum
    Vagrant verifies while adding."""
    return {
        "name": box,
        "versions": [
            {
                "version": version,
                "providers": [
                    {"name": provider, "url": url, "checksum_type": "sha256", "checksum": sha256}
                ],
            }
        ],
    }


def qualified_image(image: str) -> str:
    """An image reference with its registry, as Docker reads a short one (whoami:v1 ->
    docker.io/library/whoami:v1)."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if sep else f"docker.io/library/{image}"


def image_pull_source(image: str, registry: str) -> tuple[str, bool]:
    """(reference to pull, whether to verify TLS) for `image` through `registry` (a
    DEFAULT_BASE_URLS["registry"] value): the image itself when empty, else the mirror's copy
    at <mirror>/<registry>/<repository>; an http:// mirror is pulled without TLS."""
    if not registry:
        return image, True
    scheme, sep, rest = registry.partition("://")
    mirror = (rest if sep else scheme).rstrip("/")
    return f"{mirror}/{qualified_image(image)}", not (sep and scheme == "http")


IMAGE_FILE_GLOB = "*-image-*.tar"  # every image tarball of a bundle; the k3s_binary role's too


def image_file_name(image: str, owner: str = "argocd") -> str:
    """quay.io/argoproj/argocd:v2.14.11 -> argocd-image-quay.io-argoproj-argocd-v2.14.11.tar"""
    return f"{owner}-image-" + re.sub(r"[^A-Za-z0-9._-]+", "-", image).strip("-") + ".tar"


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


def find_apt_package(index: str, package: str, version: str, arch: str) -> AptPackage:
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
