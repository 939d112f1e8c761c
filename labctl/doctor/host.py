"""Facts about the machine labctl runs on (an edge: reads /proc, asks sysctl, vm_stat or the
Windows API; kept out of the pure core). Parsers are pure functions beside their probes."""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def free_memory_mib(meminfo: Path = Path("/proc/meminfo"), system: str | None = None) -> int | None:
    """Memory available for new VMs in MiB, or None where the host will not say.

    Linux: MemAvailable. macOS: free + inactive + speculative pages from `vm_stat`, at most
    `hw.memsize` (the pages the kernel hands out without swapping). Windows: ullAvailPhys of
    GlobalMemoryStatusEx.
    """
    system = system or platform.system()
    if system == "Darwin":
        return parse_vm_stat(_ask(["vm_stat"]), parse_int(_ask(["sysctl", "-n", "hw.memsize"])))
    if system == "Windows":
        return windows_available_mib()
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return None


def parse_vm_stat(text: str | None, memsize: int | None) -> int | None:
    """`vm_stat` (and `sysctl -n hw.memsize` in bytes) -> MiB available, or None (pure)."""
    if not text:
        return None
    size = re.search(r"page size of (\d+) bytes", text)
    pages = {
        m[1].lower(): int(m[2]) for m in re.finditer(r"^Pages ([\w ]+?):\s+(\d+)\.", text, re.M)
    }
    if size is None or "free" not in pages:
        return None
    available = sum(pages.get(kind, 0) for kind in ("free", "inactive", "speculative"))
    available *= int(size[1])
    if memsize:
        available = min(available, memsize)
    return available // MIB


def parse_int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def windows_available_mib(kernel32: Any = None) -> int | None:
    """ullAvailPhys from GlobalMemoryStatusEx, in MiB; None when the call fails."""
    import ctypes  # noqa: PLC0415 - Windows only

    class MemoryStatusEx(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]  # fmt: skip

    if kernel32 is None:
        windll = getattr(ctypes, "windll", None)
        if windll is None:
            return None
        kernel32 = windll.kernel32
    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    if not kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullAvailPhys) // MIB


def host_arch(system: str | None = None, machine: str | None = None) -> str:
    """The host's real architecture: an x86_64 Python under Rosetta 2 on Apple Silicon reports
    x86_64, yet VirtualBox there (7.1+) runs only arm64 guests, so ask the kernel whether this
    process is translated (`sysctl.proc_translated` is 1 under Rosetta)."""
    system, machine = system or platform.system(), machine or platform.machine()
    translated = (
        system == "Darwin"
        and machine == "x86_64"
        and parse_int(_ask(["sysctl", "-n", "sysctl.proc_translated"])) == 1
    )
    if translated:
        return "arm64"
    return machine


def _ask(argv: list[str]) -> str | None:
    """A quick host query's stdout, or None when it cannot answer."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=5, check=False,
                              encoding="utf-8", errors="replace")  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None
