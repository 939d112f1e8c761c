"""`labctl doctor`: can this host run this lab? Facts are gathered once, then judged purely.

`gather_facts` (gather.py) is the edge: it runs host tools and reads /proc and /sys. `judge`
(judges.py) is pure, with the provider adding its own rules, so every rule is unit-tested on
hand-built facts (facts.py). `preflight` is what `labctl up` runs first: it raises
PreflightFailedError naming every failing check not skipped with `--skip-preflight ID`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.doctor.facts import (
        DiskSpace,
        HostAddress,
        HostFacts,
        InstalledBox,
        Route,
        VagrantPlugin,
    )
    from labctl.doctor.findings import (
        Finding,
        Status,
    )
    from labctl.doctor.gather import (
        gather_facts,
    )
    from labctl.doctor.judges import (
        FINDING_IDS,
        MEMORY_HEADROOM,
        disk_needs_mib,
        judge,
    )
    from labctl.doctor.parse import (
        cgroup_facts,
        normalize_arch,
        parse_addresses,
        parse_box_list,
        parse_cpu_flags,
        parse_machine_folder,
        parse_networks_conf,
        parse_plugin_list,
        parse_routes,
        parse_vboxmanage_version,
        parse_version,
    )
    from labctl.doctor.verdict import (
        failing,
        preflight,
    )

# Loaded on first use (PEP 562), so a command that needs one helper (the spec's free-memory
# advisory) does not import the probes and every judge.
_HOME = {
    "DiskSpace": "facts",
    "FINDING_IDS": "judges",
    "Finding": "findings",
    "HostAddress": "facts",
    "HostFacts": "facts",
    "InstalledBox": "facts",
    "MEMORY_HEADROOM": "judges",
    "Route": "facts",
    "Status": "findings",
    "VagrantPlugin": "facts",
    "cgroup_facts": "parse",
    "disk_needs_mib": "judges",
    "failing": "verdict",
    "gather_facts": "gather",
    "judge": "judges",
    "normalize_arch": "parse",
    "parse_addresses": "parse",
    "parse_box_list": "parse",
    "parse_cpu_flags": "parse",
    "parse_machine_folder": "parse",
    "parse_networks_conf": "parse",
    "parse_plugin_list": "parse",
    "parse_routes": "parse",
    "parse_vboxmanage_version": "parse",
    "parse_version": "parse",
    "preflight": "verdict",
}

__all__ = [
    "FINDING_IDS",
    "MEMORY_HEADROOM",
    "DiskSpace",
    "Finding",
    "HostAddress",
    "HostFacts",
    "InstalledBox",
    "Route",
    "Status",
    "VagrantPlugin",
    "cgroup_facts",
    "disk_needs_mib",
    "failing",
    "gather_facts",
    "judge",
    "normalize_arch",
    "parse_addresses",
    "parse_box_list",
    "parse_cpu_flags",
    "parse_machine_folder",
    "parse_networks_conf",
    "parse_plugin_list",
    "parse_routes",
    "parse_vboxmanage_version",
    "parse_version",
    "preflight",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
