"""The offline bundle's pure parts: items per spec, URL patterns, parsers, manifest, verify."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pytest
import yaml

from labctl.errors import BundleError, ExitCode
from labctl.registry import plan_lab
from labctl.spec.model import Lab
from labctl.workshop import bundle

if TYPE_CHECKING:
    from labctl.plan import Plan

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"


@pytest.fixture(autouse=True)
def _amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' bundles are amd64 ones, on whatever host runs them."""
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


def plan_of(**spec: Any) -> Plan:
    return plan_lab(Lab.model_validate({"name": "demo", **spec}))


def names(items: list[bundle.BundleItem]) -> list[str]:
    return [i.name for i in items]


# --- what a spec needs -----------------------------------------------------------------------


def test_default_lab_needs_the_box_the_k3s_release_files_and_the_demo_image() -> None:
    items = bundle.bundle_items(plan_of(), arch="amd64")
    assert names(items) == [
        "box-bento-ubuntu-24.04-virtualbox.box",
        "sha256sum-amd64.txt",
        "k3s",
        "k3s-airgap-images-amd64.tar.zst",
        "demo-image-docker.io-traefik-whoami-v1.10.3.tar",
    ]
    assert all(i.required for i in items)
    assert (items[-1].kind, items[-1].source) == ("demo-image", "docker.io/traefik/whoami:v1.10.3")
    k3s = items[2]
    assert k3s.source == ("https://github.com/k3s-io/k3s/releases/download/v1.31.12%2Bk3s1/k3s")
    assert k3s.checksum == bundle.ChecksumSource(
        "sums-file",
        "https://github.com/k3s-io/k3s/releases/download/v1.31.12%2Bk3s1/sha256sum-amd64.txt",
        "k3s",
    )
    assert items[0].source == "https://vagrantcloud.com/api/v2/vagrant/bento/ubuntu-24.04"


def test_argocd_adds_its_manifest_at_the_pinned_tag() -> None:
    items = bundle.bundle_items(
        plan_of(addons={"argocd": {"enabled": True, "version": "v2.13.3"}}), arch="amd64"
    )
    manifest = next(i for i in items if i.kind == "argocd")
    assert manifest.name == "argocd-install.yaml"
    assert manifest.source == (
        "https://raw.githubusercontent.com/argoproj/argo-cd/v2.13.3/manifests/install.yaml"
    )
    assert manifest.required


ARGOCD_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
      - command: [cp]
        image: quay.io/argoproj/argocd:v2.14.11
      containers:
      - image: ghcr.io/dexidp/dex:v2.41.1
        name: dex
      - name: redis
        image: "public.ecr.aws/docker/library/redis:7.0.15-alpine"  # pinned upstream
      - name: server
        image: quay.io/argoproj/argocd:v2.14.11
