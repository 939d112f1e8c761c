"""labctl's own test bed: plain LXC hosts and vagrant-lxc labs on this machine, from nothing.

Builds (each step idempotent, each safe to re-run after a crash):
  - the debootstrap rootfs, cached as a tarball (providers.lxc.box, shared with the box build),
  - the vagrant-lxc box `labctl/debian-bookworm` (labctl.providers.lxc.box.build_box),
  - a module tree under /lib/modules/<kernel> when the machine has none (kernels with every
    module built in, like our CI microVMs): it lists the built-in modules and is run through
    depmod, so `modprobe overlay br_netfilter` inside a machine succeeds for modules that really
    are built in. Marked with .labctl-testbed; never touches an existing tree.
  - the bridges and NAT (labctl.providers.lxc.network),
  - plain LXC hosts in an lxcpath of the test bed's own (/var/lib/labctl-testbed/lxc), each with a
    copied rootfs (not overlay: containerd's snapshotter needs to mount overlay inside), its own
    machine-id and SSH host keys, static eth1, the test bed's SSH key for root and `vagrant`.

Run by hand:  python tests/testbed/labctl_testbed.py up [N] | down | box | status
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from labctl.providers.lxc import box as lxcbox  # noqa: E402  (the repo root is put on sys.path above)
from labctl.providers.lxc import network as lxcnet  # noqa: E402

STATE = Path(os.environ.get("LABCTL_TESTBED_DIR", "/var/lib/labctl-testbed"))
LXCPATH = STATE / "lxc"
KEY = STATE / "id_ed25519"
WORK = STATE / "work"
BASE = STATE / "base"
HOSTS_LAB = "tbhosts"
HOSTS_CIDR = "192.168.213.0/24"
HOST_PREFIX = "tbhost-"
FIRST_HOST_OFFSET = 10
BOX_NAME = lxcbox.default_box_name("debian", "bookworm")
MODULES_MARK = ".labctl-testbed"
# Built into our CI kernels and needed by K3s-like services; listed only when a probe shows them.
BUILTIN_PROBES: dict[str, Path] = {
    "br_netfilter": Path("/proc/sys/net/bridge"),
    "tun": Path("/dev/net/tun"),
}
ALWAYS_BUILTIN_WHEN_NO_TREE = (
    "bridge",
    "veth",
    "ip_tables",
    "iptable_nat",
    "iptable_filter",
    "nf_nat",
    "nf_tables",
    "xt_MASQUERADE",
    "xt_conntrack",
    "xt_comment",
)


@dataclass(frozen=True)
class Host:
    """A plain LXC host of the test bed, reachable by SSH with the test bed's key."""

    name: str
    ip: str
    user: str
    key_path: Path
    root_user: str = "root"

    def ssh_argv(self, *command: str, user: str | None = None) -> list[str]:
        return [*ssh_base_argv(self.key_path), f"{user or self.user}@{self.ip}", *command]


def ssh_base_argv(key: Path) -> list[str]:
    return [
        "ssh",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=5",
    ]


