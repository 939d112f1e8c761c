"""Build a vagrant-lxc box from nothing with debootstrap, and add it to Vagrant.

A vagrant-lxc box is a tar of three files: metadata.json, rootfs.tar.gz (a tar of the rootfs
taken from its parent directory, so the box says `--strip-components 1`) and lxc-config (the
container settings every machine of the box gets). The rootfs is shaped for Vagrant: a `vagrant`
user with password-less sudo and Vagrant's well-known insecure key (Vagrant swaps it for a
per-machine key on first boot), systemd-networkd enabled with no .network file for eth*
(addresses come from the LXC config; Vagrant's hostname step then only restarts networkd
instead of stalling 90 s in ifup), an empty machine-id and no SSH host keys (each machine makes
its own on first boot).

The pure part (debootstrap arguments, metadata, lxc-config, files, cache keys) is separate from
`build_box`, the only function here that runs tools; both stay one file, since together they
are what one box holds and how it is made, and split they would scatter that. The debootstrap
rootfs is cached as a tarball keyed by distro, release and package list, and the finished box
file by everything that goes into it, so a re-run only re-adds the box.

Only Debian's archive is reachable on labctl's own CI machines, so Debian bookworm is what the
project builds and tests; Ubuntu boxes (default mirror: the Ubuntu archive) are for users whose
machines reach it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from labctl.errors import BoxBuildError, UsageError
from labctl.messages import quoted
from labctl.providers.lxc._run import require_root, run

Distro = Literal["debian", "ubuntu"]

DEFAULT_RELEASES: dict[str, str] = {"debian": "bookworm", "ubuntu": "noble"}
DEFAULT_MIRRORS: dict[str, str] = {
    "debian": "http://deb.debian.org/debian",
    "ubuntu": "http://archive.ubuntu.com/ubuntu",
}
# Ubuntu releases newer than the host's debootstrap are bootstrapped by the script every
# Ubuntu release since 7.10 shares (Debian 12's debootstrap has no `noble` script).
UBUNTU_FALLBACK_SCRIPT = "gutsy"
DEBOOTSTRAP_SCRIPTS = Path("/usr/share/debootstrap/scripts")

# What a machine needs to be driven by Vagrant and Ansible and to run K3s-like services, and
# every package the roles would install (common: systemd-timesyncd; gitlab: perl, tzdata), so
# an offline lab (`up --offline`) on this box needs no package mirror.
PACKAGES: tuple[str, ...] = (
    "ca-certificates",
    "curl",
    "dbus",
    "iproute2",
    "iptables",
    "iputils-ping",
    "kmod",
    "netbase",
    "openssh-server",
    "perl",
    "procps",
    "python3",
    "python3-apt",
    "sudo",
    "systemd",
    "systemd-sysv",
    "systemd-timesyncd",
    "tzdata",
)

VAGRANT_USER = "vagrant"
VAGRANT_UID = 1000
# Vagrant's well-known insecure public key (keys/vagrant.pub in Vagrant); Vagrant logs in with
# it once and replaces it with a key of the machine's own.
VAGRANT_INSECURE_PUBLIC_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNl"
    "tGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8"
    "dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnA"
    "mCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK"
    "8jlqm8tehUc9c9WhQ== vagrant insecure public key"
)

METADATA: dict[str, object] = {
    "provider": "lxc",
    "version": "1.0.0",
    "built-by": "labctl",
    "template-opts": {"--strip-components": "1"},
}

# Settings that make a container behave like a VM for systemd, containerd and kube-proxy:
# privileged with every capability, all devices, writable proc/sys/cgroup, no seccomp filter,
# /dev/kmsg for the kubelet, and the host's module tree read-only so `modprobe` finds modules
# that are loaded or built in. This gives the machine root on the host: a lab, not a sandbox.
LXC_CONFIG = """\
# labctl: VM-like privileged container (root inside is root on the host)
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.apparmor.profile = unconfined
lxc.seccomp.profile =
lxc.cap.drop =
lxc.cgroup.devices.allow = a
lxc.mount.auto =
lxc.mount.auto = proc:rw sys:rw cgroup:rw
lxc.mount.entry = /dev/kmsg dev/kmsg none bind,optional,create=file 0 0
lxc.mount.entry = /lib/modules usr/lib/modules none ro,bind,optional,create=dir 0 0
lxc.autodev = 1
lxc.pty.max = 1024
"""

SSHD_HOST_KEYS_DROPIN = """\
# labctl: every machine makes its own SSH host keys on first boot
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""

HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
FSTAB = "# labctl: LXC mounts everything this machine needs\n"


@dataclass(frozen=True)
class RootfsFile:
    """A file written into the rootfs: path relative to its root, content, mode and owner."""

    path: str
    content: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class RootfsLink:
    """A symlink made in the rootfs (used to mask units)."""

    path: str
    target: str


@dataclass(frozen=True)
class BoxRecipe:
    """Everything a box is made of; its keys name the cached rootfs and the cached box file."""

    distro: Distro
    release: str
    mirror: str
    name: str
    packages: tuple[str, ...] = PACKAGES
    resolv_conf: str = ""
    extra_files: tuple[RootfsFile, ...] = field(default_factory=tuple)

    @property
    def rootfs_key(self) -> str:
        return rootfs_cache_key(self.distro, self.release, self.packages)

    @property
    def box_key(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.rootfs_key.encode())
        digest.update(lxc_config_text().encode())
        digest.update(json.dumps(METADATA, sort_keys=True).encode())
        for item in rootfs_files(self.resolv_conf) + list(self.extra_files):
            digest.update(f"{item.path}\0{item.content}\0{item.mode}\0{item.uid}".encode())
        for link in rootfs_links():
            digest.update(f"{link.path}\0{link.target}".encode())
        for argv in chroot_commands():
            digest.update("\0".join(argv).encode())
        for pattern in rootfs_removals():
            digest.update(f"rm\0{pattern}".encode())
        return digest.hexdigest()[:16]


def default_release(distro: Distro) -> str:
    return DEFAULT_RELEASES[distro]


def default_box_name(distro: Distro, release: str) -> str:
    """`labctl/debian-bookworm`, `labctl/ubuntu-noble`."""
    return f"labctl/{distro}-{release}"


def default_cache_dir() -> Path:
    """Where rootfs tarballs and box files are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labctl" / "lxc"


def rootfs_cache_key(distro: str, release: str, packages: tuple[str, ...]) -> str:
    """A short digest of what decides a debootstrap rootfs's content."""
    text = "\n".join([distro, release, "minbase", *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def rootfs_tarball_name(distro: str, release: str, packages: tuple[str, ...]) -> str:
    return f"rootfs-{distro}-{release}-{rootfs_cache_key(distro, release, packages)}.tar.gz"


def debootstrap_script(distro: Distro, release: str, scripts_dir: Path) -> str | None:
    """The script argument debootstrap needs, or None when it knows the release itself."""
    if (scripts_dir / release).exists():
        return None
    if distro == "ubuntu":
        return str(scripts_dir / UBUNTU_FALLBACK_SCRIPT)
    return None


def debootstrap_argv(
    distro: Distro,
    release: str,
    target: Path,
    mirror: str,
    *,
    packages: tuple[str, ...] = PACKAGES,
    script: str | None = None,
) -> list[str]:
    """The debootstrap command for a minimal rootfs with `packages`."""
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(sorted(packages))}",
    ]
    if distro == "ubuntu":
        argv.append("--components=main,universe")
    argv += [release, str(target), mirror]
    if script:
        argv.append(script)
    return argv


def metadata_json() -> str:
    return json.dumps(METADATA, indent=2, sort_keys=True) + "\n"


def lxc_config_text() -> str:
    return LXC_CONFIG


def resolv_conf_for_machines(host_resolv_conf: str) -> str:
    """The host's name servers without loopback ones (unreachable from a machine)."""
    kept = []
    for line in host_resolv_conf.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1 and words[1].startswith("127."):
            continue
        if words and words[0] in {"nameserver", "search", "options"}:
            kept.append(line.strip())
    return "\n".join(kept) + "\n" if kept else ""