"""


def test_argocd_images_come_from_the_manifest_each_once_and_required() -> None:
    assert bundle.manifest_images(ARGOCD_MANIFEST) == [
        "quay.io/argoproj/argocd:v2.14.11",
        "ghcr.io/dexidp/dex:v2.41.1",
        "public.ecr.aws/docker/library/redis:7.0.15-alpine",
    ]
    items = bundle.bundle_items(
        plan_of(addons={"argocd": {"enabled": True}}), arch="amd64", argocd_manifest=ARGOCD_MANIFEST
    )
    images = [i for i in items if i.kind == "argocd-image"]
    assert names(images) == [
        "argocd-image-quay.io-argoproj-argocd-v2.14.11.tar",
        "argocd-image-ghcr.io-dexidp-dex-v2.41.1.tar",
        "argocd-image-public.ecr.aws-docker-library-redis-7.0.15-alpine.tar",
    ]
    # Offline, a missing image would hold its rollout for the role's whole wait (issue 18).
    assert all(i.required for i in images)


@pytest.mark.parametrize(
    ("provider", "codename"), [("virtualbox", "noble"), ("libvirt", "noble"), ("lxc", "noble")]
)
def test_gitlab_package_comes_from_the_apt_index_of_the_box_os_release(
    provider: str, codename: str
) -> None:
    plan = plan_of(
        provider=provider, addons={"gitlab": {"enabled": True, "version": "17.9.2-ce.0"}}
    )
    gitlab = bundle.bundle_items(plan, arch="amd64")[-1]
    index = (
        f"https://packages.gitlab.com/gitlab/gitlab-ce/ubuntu/{codename}"
        f"/dists/{codename}/main/binary-amd64/Packages"
    )
    assert gitlab.name == "gitlab-ce_17.9.2-ce.0_amd64.deb"
    assert gitlab.checksum == bundle.ChecksumSource("apt-packages", index, "gitlab-ce=17.9.2-ce.0")


def test_gitlab_on_a_box_of_unknown_os_release_says_so() -> None:
    plan = plan_of(box="someone/mystery", addons={"gitlab": {"enabled": True}})
    gitlab = bundle.bundle_items(plan, arch="amd64")[-1]
    assert gitlab.checksum.kind == "none"
    assert "cannot tell the OS release of box someone/mystery" in gitlab.source


@pytest.mark.parametrize(
    ("version", "path"),
    [("v1.31.12+k3s1", "v1.31.12%2Bk3s1"), ("v1.30.4+k3s2", "v1.30.4%2Bk3s2")],
)
def test_k3s_urls_escape_the_plus_of_each_version(version: str, path: str) -> None:
    items = bundle.bundle_items(plan_of(k3s={"version": version}), arch="amd64")
    assert {i.source for i in items if i.kind == "k3s"} == {
        f"https://github.com/k3s-io/k3s/releases/download/{path}/{name}"
        for name in ("k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst")
    }


def test_base_urls_replace_each_upstream() -> None:
    mirror = {k: f"http://127.0.0.1:9/{k}/" for k in bundle.DEFAULT_BASE_URLS}
    plan = plan_of(addons={"argocd": {"enabled": True}, "gitlab": {"enabled": True}})
    sources = {i.name: i.source for i in bundle.bundle_items(plan, arch="amd64", base_urls=mirror)}
    assert sources["k3s"] == "http://127.0.0.1:9/k3s/v1.31.12%2Bk3s1/k3s"
    assert sources["argocd-install.yaml"] == (
        "http://127.0.0.1:9/argocd/v2.14.11/manifests/install.yaml"
    )
    assert sources["box-bento-ubuntu-24.04-virtualbox.box"] == (
        "http://127.0.0.1:9/vagrant/bento/ubuntu-24.04"
    )
    assert sources["gitlab-ce_17.11.7-ce.0_amd64.deb"] == (
        "http://127.0.0.1:9/gitlab/ubuntu/noble/dists/noble/main/binary-amd64/Packages"
    )


def _role_value(role: str, key: str, **context: str) -> str:
    """A role variable as Ansible would render it (vars/ over defaults/), for the names."""
    values: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        path = ROLES / role / part / "main.yml"
        if path.exists():
            values.update(yaml.safe_load(path.read_text()) or {})
    # Plain-text file names, not HTML: autoescape has nothing to guard here.
    env = jinja2.Environment(autoescape=False)  # noqa: S701
    return env.from_string(str(values[key])).render({**values, **context})


def test_file_names_are_the_ones_the_roles_read() -> None:
    binary, sums, images = bundle.k3s_asset_names("amd64")
    assert _role_value("k3s_binary", "k3s_binary_name", k3s_binary_arch="amd64") == binary
    assert _role_value("k3s_binary", "k3s_binary_sums_name", k3s_binary_arch="amd64") == sums
    assert _role_value("k3s_binary", "k3s_binary_images_name", k3s_binary_arch="amd64") == images
    assert _role_value("argocd", "argocd_offline_manifest") == "argocd-install.yaml"
    assert _role_value(
        "gitlab", "gitlab_deb_name", gitlab_version="17.11.7-ce.0", gitlab_arch="amd64"
    ) == bundle.gitlab_deb_name("17.11.7-ce.0", "amd64")
    assert _role_value("gitops_demo", "gitops_demo_image") == bundle.DEMO_IMAGE


def test_the_k3s_role_places_every_image_tarball_a_bundle_names() -> None:
    """k3s_binary copies the bundle's `*-image-*.tar` into K3s's images directory: each name
    fetch gives an image must match that glob, and K3s's own airgap tarball must not."""
    import fnmatch

    tasks = (ROLES / "k3s_binary" / "tasks" / "offline.yml").read_text()
    assert f"'/{bundle.IMAGE_FILE_GLOB}'" in tasks
    plan = plan_of(addons={"argocd": {"enabled": True}})
    items = bundle.bundle_items(plan, arch="amd64", argocd_manifest=ARGOCD_MANIFEST)
    placed = {i.name for i in items if fnmatch.fnmatch(i.name, bundle.IMAGE_FILE_GLOB)}
    assert placed == {i.name for i in items if i.kind in ("demo-image", "argocd-image")}
    assert len(placed) == 4


