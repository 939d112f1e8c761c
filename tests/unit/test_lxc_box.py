"""The pure part of the vagrant-lxc box build: arguments, metadata, lxc-config, rootfs files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.providers.lxc import box

VAGRANT_KEYS = Path("/usr/share/rubygems-integration/all/gems")


def test_debootstrap_argv_for_debian_is_minbase_with_sorted_packages(tmp_path: Path) -> None:
    argv = box.debootstrap_argv(
        "debian",
        "bookworm",
        tmp_path / "rootfs",
        "http://deb.debian.org/debian",
        packages=("sudo", "python3"),
    )
    assert argv == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,sudo",
        "bookworm",
        str(tmp_path / "rootfs"),
        "http://deb.debian.org/debian",
    ]


def test_ubuntu_gets_universe_and_the_fallback_script_when_debootstrap_lacks_the_release(
    tmp_path: Path,
) -> None:
    (tmp_path / "gutsy").touch()
    script = box.debootstrap_script("ubuntu", "noble", tmp_path)
    assert script == str(tmp_path / "gutsy")
    argv = box.debootstrap_argv(
        "ubuntu", "noble", Path("/r"), box.DEFAULT_MIRRORS["ubuntu"], script=script
    )
    assert "--components=main,universe" in argv
    assert argv[-3:] == ["/r", "http://archive.ubuntu.com/ubuntu", str(tmp_path / "gutsy")]
    (tmp_path / "noble").touch()
    assert box.debootstrap_script("ubuntu", "noble", tmp_path) is None


def test_packages_hold_what_vagrant_and_ansible_need() -> None:
    for needed in ("systemd", "systemd-sysv", "openssh-server", "python3", "sudo", "iproute2"):
        assert needed in box.PACKAGES
    assert "chrony" not in box.PACKAGES  # with all capabilities it would set the HOST clock


def test_metadata_strips_one_component_because_the_rootfs_is_tarred_from_its_parent() -> None:
    meta = json.loads(box.metadata_json())
    assert meta["provider"] == "lxc"
    assert meta["version"] == "1.0.0"
    assert meta["template-opts"] == {"--strip-components": "1"}


def test_lxc_config_is_vm_like() -> None:
    lines = box.lxc_config_text().splitlines()
    for setting in (
        "lxc.cap.drop =",
        "lxc.cgroup.devices.allow = a",
        "lxc.mount.auto = proc:rw sys:rw cgroup:rw",
        "lxc.seccomp.profile =",
        "lxc.mount.entry = /dev/kmsg dev/kmsg none bind,optional,create=file 0 0",
    ):
        assert setting in lines
    # merged /usr: a mount target under lib/modules fails with "Too many levels of symbolic links"
    modules = [line for line in lines if "/lib/modules" in line]
    assert modules == [
        "lxc.mount.entry = /lib/modules usr/lib/modules none ro,bind,optional,create=dir 0 0"
    ]


def test_rootfs_files_give_vagrant_sudo_and_the_insecure_key_and_an_empty_machine_id() -> None:
    files = {f.path: f for f in box.rootfs_files("nameserver 10.0.0.53\n")}
    sudoers = files["etc/sudoers.d/vagrant"]
    assert sudoers.content == "vagrant ALL=(ALL) NOPASSWD:ALL\n"
    assert sudoers.mode == 0o440
    keys = files["home/vagrant/.ssh/authorized_keys"]
    assert keys.content.strip() == box.VAGRANT_INSECURE_PUBLIC_KEY
    assert (keys.mode, keys.uid) == (0o600, box.VAGRANT_UID)
    assert files["etc/machine-id"].content == ""
    assert files["etc/resolv.conf"].content == "nameserver 10.0.0.53\n"
    assert (
        "ssh-keygen -A" in files["etc/systemd/system/ssh.service.d/labctl-host-keys.conf"].content
    )


def test_the_embedded_insecure_key_is_vagrants_own() -> None:
    shipped = sorted(VAGRANT_KEYS.glob("vagrant-*/keys/vagrant.pub"))
    if not shipped:
        pytest.skip("vagrant's keys/vagrant.pub is not installed here")
    assert shipped[-1].read_text().strip() == box.VAGRANT_INSECURE_PUBLIC_KEY


def test_no_network_file_for_eth_so_vagrant_only_restarts_networkd() -> None:
    paths = [f.path for f in box.rootfs_files()] + [link.path for link in box.rootfs_links()]
    assert not [p for p in paths if p.startswith("etc/systemd/network/")]
    enable = [argv for argv in box.chroot_commands() if argv[:2] == ["systemctl", "enable"]]
    assert enable
    assert "systemd-networkd.service" in enable[0]


def test_each_machine_gets_its_own_identity() -> None:
    removed = box.rootfs_removals()
    assert "etc/ssh/ssh_host_*" in removed
    assert "var/lib/dbus/machine-id" in removed


def test_resolv_conf_drops_loopback_resolvers_a_machine_cannot_reach() -> None:
    host = "# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch lab\n"
    assert box.resolv_conf_for_machines(host) == "nameserver 10.255.255.53\nsearch lab\n"
    assert box.resolv_conf_for_machines("nameserver 127.0.0.1\n") == ""


def test_rootfs_cache_key_follows_the_package_list_not_its_order() -> None:
    a = box.rootfs_cache_key("debian", "bookworm", ("a", "b"))
    assert a == box.rootfs_cache_key("debian", "bookworm", ("b", "a"))
    assert a != box.rootfs_cache_key("debian", "bookworm", ("a", "b", "c"))
    assert a != box.rootfs_cache_key("debian", "trixie", ("a", "b"))
    name = box.rootfs_tarball_name("debian", "bookworm", ("a", "b"))
    assert name == f"rootfs-debian-bookworm-{a}.tar.gz"


def test_box_key_changes_with_the_rootfs_files() -> None:
    plain = box.BoxRecipe("debian", "bookworm", "http://m", "labctl/debian-bookworm")
    other_dns = box.BoxRecipe(
        "debian",
        "bookworm",
        "http://m",
        "labctl/debian-bookworm",
        resolv_conf="nameserver 10.1.1.1\n",
    )
    assert plain.box_key != other_dns.box_key
    assert plain.box_key == box.BoxRecipe("debian", "bookworm", "http://m", "x").box_key


def test_default_box_names() -> None:
    assert box.default_box_name("debian", "bookworm") == "labctl/debian-bookworm"
    assert box.default_box_name("ubuntu", box.default_release("ubuntu")) == "labctl/ubuntu-noble"


def test_write_rootfs_files_sets_modes_and_replaces_links(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    box.write_rootfs_files(
        tmp_path,
        [
            box.RootfsFile("etc/resolv.conf", "nameserver 10.0.0.1\n"),
            box.RootfsFile("etc/sudoers.d/vagrant", "x\n", mode=0o440),
        ],
        [box.RootfsLink("etc/systemd/system/foo.service", "/dev/null")],
    )
    assert not (tmp_path / "etc/resolv.conf").is_symlink()
    assert (tmp_path / "etc/resolv.conf").read_text() == "nameserver 10.0.0.1\n"
    assert (tmp_path / "etc/sudoers.d/vagrant").stat().st_mode & 0o777 == 0o440
    assert str((tmp_path / "etc/systemd/system/foo.service").readlink()) == "/dev/null"


def test_the_box_key_changes_when_the_removals_change(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.providers.lxc import box

    recipe = box.BoxRecipe(distro="debian", release="bookworm", mirror="m", name="n")
    before = recipe.box_key
    monkeypatch.setattr(box, "rootfs_removals", lambda: ["etc/hostname"])
    assert recipe.box_key != before, "a changed recipe must not reuse a cached box file"


def test_the_box_carries_every_package_the_roles_install() -> None:
    """An offline lab installs no packages (issue 18): what common and gitlab would install
    from the mirror must already be in a box labctl builds."""
    import yaml

    roles = Path(__file__).resolve().parents[2] / "playbooks" / "roles"
    common = yaml.safe_load((roles / "common" / "defaults" / "main.yml").read_text())
    gitlab = yaml.safe_load((roles / "gitlab" / "vars" / "main.yml").read_text())
    tasks = (roles / "common" / "tasks" / "main.yml").read_text()
    assert "['systemd-timesyncd']" in tasks  # the time daemon common adds where chrony is absent
    wanted = {*common["common_packages"], *gitlab["gitlab_packages"], "systemd-timesyncd"}
    assert wanted - set(box.PACKAGES) == set()