def rootfs_files(resolv_conf: str = "") -> list[RootfsFile]:
    """The files that turn a debootstrap rootfs into a Vagrant machine."""
    files = [
        RootfsFile("etc/hosts", HOSTS),
        RootfsFile("etc/fstab", FSTAB),
        RootfsFile("etc/machine-id", ""),
        RootfsFile(
            f"etc/sudoers.d/{VAGRANT_USER}",
            f"{VAGRANT_USER} ALL=(ALL) NOPASSWD:ALL\n",
            mode=0o440,
        ),
        RootfsFile(
            f"home/{VAGRANT_USER}/.ssh/authorized_keys",
            VAGRANT_INSECURE_PUBLIC_KEY + "\n",
            mode=0o600,
            uid=VAGRANT_UID,
            gid=VAGRANT_UID,
        ),
        RootfsFile("etc/systemd/system/ssh.service.d/labctl-host-keys.conf", SSHD_HOST_KEYS_DROPIN),
    ]
    if resolv_conf:
        files.append(RootfsFile("etc/resolv.conf", resolv_conf))
    return files


def rootfs_links() -> list[RootfsLink]:
    """Units masked because they wait for or fight over what LXC already set up."""
    return [
        # Nothing is managed by networkd (no .network files): waiting for it would only time out.
        RootfsLink("etc/systemd/system/systemd-networkd-wait-online.service", "/dev/null"),
    ]


def rootfs_removals() -> list[str]:
    """Paths (globs) removed so every machine gets its own identity and the box stays small."""
    return [
        "etc/ssh/ssh_host_*",
        # Without /etc/hostname systemd keeps the name LXC gives (the container name).
        "etc/hostname",
        "var/lib/dbus/machine-id",
        "var/cache/apt/archives/*.deb",
        # The package lists stay: without them apt finds nothing until an update, and the
        # folder's fresh mtime makes Ansible's apt cache_valid_time skip that update.
    ]


def chroot_commands() -> list[list[str]]:
    """Commands run inside the rootfs with chroot, in order."""
    return [
        [
            "useradd",
            "--uid",
            str(VAGRANT_UID),
            "--user-group",
            "--create-home",
            "--shell",
            "/bin/bash",
            VAGRANT_USER,
        ],
        # A locked password ("!") can block key logins where PAM is off; "*" only forbids
        # password logins.
        ["usermod", "--password", "*", VAGRANT_USER],
        ["systemctl", "enable", "systemd-networkd.service", "ssh.service"],
    ]


def write_rootfs_files(rootfs: Path, files: list[RootfsFile], links: list[RootfsLink]) -> None:
    """Write `files` and `links` under `rootfs` (which must be a directory we may chown in)."""
    for item in files:
        target = rootfs / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(item.content)
        target.chmod(item.mode)
        os.chown(target, item.uid, item.gid)
        if item.uid:
            # The directory holding a user's file (~/.ssh) belongs to that user too.
            target.parent.chmod(0o700)
            os.chown(target.parent, item.uid, item.gid)
    for link in links:
        path = rootfs / link.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(link.target)


def remove_globs(rootfs: Path, patterns: list[str]) -> None:
    for pattern in patterns:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


@dataclass(frozen=True)
class BuiltBox:
    """What build_box made: the box name, its file and whether the caches were used."""

    name: str
    box_file: Path
    rootfs_tarball: Path
    rootfs_from_cache: bool
    box_from_cache: bool


def ensure_rootfs_tarball(
    recipe: BoxRecipe, cache_dir: Path, workdir: Path, *, rebuild: bool = False
) -> tuple[Path, bool]:
    """The cached debootstrap tarball of `recipe`, made first if missing. Returns (path, cached)."""
    tarball = cache_dir / rootfs_tarball_name(recipe.distro, recipe.release, recipe.packages)
    if tarball.exists() and not rebuild:
        return tarball, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="debootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        script = debootstrap_script(recipe.distro, recipe.release, DEBOOTSTRAP_SCRIPTS)
        run(
            debootstrap_argv(
                recipe.distro,
                recipe.release,
                rootfs,
                recipe.mirror,
                packages=recipe.packages,
                script=script,
            ),
            error=BoxBuildError,
            hint=f"check that {recipe.mirror} is reachable and has {recipe.release}; "
            "pass another mirror with --mirror",
        )
        remove_globs(rootfs, ["var/cache/apt/archives/*.deb"])
        partial = tarball.with_suffix(".partial")
        run(
            ["tar", "--numeric-owner", "--xattrs", "-czf", str(partial), "-C", tmp, "rootfs"],
            error=BoxBuildError,
        )
        partial.replace(tarball)
    return tarball, False


