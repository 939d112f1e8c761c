"""A finding: one thing doctor judged about the host, and the judges' shared helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from labctl.doctor.parse import Version, dotted, parse_version

if TYPE_CHECKING:
    from labctl.doctor.facts import HostFacts, VagrantPlugin

Status = Literal["ok", "warn", "fail"]


# Vagrantfile.j2 says `Vagrant.require_version ">= 2.2.19"`.
MIN_VAGRANT: Version = (2, 2, 19)


@dataclass(frozen=True)
class Finding:
    """One verdict about the host: a stable id, ok/warn/fail, what was seen, and what to do."""

    id: str
    status: Status
    message: str
    fix: str = ""


def find_plugin(facts: HostFacts, name: str) -> VagrantPlugin | None:
    return next((p for p in facts.vagrant_plugins or () if p.name == name), None)


def plugin_finding(
    finding_id: str,
    facts: HostFacts,
    name: str,
    apt: str,
    minimum: Version | None,
) -> Finding | None:
    if facts.vagrant_path is None:
        return None
    if facts.vagrant_plugins is None:
        return Finding(
            finding_id,
            "warn",
            f"could not list Vagrant plugins to look for {name}: "
            + facts.probe_error("vagrant-plugins"),
            "run `vagrant plugin list`",
        )
    plugin = find_plugin(facts, name)
    install = f"`vagrant plugin install {name}` (Debian/Ubuntu: `{apt}`)"
    if plugin is None:
        return Finding(finding_id, "fail", f"the Vagrant plugin {name} is not installed", install)
    version = parse_version(plugin.version)
    if minimum is not None and version is not None and version < minimum:
        return Finding(
            finding_id,
            "fail",
            f"{name} {plugin.version} is older than the {dotted(minimum)} labctl needs",
            f"`vagrant plugin update {name}`",
        )
    return Finding(finding_id, "ok", f"{name} {plugin.version or '(version unknown)'}")


FIRMWARE_FIX = "turn on Intel VT-x / AMD-V (SVM) in the firmware setup"


def linux_only(provider: str, facts: HostFacts) -> Finding | None:
    """A fail finding when a Linux-only provider is asked for on another system."""
    if facts.system in {"Linux", ""}:
        return None
    return Finding(
        "provider",
        "fail",
        f"provider {provider} runs on Linux only; this host runs {facts.system}",
        "set `provider: virtualbox` in lab.yaml",
    )