def sh(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run argv; raise with its stderr on failure (the test bed is not product code)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc


# ---------------------------------------------------------------- prerequisites


def missing_prerequisites() -> list[str]:
    """What this machine lacks for the test bed (empty when all is there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (LXC containers, bridges and NAT need it)")
    for tool in ("lxc-create", "lxc-start", "vagrant", "debootstrap", "iptables", "ssh", "depmod"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (run tests/testbed/install-deps.sh)")
    if shutil.which("vagrant"):
        plugins = subprocess.run(
            ["vagrant", "plugin", "list"], capture_output=True, text=True, check=False
        ).stdout
        if "vagrant-lxc" not in plugins:
            missing.append("the vagrant-lxc plugin (apt-get install vagrant-lxc)")
    return missing


def ensure_key() -> Path:
    STATE.mkdir(parents=True, exist_ok=True)
    if not KEY.exists():
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labctl-testbed", "-f", str(KEY)])
    return KEY


def builtin_module_names() -> list[str]:
    """Modules this kernel has built in, as far as /sys and probes tell."""
    names = {
        entry.name
        for entry in Path("/sys/module").iterdir()
        if not (entry / "initstate").exists()  # loadable modules have initstate
    }
    names.update(name for name, probe in BUILTIN_PROBES.items() if probe.exists())
    if "overlay" in Path("/proc/filesystems").read_text():
        names.add("overlay")
    names.update(ALWAYS_BUILTIN_WHEN_NO_TREE)
    return sorted(names)


def ensure_module_tree() -> Path | None:
    """/lib/modules/<kernel> listing the built-in modules, when the machine has no tree at all."""
    tree = Path("/lib/modules") / platform.release()
    if tree.exists() and not (tree / MODULES_MARK).exists():
        return None  # a real tree: leave it to the kernel's packages
    if (tree / "modules.builtin.bin").exists():
        return tree
    tree.mkdir(parents=True, exist_ok=True)
    (tree / MODULES_MARK).write_text("made by labctl's test bed; safe to delete\n")
    (tree / "modules.builtin").write_text(
        "".join(f"kernel/builtin/{name}.ko\n" for name in builtin_module_names())
    )
    (tree / "modules.order").write_text("")
    sh(["depmod", platform.release()])
    return tree


# ---------------------------------------------------------------- box


def build_box(*, rebuild: bool = False) -> dict[str, object]:
    """The Debian bookworm box, added to Vagrant; returns what was cached and how long it took."""
    start = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    built = lxcbox.build_box("debian", "bookworm", None, BOX_NAME, WORK, rebuild=rebuild)
    return {
        "seconds": round(time.monotonic() - start, 1),
        "rootfs_from_cache": built.rootfs_from_cache,
        "box_from_cache": built.box_from_cache,
        "box_file": str(built.box_file),
    }


# ---------------------------------------------------------------- plain hosts


def base_rootfs() -> Path:
    """The cached debootstrap rootfs, unpacked once and shaped for plain hosts."""
    recipe = lxcbox.BoxRecipe("debian", "bookworm", lxcbox.DEFAULT_MIRRORS["debian"], BOX_NAME)
    WORK.mkdir(parents=True, exist_ok=True)
    tarball, _ = lxcbox.ensure_rootfs_tarball(recipe, lxcbox.default_cache_dir(), WORK)
    key_pub = ensure_key().with_suffix(".pub").read_text()
    stamp = f"{tarball.name}\n{key_pub}"
    ready = BASE / "ready"
    if ready.exists() and ready.read_text() == stamp:
        return BASE / "rootfs"
    if BASE.exists():
        shutil.rmtree(BASE)
    rootfs = lxcbox.extract_rootfs(tarball, BASE)
    lxcbox.remove_globs(rootfs, lxcbox.rootfs_removals())
    for argv in lxcbox.chroot_commands():
        sh(["chroot", str(rootfs), *argv])
    resolv = lxcbox.resolv_conf_for_machines(Path("/etc/resolv.conf").read_text())
    files = [f for f in lxcbox.rootfs_files(resolv) if not f.path.endswith("authorized_keys")]
    files += [
        lxcbox.RootfsFile("root/.ssh/authorized_keys", key_pub, mode=0o600),
        lxcbox.RootfsFile(
            f"home/{lxcbox.VAGRANT_USER}/.ssh/authorized_keys",
            key_pub,
            mode=0o600,
            uid=lxcbox.VAGRANT_UID,
            gid=lxcbox.VAGRANT_UID,
        ),
    ]
    lxcbox.write_rootfs_files(rootfs, files, lxcbox.rootfs_links())
    (rootfs / "root/.ssh").chmod(0o700)
    ready.write_text(stamp)
    return rootfs


def host_config(name: str, ip: str, net: lxcnet.LabNetwork) -> str:
    rootfs = LXCPATH / name / "rootfs"
    return (
        f"lxc.uts.name = {name}\n"
        f"lxc.rootfs.path = dir:{rootfs}\n"
        "lxc.net.0.type = veth\n"
        f"lxc.net.0.link = {net.bridge}\n"
        "lxc.net.0.name = eth1\n"
        "lxc.net.0.flags = up\n"
        f"lxc.net.0.ipv4.address = {ip}/{net.network.prefixlen}\n"
        f"lxc.net.0.ipv4.gateway = {net.gateway}\n" + lxcbox.lxc_config_text()
    )


def host_names(count: int) -> list[str]:
    return [f"{HOST_PREFIX}{i}" for i in range(1, count + 1)]


def destroy_host(name: str) -> None:
    if not (LXCPATH / name).exists():
        return
    subprocess.run(
        ["lxc-stop", "-P", str(LXCPATH), "-n", name, "-k"], capture_output=True, check=False
    )
    proc = subprocess.run(
        ["lxc-destroy", "-P", str(LXCPATH), "-n", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 and (LXCPATH / name).exists():
        shutil.rmtree(LXCPATH / name)


def create_host(name: str, ip: str, net: lxcnet.LabNetwork, base: Path) -> Host:
    destroy_host(name)  # a leftover of a crashed run
    home = LXCPATH / name
    home.mkdir(parents=True)
    sh(["cp", "-a", "--reflink=auto", str(base), str(home / "rootfs")])
    rootfs = home / "rootfs"
    (rootfs / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (rootfs / "etc/hostname").write_text(name + "\n")
    with (rootfs / "etc/hosts").open("a") as hosts:
        hosts.write(f"127.0.1.1\t{name}\n")
    (home / "config").write_text(host_config(name, ip, net))
    sh(["lxc-start", "-P", str(LXCPATH), "-n", name, "-d"])
    return Host(name, ip, lxcbox.VAGRANT_USER, KEY)


def wait_for_ssh(host: Host, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.ip, 22), timeout=2):
                pass
            proc = subprocess.run(
                host.ssh_argv("true"), capture_output=True, text=True, check=False, timeout=15
            )
            if proc.returncode == 0:
                return
            last = proc.stderr
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{host.name} ({host.ip}) not reachable by SSH in {timeout}s: {last}")


def hosts_up(count: int, *, keep: int = 0) -> list[Host]:
    """Hosts 1..count running and reachable by SSH.

    The first `keep` are taken as they are (already made this session); the others are
    (re)made, replacing leftovers of earlier runs.
    """
    ensure_module_tree()
    net = lxcnet.ensure_lab_network(HOSTS_LAB, HOSTS_CIDR)
    base = base_rootfs()
    hosts = []
    for i, name in enumerate(host_names(count)):
        ip = str(net.network.network_address + FIRST_HOST_OFFSET + i)
        if i < keep:
            hosts.append(Host(name, ip, lxcbox.VAGRANT_USER, KEY))
        else:
            hosts.append(create_host(name, ip, net, base))
    for host in hosts[keep:]:
        wait_for_ssh(host)
    return hosts


def remove_stale_lab_containers() -> list[str]:
    """Destroy the vagrant-lxc containers (in /var/lib/lxc) an earlier, killed session left.

    Each test builds its lab in a directory of its own, so a container a killed session left
    belongs to another directory, which `labctl up` rightly refuses to remove; the test bed owns
    this host's vagrant-lxc containers and clears them before the first lab boots."""
    from labctl.providers.lxc.containers import LXC_PATH

    removed = []
    for config in sorted(LXC_PATH.glob("*/config")) if LXC_PATH.is_dir() else []:
        text = config.read_text(errors="replace")
        if "# VAGRANT-BEGIN" in text or "LABCTL_LAB=" in text:
            name = config.parent.name
            subprocess.run(["lxc-destroy", "--force", "--name", name], capture_output=True,
                           check=False, timeout=120)  # fmt: skip
            removed.append(name)
    return removed


CUT_OFF_TAG = "labctl-testbed-cut-off"


@contextlib.contextmanager
def cut_off(cidr: str) -> Iterator[None]:
    """Machines of `cidr` reach nothing beyond it, as at a venue without internet: their
    forwarded traffic is dropped (mangle FORWARD runs before the filter rules a lab network
    inserts, so those cannot let it through), while the host itself, SSH and the controller's
    traffic to them are untouched. Removed afterwards, even when the test fails."""
    rule = ["FORWARD", "-s", cidr, "!", "-d", cidr,
            "-m", "comment", "--comment", CUT_OFF_TAG, "-j", "DROP"]  # fmt: skip
    sh(["iptables", "-w", "-t", "mangle", "-I", *rule])
    try:
        yield
    finally:
        sh(["iptables", "-w", "-t", "mangle", "-D", *rule])


def hosts_down() -> None:
    """Remove every test bed host and the hosts' network; the caches stay."""
    if LXCPATH.exists():
        for entry in sorted(LXCPATH.iterdir()):
            if entry.name.startswith(HOST_PREFIX):
                destroy_host(entry.name)
    lxcnet.remove_lab_network(HOSTS_LAB)


def status() -> dict[str, object]:
    containers = sorted(p.name for p in LXCPATH.iterdir()) if LXCPATH.exists() else []
    bridge, rules = lxcnet.lab_network_present(HOSTS_LAB)
    return {"hosts": containers, "bridge": bridge, "nat_rules": rules}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "up":
        count = int(argv[1]) if len(argv) > 1 else 3
        start = time.monotonic()
        hosts = hosts_up(count)
        print(json.dumps([asdict(h) | {"key_path": str(h.key_path)} for h in hosts], indent=2))  # noqa: T201
        print(f"{count} hosts in {time.monotonic() - start:.1f}s")  # noqa: T201
    elif command == "down":
        hosts_down()
    elif command == "box":
        print(json.dumps(build_box(rebuild="--rebuild" in argv), indent=2))  # noqa: T201
    elif command == "modules":
        print(ensure_module_tree())  # noqa: T201
    else:
        print(json.dumps(status(), indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
