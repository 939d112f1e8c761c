"""The offline bundle: what `labctl up` would download, gathered into one directory beforehand.

A workshop room without Wi-Fi runs `labctl up --offline DIR`; `labctl bundle fetch --dir DIR`
fills DIR on a machine with internet. File names are exactly the ones the roles read from
`labctl_offline_dir` (playbooks/roles/*/vars/main.yml and defaults/main.yml), shown for amd64
machines (arm64: k3s-arm64, sha256sum-arm64.txt, ..._arm64.deb; `--arch`, default the host's):

    k3s, sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst   k3s_binary (K3s release assets)
    argocd-install.yaml                                           argocd (install manifest)
    gitlab-ce_<version>_amd64.deb                                 gitlab (omnibus package)
    box-<user>-<name>-<provider>.box                              Vagrant box (`vagrant box add`)
    demo-image-docker.io-traefik-whoami-v1.10.3.tar               the demo app's image
    argocd-image-<image>.tar                                      Argo CD images (docker-archive)

Every `*-image-*.tar` is placed in K3s's agent images directory on every node before K3s
starts, so K3s imports it; offline, the argocd role applies its manifest with
`imagePullPolicy: IfNotPresent` so the imported images are used, not pulled again.

The pure part (`bundle_items`, the URL builders, the parsers, `Manifest`, `check`) never touches
the network or runs a tool; `fetch`, `export_box` and `save_image` are the edges (urllib, the
`vagrant box` command, skopeo/docker).

manifest.json (written atomically, after every fetch):

    {
      "schema": 1,
      "labctl_version": "0.1.0",            # the labctl that wrote it
      "lab": "demo",                        # the spec's lab name
      "spec_hash": "0123456789abcdef",      # labctl.lab.state.spec_hash of the spec fetched for
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

from labctl.workshop.bundle.boxstore import add_box_from_bundle, export_box, local_boxes
from labctl.workshop.bundle.fetch import fetch, image_tool_available, save_image
from labctl.workshop.bundle.items import (
    CHUNK,
    DEFAULT_BASE_URLS,
    DEMO_IMAGE,
    DOWNLOAD_TIMEOUT,
    IMAGE_FILE_GLOB,
    MANIFEST,
    MANIFEST_SCHEMA,
    AptPackage,
    BundleItem,
    ChecksumKind,
    ChecksumSource,
    Kind,
    Manifest,
    ManifestEntry,
    NotFetched,
    Problem,
    ProblemKind,
    argocd_manifest_url,
    box_file_name,
    box_metadata,
    box_release,
    box_version_of,
    bundle_items,
    find_apt_package,
    gitlab_deb_name,
    gitlab_packages_url,
    gitlab_repo_url,
    host_arch,
    image_file_name,
    image_pull_source,
    k3s_asset_names,
    k3s_asset_url,
    manifest_images,
    names_version,
    parse_sums,
    qualified_image,
    vagrant_metadata_url,
)
from labctl.workshop.bundle.manifest import (
    fetch_hint,
    incomplete_error,
    read_manifest,
    require_complete,
    require_offline_ready,
    sha256_file,
    verify,
    write_manifest,
)
from labctl.workshop.bundle.versions import (
    BoxDownload,
    choose_box,
    compare_versions,
    newest_local,
    parse_box_list,
    satisfies,
)

__all__ = [
    "CHUNK",
    "DEFAULT_BASE_URLS",
    "DEMO_IMAGE",
    "DOWNLOAD_TIMEOUT",
    "IMAGE_FILE_GLOB",
    "MANIFEST",
    "MANIFEST_SCHEMA",
    "AptPackage",
    "BoxDownload",
    "BundleItem",
    "ChecksumKind",
    "ChecksumSource",
    "Kind",
    "Manifest",
    "ManifestEntry",
    "NotFetched",
    "Problem",
    "ProblemKind",
    "add_box_from_bundle",
    "argocd_manifest_url",
    "box_file_name",
    "box_metadata",
    "box_release",
    "box_version_of",
    "bundle_items",
    "choose_box",
    "compare_versions",
    "export_box",
    "fetch",
    "fetch_hint",
    "find_apt_package",
    "gitlab_deb_name",
    "gitlab_packages_url",
    "gitlab_repo_url",
    "host_arch",
    "image_file_name",
    "image_pull_source",
    "image_tool_available",
    "incomplete_error",
    "k3s_asset_names",
    "k3s_asset_url",
    "local_boxes",
    "manifest_images",
    "names_version",
    "newest_local",
    "parse_box_list",
    "parse_sums",
    "qualified_image",
    "read_manifest",
    "require_complete",
    "require_offline_ready",
    "satisfies",
    "save_image",
    "sha256_file",
    "vagrant_metadata_url",
    "verify",
    "write_manifest",
]