# --- parsers ---------------------------------------------------------------------------------


def test_parse_sums_reads_sha256sum_lines_and_skips_the_rest() -> None:
    text = f"{'a' * 64}  k3s\n{'B' * 64} *k3s-airgap-images-amd64.tar.zst\nnot a line\n\n"
    assert bundle.parse_sums(text) == {
        "k3s": "a" * 64,
        "k3s-airgap-images-amd64.tar.zst": "b" * 64,
    }


PACKAGES = """\
Package: gitlab-ce
Version: 17.11.6-ce.0
Architecture: amd64
SHA256: 1111111111111111111111111111111111111111111111111111111111111111
Size: 10
Filename: pool/main/g/gitlab-ce/gitlab-ce_17.11.6-ce.0_amd64.deb

Package: gitlab-ce
Version: 17.11.7-ce.0
Architecture: arm64
SHA256: 2222222222222222222222222222222222222222222222222222222222222222
Size: 20
Filename: pool/main/g/gitlab-ce/gitlab-ce_17.11.7-ce.0_arm64.deb

Package: gitlab-ce
Version: 17.11.7-ce.0
Architecture: amd64
Description: GitLab Community Edition
 continued: description lines are not fields
SHA256: 3333333333333333333333333333333333333333333333333333333333333333
Size: 30
Filename: pool/noble/main/g/gitlab-ce/gitlab-ce_17.11.7-ce.0_amd64.deb
"""


def test_find_apt_package_picks_the_version_and_architecture() -> None:
    found = bundle.find_apt_package(PACKAGES, "gitlab-ce", "17.11.7-ce.0", "amd64")
    assert found == bundle.AptPackage(
        "pool/noble/main/g/gitlab-ce/gitlab-ce_17.11.7-ce.0_amd64.deb", "3" * 64, 30
    )


def test_find_apt_package_names_what_is_not_there() -> None:
    with pytest.raises(BundleError, match=r"gitlab-ce 17\.0\.0-ce\.0 \(amd64\) is not in"):
        bundle.find_apt_package(PACKAGES, "gitlab-ce", "17.0.0-ce.0", "amd64")


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [
        ("202502.21.0", None, True),
        ("202502.21.0", ">= 202502.21.0", True),
        ("202501.1.0", ">= 202502.21.0", False),
        ("4.3.12", "~> 4.3", True),
        ("5.0.0", "~> 4.3", False),
        ("4.3.12", "~> 4.3.10", True),
        ("4.4.0", "~> 4.3.10", False),
        ("1.5", ">= 1.0, < 2.0", True),
        ("2.0", ">= 1.0, < 2.0", False),
        ("1.0.0", "1.0", True),
        ("1.0.0", "!= 1.0", False),
        ("1.0.0.beta", "< 1.0.0", True),
    ],
)
def test_box_version_constraints_read_like_vagrant(
    version: str, constraint: str | None, ok: bool
) -> None:
    assert bundle.satisfies(version, constraint) is ok


def test_a_malformed_constraint_is_an_error_naming_it() -> None:
    with pytest.raises(BundleError, match="is not a version constraint"):
        bundle.satisfies("1.0", ">= one")


METADATA: dict[str, Any] = {
    "name": "bento/ubuntu-24.04",
    "versions": [
        {
            "version": "202502.21.0",
            "providers": [
                {"name": "virtualbox", "architecture": "arm64", "url": "https://x/arm.box"},
                {
                    "name": "virtualbox",
                    "architecture": "amd64",
                    "url": "https://x/202502.box",
                    "checksum": "ab" * 32,
                    "checksum_type": "sha256",
                },
            ],
        },
        {
            "version": "202510.26.0",
            "providers": [{"name": "libvirt", "url": "https://x/libvirt.box"}],
        },
        {
            "version": "202404.26.0",
            "providers": [{"name": "virtualbox", "url": "https://x/old.box"}],
        },
    ],
}


