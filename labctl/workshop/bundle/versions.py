"""Versions and boxes (pure): Debian-style version order, Vagrant's constraints, and which box
version of a registry's metadata or of the local box store a lab takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labctl.errors import BundleError
from labctl.messages import quoted

if TYPE_CHECKING:
    from collections.abc import Mapping


def _segments(version: str) -> list[int | str]:
    return [int(s) if s.isdigit() else s for s in re.findall(r"\d+|[A-Za-z]+", version)]


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1, ordering like Gem::Version: numbers numerically, letters mark a prerelease."""
    a, b = _segments(left), _segments(right)
    for index in range(max(len(a), len(b))):
        x = a[index] if index < len(a) else 0
        y = b[index] if index < len(b) else 0
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, str) and isinstance(y, str):
            return -1 if x < y else 1
        return -1 if isinstance(x, str) else 1  # a letter segment is a prerelease: it sorts first
    return 0


_REQUIREMENT_RE = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*(\d[0-9A-Za-z.]*)\s*$")


def satisfies(version: str, constraint: str | None) -> bool:
    """Whether `version` meets a Vagrant box_version constraint (`>= 1.0, < 2.0`, `~> 2.1`)."""
    if not constraint or not constraint.strip():
        return True
    for part in constraint.split(","):
        match = _REQUIREMENT_RE.match(part)
        if not match:
            raise BundleError(
                f"box_version {quoted(constraint)}: {quoted(part.strip())} "
                "is not a version constraint",
                "write it as Vagrant does, e.g. '>= 202502.21.0' or '~> 202502.21'",
            )
        op, wanted = match.group(1) or "=", match.group(2)
        order = compare_versions(version, wanted)
        if op == "~>":
            parts = wanted.split(".")
            upper = parts[:-1] or parts
            upper = [*upper[:-1], str(int(upper[-1]) + 1)] if upper[-1].isdigit() else upper
            ok = order >= 0 and compare_versions(version, ".".join(upper)) < 0
        else:
            ok = {
                "=": order == 0,
                "!=": order != 0,
                ">": order > 0,
                "<": order < 0,
                ">=": order >= 0,
                "<=": order <= 0,
            }[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class BoxDownload:
    """The box file Vagrant's metadata names for a version and provider."""

    version: str
    url: str
    checksum: str | None
    checksum_type: str | None


def choose_box(
    metadata: Mapping[str, Any], provider: str, constraint: str | None, arch: str
) -> BoxDownload:
    """The newest version meeting `constraint` with a `provider` box for `arch` (Vagrant's pick)."""
    versions = sorted(
        (v for v in metadata.get("versions", []) if isinstance(v, dict) and "version" in v),
        key=lambda v: _SortKey(str(v["version"])),
        reverse=True,
    )
    for version in versions:
        if not satisfies(str(version["version"]), constraint):
            continue
        candidates = [p for p in version.get("providers", []) if p.get("name") == provider]
        exact = [p for p in candidates if p.get("architecture") == arch]
        default = [p for p in candidates if p.get("default_architecture")]
        plain = [p for p in candidates if not p.get("architecture")]
        for chosen in (exact or default or plain)[:1]:
            return BoxDownload(
                str(version["version"]),
                str(chosen["url"]),
                chosen.get("checksum") or None,
                chosen.get("checksum_type") or None,
            )
    wanted = f" matching {quoted(constraint)}" if constraint else ""
    raise BundleError(
        f"box {metadata.get('name', '?')} has no {provider} version{wanted}",
        "check box and box_version in lab.yaml against the box's page on Vagrant Cloud",
    )


@dataclass(frozen=True)
class _SortKey:
    version: str

    def __lt__(self, other: _SortKey) -> bool:
        return compare_versions(self.version, other.version) < 0


def parse_box_list(text: str) -> list[tuple[str, str, str]]:
    """`vagrant box list --machine-readable` as (name, provider, version) triples."""
    boxes: list[tuple[str, str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(",", 3)
        if len(parts) < 4:
            continue
        key, value = parts[2], parts[3].strip()
        if key == "box-name":
            current = {"name": value}
        elif key in {"box-provider", "box-version"} and current:
            current[key.removeprefix("box-")] = value
            if {"provider", "version"} <= current.keys():
                boxes.append((current["name"], current["provider"], current["version"]))
                current = {"name": current["name"]}
    return boxes


def newest_local(
    boxes: list[tuple[str, str, str]], box: str, provider: str, constraint: str | None
) -> str | None:
    """The newest version of `box` for `provider` in the local store that meets `constraint`."""
    found = [v for n, p, v in boxes if n == box and p == provider and satisfies(v, constraint)]
    return max(found, key=_SortKey) if found else None