def extract_rootfs(tarball: Path, dest_parent: Path) -> Path:
    """Unpack a cached rootfs tarball under `dest_parent`; returns the rootfs directory."""
    dest_parent.mkdir(parents=True, exist_ok=True)
    run(
        ["tar", "--numeric-owner", "--xattrs", "-xzf", str(tarball), "-C", str(dest_parent)],
        error=BoxBuildError,
    )
    return dest_parent / "rootfs"


def build_box(
    distro: Distro,
    release: str,
    mirror: str | None,
    name: str,
    workdir: Path,
    *,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    add: bool = True,
    host_resolv_conf: Path = Path("/etc/resolv.conf"),
) -> BuiltBox:
    """Build the box `name` for vagrant-lxc and (unless add=False) `vagrant box add --force` it."""
    if distro not in DEFAULT_MIRRORS:
        raise UsageError(
            f"{quoted(distro)} is not a distro labctl builds boxes for",
            "use --distro debian or --distro ubuntu",
        )
    require_root("building an lxc box (debootstrap, chroot)")
    cache = cache_dir or default_cache_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    resolv = ""
    if host_resolv_conf.exists():
        resolv = resolv_conf_for_machines(host_resolv_conf.read_text())
    recipe = BoxRecipe(
        distro=distro,
        release=release,
        mirror=mirror or DEFAULT_MIRRORS[distro],
        name=name,
        resolv_conf=resolv,
    )
    tarball, rootfs_cached = ensure_rootfs_tarball(recipe, cache, workdir, rebuild=rebuild)
    box_file = cache / f"box-{distro}-{release}-{recipe.box_key}.box"
    box_cached = box_file.exists() and not rebuild
    if not box_cached:
        _assemble_box(recipe, tarball, box_file, workdir)
        for stale in cache.glob(f"box-{distro}-{release}-*.box"):
            if stale != box_file:
                stale.unlink()
    if add:
        run(
            [
                "vagrant",
                "box",
                "add",
                "--force",
                "--name",
                name,
                "--provider",
                "lxc",
                str(box_file),
            ],
            error=BoxBuildError,
            hint="check that vagrant and the vagrant-lxc plugin are installed "
            "(`vagrant plugin list`)",
        )
    return BuiltBox(name, box_file, tarball, rootfs_cached, box_cached)


def _assemble_box(recipe: BoxRecipe, tarball: Path, box_file: Path, workdir: Path) -> None:
    with tempfile.TemporaryDirectory(dir=workdir, prefix="box-") as tmp:
        tmp_path = Path(tmp)
        rootfs = extract_rootfs(tarball, tmp_path)
        remove_globs(rootfs, rootfs_removals())
        for argv in chroot_commands():
            run(["chroot", str(rootfs), *argv], error=BoxBuildError)
        write_rootfs_files(rootfs, rootfs_files(recipe.resolv_conf), rootfs_links())
        boxdir = tmp_path / "box"
        boxdir.mkdir()
        run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "-czf",
                str(boxdir / "rootfs.tar.gz"),
                "-C",
                str(tmp_path),
                "rootfs",
            ],
            error=BoxBuildError,
        )
        (boxdir / "metadata.json").write_text(metadata_json())
        (boxdir / "lxc-config").write_text(lxc_config_text())
        partial = box_file.with_suffix(".partial")
        run(
            [
                "tar",
                "-cf",
                str(partial),
                "-C",
                str(boxdir),
                "metadata.json",
                "lxc-config",
                "rootfs.tar.gz",
            ],
            error=BoxBuildError,
        )
        partial.replace(box_file)