def test_choose_box_takes_the_newest_matching_version_for_the_provider_and_arch() -> None:
    chosen = bundle.choose_box(METADATA, "virtualbox", None, "amd64")
    assert chosen == bundle.BoxDownload("202502.21.0", "https://x/202502.box", "ab" * 32, "sha256")
    older = bundle.choose_box(METADATA, "virtualbox", "< 202502", "amd64")
    assert older.url == "https://x/old.box"
    assert bundle.choose_box(METADATA, "libvirt", None, "amd64").version == "202510.26.0"


def test_choose_box_without_a_match_names_box_provider_and_constraint() -> None:
    with pytest.raises(BundleError, match=r"bento/ubuntu-24.04 has no lxc version matching"):
        bundle.choose_box(METADATA, "lxc", ">= 1", "amd64")


def test_parse_box_list_reads_vagrant_machine_readable_output() -> None:
    text = (
        "1,,ui,info,labctl/ubuntu-noble (lxc%!(VAGRANT_COMMA) 0)\n"
        "1,,box-name,labctl/ubuntu-noble\n1,,box-provider,lxc\n1,,box-version,0\n"
        "2,,box-name,bento/ubuntu-24.04\n2,,box-provider,virtualbox\n2,,box-version,202502.21.0\n"
        "3,,box-name,bento/ubuntu-24.04\n3,,box-provider,virtualbox\n3,,box-version,202404.26.0\n"
    )
    boxes = bundle.parse_box_list(text)
    assert boxes == [
        ("labctl/ubuntu-noble", "lxc", "0"),
        ("bento/ubuntu-24.04", "virtualbox", "202502.21.0"),
        ("bento/ubuntu-24.04", "virtualbox", "202404.26.0"),
    ]
    assert bundle.newest_local(boxes, "bento/ubuntu-24.04", "virtualbox", None) == "202502.21.0"
    assert bundle.newest_local(boxes, "bento/ubuntu-24.04", "virtualbox", "< 202500") == (
        "202404.26.0"
    )
    assert bundle.newest_local(boxes, "bento/ubuntu-24.04", "libvirt", None) is None


# --- manifest and verify ---------------------------------------------------------------------


def test_manifest_round_trips_through_its_json_schema(tmp_path: Path) -> None:
    manifest = bundle.Manifest(
        labctl_version="0.1.0",
        lab="demo",
        spec_hash="0123456789abcdef",
        files=(
            bundle.ManifestEntry(
                "k3s",
                "https://x/k3s",
                "a" * 64,
                3,
                "2025-01-31T12:00:00Z",
                "https://x/sha256sum-amd64.txt",
            ),
            bundle.ManifestEntry(
                "argocd-install.yaml", "https://x/i.yaml", "b" * 64, 4, "2025-01-31T12:00:01Z"
            ),
        ),
        not_fetched=(bundle.NotFetched("argocd-image-x.tar", "x:1", "needs skopeo"),),
    )
    bundle.write_manifest(tmp_path, manifest)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert set(raw) == {"schema", "labctl_version", "lab", "spec_hash", "files", "not_fetched"}
    assert [f["name"] for f in raw["files"]] == ["argocd-install.yaml", "k3s"]  # sorted
    assert set(raw["files"][0]) == {
        "name",
        "source",
        "sha256",
        "size",
        "fetched_at",
        "verified_against",
        "version",
    }
    loaded = bundle.read_manifest(tmp_path)
    assert loaded is not None
    assert loaded.to_json() == manifest.to_json()
    assert loaded.entry("k3s") == manifest.files[0]
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temp file, renamed


def test_a_damaged_manifest_is_an_error_not_an_empty_bundle(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="is damaged"):
        bundle.read_manifest(tmp_path)


