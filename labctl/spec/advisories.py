"""Warnings about a valid spec: things that work but that a user should know (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.errors import SpecProblem

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labctl.spec.loader import LoadedLab


def advisories(
    loaded: LoadedLab,
    host_free_mib: int | None,
    provider_warnings: Iterable[tuple[tuple[str | int, ...], str]] = (),
) -> list[SpecProblem]:
    """Warnings for validate/up: even server counts, the provider's own (its Provider.
    spec_warnings: VirtualBox's host-only range), RAM beyond what's free."""
    lab, where = loaded.lab, loaded.positions

    def at(loc: tuple[str | int, ...], message: str) -> SpecProblem:
        line, column = where.of_value(loc) or (None, None)
        path = ".".join(str(p) for p in loc)
        return SpecProblem(loaded.source, line, column, path, message)

    found: list[SpecProblem] = []
    servers = lab.servers.count
    if servers % 2 == 0:
        found.append(
            at(
                ("servers", "count"),
                f"{servers} servers tolerate no more failures than {servers - 1}: etcd needs a "
                f"majority for quorum; use {servers - 1} or {servers + 1}",
            )
        )
    found += [at(loc, message) for loc, message in provider_warnings]
    total = (
        lab.servers.count * lab.servers.memory
        + lab.agents.count * lab.agents.memory
        + (lab.addons.gitlab.memory if lab.addons.gitlab.enabled else 0)
    )
    if host_free_mib is not None and total > host_free_mib:
        found.append(
            at(
                (),
                f"the lab needs {total} MiB of RAM but this host has {host_free_mib} MiB free; "
                "fewer agents or smaller machines will avoid swapping",
            )
        )
    return found
