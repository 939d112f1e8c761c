"""Finding providers: one registry, fed by the `labctl.providers` entry points.

labctl's own providers are registered in its pyproject.toml exactly as a third party's would be
in theirs, so there is one way in. `get` loads only the provider asked for, by its entry point:
this module imports no provider, so any room of labctl may ask it without depending on one.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from labctl.errors import UsageError

if TYPE_CHECKING:
    from labctl.plan import Plan
    from labctl.providers.base import Provider
    from labctl.spec.model import Lab

BASE = "labctl.providers.base.Provider"


@cache
def names() -> tuple[str, ...]:
    """Every registered provider's name, labctl's own first in their documented order."""
    from labctl.spec.model import provider_names  # noqa: PLC0415

    return provider_names()


@cache
def get(name: str) -> Provider:
    """The provider called NAME; a SpecError naming the known ones when there is none."""
    from labctl.spec.model import provider_entry_points  # noqa: PLC0415

    found = [ep for ep in provider_entry_points() if ep.name == name]
    if not found:
        raise UsageError(
            f"no provider {name!r} is installed",
            f"use one of: {', '.join(names())}, or install the package that provides it",
        )
    cls = found[0].load()
    # Checked by name, not issubclass: importing the base here would make this module depend
    # on the providers package, which itself asks the registry (through doctor).
    bases = {f"{c.__module__}.{c.__qualname__}" for c in getattr(cls, "__mro__", ())}
    if BASE not in bases or getattr(cls, "name", None) != name:
        raise UsageError(
            f"the entry point for provider {name!r} ({found[0].value}) is not a labctl Provider "
            "of that name",
            "reinstall or remove the package that registers it",
        )
    provider: Provider = cls()
    return provider


def plan_lab(lab: Lab) -> Plan:
    """Lab -> Plan with the lab's provider: the one way the edges plan a lab."""
    from labctl.plan import make_plan  # noqa: PLC0415

    return make_plan(lab, get(lab.provider))