def make_bundle(directory: Path, plan: Plan) -> dict[str, bytes]:
    """A complete bundle of small stand-in files, with sums and a manifest that agree."""
    directory.mkdir(exist_ok=True)
    items = bundle.bundle_items(plan, arch="amd64")
    sources = {i.name: i.source for i in items}
    content = {
        i.name: f"stand-in for {i.name}\n".encode()
        for i in items
        if i.name != "sha256sum-amd64.txt"
    }
    sums = "".join(
        f"{hashlib.sha256(content[n]).hexdigest()}  {n}\n"
        for n in ("k3s", "k3s-airgap-images-amd64.tar.zst")
    )
    content["sha256sum-amd64.txt"] = sums.encode()
    entries = []
    for name, data in content.items():
        (directory / name).write_bytes(data)
        entries.append(
            bundle.ManifestEntry(
                name,
                sources[name],
                hashlib.sha256(data).hexdigest(),
                len(data),
                "2025-01-31T12:00:00Z",
            )
        )
    bundle.write_manifest(directory, bundle.Manifest("0.1.0", plan.name, "h", tuple(entries)))
    return content


def test_a_complete_bundle_has_no_problems(tmp_path: Path) -> None:
    plan = plan_of(addons={"argocd": {"enabled": True}, "gitlab": {"enabled": True}})
    make_bundle(tmp_path / "b", plan)
    assert bundle.verify(plan, tmp_path / "b") == []
    bundle.require_complete(plan, tmp_path / "b")


def test_verify_names_a_missing_required_file(tmp_path: Path) -> None:
    plan = plan_of(addons={"gitlab": {"enabled": True}})
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "gitlab-ce_17.11.7-ce.0_amd64.deb").unlink()
    problems = bundle.verify(plan, tmp_path / "b")
    assert [(p.kind, p.name, p.fatal) for p in problems] == [
        ("missing", "gitlab-ce_17.11.7-ce.0_amd64.deb", True)
    ]
    assert "needed by the gitlab role" in problems[0].message


def test_verify_names_a_corrupt_file_against_the_manifest(tmp_path: Path) -> None:
    plan = plan_of(addons={"argocd": {"enabled": True}})
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "argocd-install.yaml").write_text("changed\n")
    [problem] = bundle.verify(plan, tmp_path / "b")
    assert (problem.kind, problem.name, problem.fatal) == ("corrupt", "argocd-install.yaml", True)
    assert "differs from the manifest's" in problem.message


def test_verify_checks_k3s_files_against_the_release_sums_too(tmp_path: Path) -> None:
    plan = plan_of()
    content = make_bundle(tmp_path / "b", plan)
    sums = (
        content["sha256sum-amd64.txt"]
        .decode()
        .replace(hashlib.sha256(content["k3s"]).hexdigest(), "0" * 64)
    )
    (tmp_path / "b" / "sha256sum-amd64.txt").write_text(sums)
    problems = {(p.kind, p.name) for p in bundle.verify(plan, tmp_path / "b")}
    # The sums file no longer matches its own manifest record, and k3s no longer matches it.
    assert problems == {("corrupt", "sha256sum-amd64.txt"), ("corrupt", "k3s")}


def test_extra_files_are_noted_but_not_fatal(tmp_path: Path) -> None:
    plan = plan_of()
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "notes.txt").write_text("mine\n")
    [problem] = bundle.verify(plan, tmp_path / "b")
    assert (problem.kind, problem.name, problem.fatal) == ("extra", "notes.txt", False)
    bundle.require_complete(plan, tmp_path / "b")  # does not raise


def test_no_manifest_is_fatal_even_when_files_are_there(tmp_path: Path) -> None:
    plan = plan_of()
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "manifest.json").unlink()
    problems = bundle.verify(plan, tmp_path / "b")
    assert [(p.kind, p.fatal) for p in problems] == [("no-manifest", True)]


def test_require_complete_names_each_file_and_how_to_get_it(tmp_path: Path) -> None:
    plan = plan_of(addons={"argocd": {"enabled": True}})
    directory = tmp_path / "b"
    make_bundle(directory, plan)
    (directory / "k3s").unlink()
    (directory / "argocd-install.yaml").write_text("tampered\n")
    with pytest.raises(BundleError) as raised:
        bundle.require_complete(plan, directory, spec="lab.yaml")
    error = raised.value
    assert error.exit_code is ExitCode.INVALID_INPUT
    assert "2 files missing, corrupt or of another release" in error.message
    assert any(line.startswith(f"{directory / 'k3s'}: missing") for line in error.details)
    assert any(f"{directory / 'argocd-install.yaml'}: sha256" in line for line in error.details)
    assert f"labctl bundle fetch lab.yaml --dir {directory}" in error.hint


