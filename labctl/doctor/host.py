"""Facts about the machine labctl runs on (an edge: reads /proc; kept out of the pure core)."""

from __future__ import annotations

from pathlib import Path


def free_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in MiB, or None where the kernel does not say (macOS, Windows)."""
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return None
