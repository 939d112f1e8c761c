#!/usr/bin/env python3
"""Take away what K3s leaves on a machine once its unit is stopped (labctl's uninstall role).

    k3s_leftovers.py processes DATA_DIR   kill what runs from K3s's data dir (containerd, its
                                          shims) and every process under them (the pods)
    k3s_leftovers.py links                delete the cni-* network namespaces (and /run/netns
                                          once empty), the veths on cni0, and cni0, flannel.1,
                                          flannel-v6.1, flannel-wg, flannel-wg-v6, kube-ipvs0
    k3s_leftovers.py mounts DATA_DIR      unmount what is mounted under /run/k3s, the kubelet's
                                          directory and K3s's data dir, deepest first
    k3s_leftovers.py netfilter            delete, from every iptables and ip6tables table, the
                                          KUBE-*, CNI-* and FLANNEL* chains and every rule that
                                          names them or flannel; no other rule is touched

The names are K3s's own: its install.sh writes k3s-killall.sh, which takes away the same things
(it restores the whole ruleset through iptables-restore instead; deleting rule by rule leaves the
machine's other rules, and their counters, alone). Each command prints one line per thing it
took away, nothing when there was nothing, and exits 1 saying what to do when it could not.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

INTERFACES = ("cni0", "flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6", "kube-ipvs0")
KUBELET_DIR = "/var/lib/kubelet"
RUN_DIR = "/run/k3s"
NETNS_DIR = Path("/run/netns")
# K3s's chains, and the rules elsewhere that jump to them or carry flannel's comments.
K3S_CHAIN = re.compile(r"^(KUBE-|CNI-|FLANNEL)", re.IGNORECASE)
K3S_RULE = re.compile(r"KUBE-|CNI-|flannel", re.IGNORECASE)


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def processes(data_dir: str) -> list[str]:
    parents: dict[int, int] = {}
    roots: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            exe = str((entry / "exe").readlink())
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if under(exe, f"{data_dir}/data"):
            roots.append(pid)
    doomed = set(roots)
    grown = True
    while grown:
        children = {pid for pid, ppid in parents.items() if ppid in doomed} - doomed
        doomed |= children
        grown = bool(children)
    done = []
    for pid in sorted(doomed):
        try:
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed process {pid}")
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in doomed):
        time.sleep(0.2)
    return done


def links() -> list[str]:
    done = []
    if shutil.which("ip") is None:
        return done
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("cni-"):
            delete(["ip", "netns", "delete", name])
            done.append(f"deleted network namespace {name}")
    if NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        # iproute2 and the CNI plugins make it on demand, bind-mounted onto itself.
        while mounted(str(NETNS_DIR)):
            delete(["umount", str(NETNS_DIR)])
        NETNS_DIR.rmdir()
        done.append(f"removed the empty {NETNS_DIR}")
    net = Path("/sys/class/net")
    on_bridge = [
        link.name
        for link in net.iterdir()
        if (link / "master").is_symlink() and (link / "master").readlink().name == "cni0"
    ]
    for name in [*on_bridge, *INTERFACES]:
        if (net / name).exists():
            delete(["ip", "link", "delete", name])
            done.append(f"deleted interface {name}")
    return done


def mount_points() -> list[str]:
    return [
        re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[1])  # \040: a space
        for line in Path("/proc/self/mounts").read_text().splitlines()
    ]


def mounted(path: str) -> bool:
    return path in mount_points()


def mounts(data_dir: str) -> list[str]:
    done = []
    for _ in range(10):  # a mount point can be stacked: unmount until none is left
        points = [
            point
            for point in mount_points()
            if any(under(point, top) for top in (RUN_DIR, KUBELET_DIR, data_dir))
        ]
        if not points:
            return done
        for point in sorted(set(points), reverse=True):
            if run(["umount", point]).returncode != 0:
                delete(["umount", "--lazy", point])
            done.append(f"unmounted {point}")
    fail(
        "mount points under /run/k3s, /var/lib/kubelet or the K3s data dir stay mounted: find "
        "what holds them with `findmnt` and `fuser -m`, stop it, and run destroy again"
    )
    return done


def netfilter() -> list[str]:
    done = []
    for tool in ("iptables", "ip6tables"):
        if shutil.which(f"{tool}-save") is None or shutil.which(tool) is None:
            continue
        saved = run([f"{tool}-save"])
        if saved.returncode != 0:
            continue  # no such tables in this kernel: nothing of K3s's can be there
        table = ""
        chains: dict[str, list[str]] = {}
        rules: list[tuple[str, list[str]]] = []
        for line in saved.stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and K3S_CHAIN.match(line[1:]):
                chains.setdefault(table, []).append(line[1:].split()[0])
            elif line.startswith("-A "):
                words = shlex.split(line)
                if not K3S_CHAIN.match(words[1]) and K3S_RULE.search(line):
                    rules.append((table, words[1:]))
        for table, spec in rules:
            delete([tool, "-w", "-t", table, "-D", *spec])
            done.append(f"{tool} -t {table}: deleted rule {shlex.join(spec)}")
        for table, names in chains.items():
            for name in names:
                delete([tool, "-w", "-t", table, "-F", name])
            for name in names:
                delete([tool, "-w", "-t", table, "-X", name])
                done.append(f"{tool} -t {table}: deleted chain {name}")
    return done


def delete(argv: list[str]) -> None:
    proc = run(argv)
    if proc.returncode != 0:
        fail(f"`{shlex.join(argv)}` failed: {proc.stderr.strip()}. Run it by hand to see why, "
             "then run destroy again")  # fmt: skip


def fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(1)


def main(argv: list[str]) -> int:
    commands = {
        "processes": lambda: processes(argv[1]),
        "links": links,
        "mounts": lambda: mounts(argv[1]),
        "netfilter": netfilter,
    }
    if not argv or argv[0] not in commands:
        fail(f"usage: k3s_leftovers.py {'|'.join(commands)} [DATA_DIR]")
    for line in commands[argv[0]]():
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