def test_require_complete_can_leave_the_box_to_vagrant(tmp_path: Path) -> None:
    plan = plan_of()
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "box-bento-ubuntu-24.04-virtualbox.box").unlink()
    with pytest.raises(BundleError, match="1 file missing"):
        bundle.require_complete(plan, tmp_path / "b")
    bundle.require_complete(plan, tmp_path / "b", need_box=False)


def test_require_complete_on_no_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such directory"):
        bundle.require_complete(plan_of(), tmp_path / "absent")


def test_up_offline_check_asks_only_for_what_the_roles_read(tmp_path: Path) -> None:
    plan = plan_of(addons={"argocd": {"enabled": True}})
    directory = tmp_path / "b"
    make_bundle(directory, plan)
    (directory / "manifest.json").unlink()
    (directory / "box-bento-ubuntu-24.04-virtualbox.box").unlink()
    bundle.require_offline_ready(plan, directory)  # hand-made, no box: fine for the roles
    (directory / "argocd-install.yaml").unlink()
    with pytest.raises(BundleError) as raised:
        bundle.require_offline_ready(plan, directory, spec="lab.yaml")
    assert raised.value.details == [
        f"{directory / 'argocd-install.yaml'}: missing; needed by the argocd role "
        "(the install manifest)"
    ]


def test_an_arm64_lab_needs_the_arm64_assets() -> None:
    plan = plan_of(addons={"gitlab": {"enabled": True}})
    got = names(bundle.bundle_items(plan, arch="arm64"))
    assert got[1:4] == ["sha256sum-arm64.txt", "k3s-arm64", "k3s-airgap-images-arm64.tar.zst"]
    assert got[-1] == "gitlab-ce_17.11.7-ce.0_arm64.deb"
    gitlab = bundle.bundle_items(plan, arch="arm64")[-1]
    assert gitlab.checksum.url is not None
    assert gitlab.checksum.url.endswith("/binary-arm64/Packages")


def test_an_amd64_bundle_on_an_arm64_host_names_what_its_machines_lack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform

    plan = plan_of()
    make_bundle(tmp_path / "b", plan)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")  # an Apple Silicon Mac
    fatal = {p.name for p in bundle.verify(plan, tmp_path / "b") if p.fatal}
    assert fatal == {"sha256sum-arm64.txt", "k3s-arm64", "k3s-airgap-images-arm64.tar.zst"}
    assert bundle.verify(plan, tmp_path / "b", arch="amd64") == []


# --- a bundle made for other versions (issue 18 item 6) -------------------------------------


def test_a_bundle_for_other_k3s_and_argocd_releases_is_fatal_naming_each(tmp_path: Path) -> None:
    """The issue's case: fetched for K3s v1.30.4 and Argo CD v2.13.0, checked for a spec pinned
    to v1.31.12 and v2.14.11. Names and checksums all agree with the bundle's own manifest."""
    old = plan_of(
        k3s={"version": "v1.30.4+k3s1"}, addons={"argocd": {"enabled": True, "version": "v2.13.0"}}
    )
    make_bundle(tmp_path / "b", old)
    new = plan_of(
        k3s={"version": "v1.31.12+k3s1"},
        addons={"argocd": {"enabled": True, "version": "v2.14.11"}},
    )
    problems = [p for p in bundle.verify(new, tmp_path / "b") if p.fatal]
    assert {(p.kind, p.name) for p in problems} == {
        ("version", "k3s"),
        ("version", "sha256sum-amd64.txt"),
        ("version", "k3s-airgap-images-amd64.tar.zst"),
        ("version", "argocd-install.yaml"),
    }
    k3s = next(p for p in problems if p.name == "k3s")
    assert "v1.30.4%2Bk3s1" in k3s.message
    assert "k3s.version: v1.31.12+k3s1" in k3s.message
    with pytest.raises(BundleError) as raised:
        bundle.require_complete(new, tmp_path / "b", spec="lab.yaml")
    assert "labctl bundle fetch lab.yaml --dir" in (raised.value.hint or "")
    assert bundle.verify(old, tmp_path / "b") == []


def test_a_hand_made_argocd_manifest_of_another_release_is_named_by_its_images(
    tmp_path: Path,
) -> None:
    plan = plan_of(addons={"argocd": {"enabled": True, "version": "v2.14.11"}})
    make_bundle(tmp_path / "b", plan)
    (tmp_path / "b" / "manifest.json").unlink()
    (tmp_path / "b" / "argocd-install.yaml").write_text(
        "containers:\n- image: quay.io/argoproj/argocd:v2.13.0\n  name: argocd-server\n"
    )
    problems = bundle.verify(plan, tmp_path / "b", need_manifest=False)
    [problem] = [p for p in problems if p.kind == "version"]
    assert (problem.name, problem.fatal) == ("argocd-install.yaml", True)
    assert "its images are tagged v2.13.0" in problem.message


@pytest.mark.parametrize(
    ("text", "version", "named"),
    [
        ("https://h/v1.31.12%2Bk3s1/k3s", "v1.31.12+k3s1", True),
        ("https://h/v1.31.1%2Bk3s1/k3s", "v1.31.12+k3s1", False),
        ("https://h/argo-cd/v2.14.11/manifests/install.yaml", "v2.14.1", False),
        ("https://h/pool/gitlab-ce_17.11.7-ce.0_amd64.deb", "17.11.7-ce.0", True),
        ("https://h/pool/gitlab-ce_17.11.7-ce.01_amd64.deb", "17.11.7-ce.0", False),
    ],
)
def test_a_release_is_named_only_as_a_whole_word(text: str, version: str, named: bool) -> None:
    assert bundle.names_version(text, version) is named


# --- the bundled box, added when Vagrant's store lacks it (issue 18 item 5) ---------------------


@pytest.mark.parametrize(
    ("source", "recorded", "version"),
    [
        ("vagrant box store: labctl/debian-bookworm 0 (lxc)", None, "0"),
        (
            "https://vagrantcloud.com/bento/boxes/ubuntu-24.04/versions/202502.21.0/providers/"
            "virtualbox/amd64/vagrant.box",
            None,
            "202502.21.0",
        ),
        ("https://x/box", "1.2.3", "1.2.3"),
        ("https://x/box", None, None),
    ],
)
def test_a_bundled_box_says_its_version(
    source: str, recorded: str | None, version: str | None
) -> None:
    entry = bundle.ManifestEntry("b.box", source, "a" * 64, 1, "t", version=recorded)
    assert bundle.box_version_of(entry) == version


def test_box_metadata_names_box_version_file_and_checksum() -> None:
    meta = bundle.box_metadata("bento/ubuntu-24.04", "202502.21.0", "virtualbox", "file:///b", "c")
    assert meta == {
        "name": "bento/ubuntu-24.04",
        "versions": [
            {
                "version": "202502.21.0",
                "providers": [
                    {
                        "name": "virtualbox",
                        "url": "file:///b",
                        "checksum_type": "sha256",
                        "checksum": "c",
                    }
                ],
            }
        ],
    }


# --- images through a registry mirror (issue 18 items 3, 4) ------------------------------------


@pytest.mark.parametrize(
    ("image", "registry", "pull", "tls"),
    [
        ("docker.io/traefik/whoami:v1.10.3", "", "docker.io/traefik/whoami:v1.10.3", True),
        (
            "quay.io/argoproj/argocd:v2.14.11",
            "http://10.0.0.5:5000",
            "10.0.0.5:5000/quay.io/argoproj/argocd:v2.14.11",
            False,
        ),
        (
            "traefik/whoami:v1.10.3",
            "https://mirror.example/cache/",
            "mirror.example/cache/docker.io/traefik/whoami:v1.10.3",
            True,
        ),
        ("redis:7", "mirror.example", "mirror.example/docker.io/library/redis:7", True),
        ("localhost:5000/x:1", "mirror.example", "mirror.example/localhost:5000/x:1", True),
    ],
)
def test_an_image_is_pulled_from_its_registry_or_the_mirror_copy(
    image: str, registry: str, pull: str, tls: bool
) -> None:
    assert bundle.image_pull_source(image, registry) == (pull, tls)
