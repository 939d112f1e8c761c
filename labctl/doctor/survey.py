"""Which providers can work on this host: for `provider: auto`, and for the alternatives a failed
preflight suggests. Only a provider whose own rules pass here is ready; one that could work
after an install is offered with the one command that gets it there; the rest are not named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl import registry
from labctl.doctor.judges import judge
from labctl.spec.model import AUTO_PROVIDER

if TYPE_CHECKING:
    from labctl.doctor.facts import HostFacts
    from labctl.spec.model import Lab

# Findings about the host as a whole: they fail whatever the provider, so they do not make one
# provider a better choice than another.
HOST_WIDE = frozenset({"memory", "disk", "network"})


@dataclass(frozen=True)
class ProviderOption:
    """A provider that can work on this host: ready now, or after `setup`."""

    name: str
    label: str
    ready: bool
    setup: str  # what gets it there ("" when ready)


def survey(lab: Lab, facts: HostFacts) -> list[ProviderOption]:
    """Every registered provider that can work here, in registry order (pure)."""
    options = []
    for name in registry.names():
        provider = registry.get(name)
        setup = provider.setup_on(facts)
        if setup is None:
            continue
        plan = registry.plan_lab(lab.model_copy(update={"provider": name}))
        failing = [f for f in judge(plan, facts) if f.status == "fail" and f.id not in HOST_WIDE]
        if not failing:
            options.append(ProviderOption(name, provider.label, ready=True, setup=""))
            continue
        fixes = setup or "; ".join(f.fix for f in failing if f.fix)
        options.append(ProviderOption(name, provider.label, ready=False, setup=fixes))
    return options


@dataclass(frozen=True)
class AutoChoice:
    """What `provider: auto` became, and the line that says why."""

    provider: str
    reason: str


def choose(lab: Lab, facts: HostFacts) -> AutoChoice:
    """The first provider ready on this host; else the first that could work, with its setup;
    else labctl's default (preflight then says what is missing)."""
    options = survey(lab, facts)
    ready = [o for o in options if o.ready]
    if ready:
        passed = [o.name for o in options if not o.ready]
        skipped = f" ({', '.join(passed)} not ready)" if passed else ""
        return AutoChoice(
            ready[0].name, f"provider auto: {ready[0].name}, the first ready here{skipped}"
        )
    if options:
        first = options[0]
        return AutoChoice(
            first.name,
            f"provider auto: no provider is ready on this host; {first.name} can work here "
            f"after: {first.setup}",
        )
    default = registry.names()[0]
    return AutoChoice(
        default,
        f"provider auto: no provider can work on this host as it is; using {default}, whose "
        "preflight says what is missing",
    )


def alternatives(lab: Lab, facts: HostFacts) -> list[str]:
    """For a failed preflight: the other providers that can work here, each with its setup."""
    return [
        f"`provider: {o.name}`" + ("" if o.ready else f" after {o.setup}")
        for o in survey(lab, facts)
        if o.name != lab.provider
    ]


def resolve_auto(lab: Lab) -> tuple[Lab, AutoChoice | None]:
    """The lab with `provider: auto` replaced by what `choose` finds on this host (probing it,
    every provider's probes included); other labs unchanged, without probing."""
    if lab.provider != AUTO_PROVIDER:
        return lab, None
    from labctl.doctor.gather import gather_facts  # noqa: PLC0415 - the edge, only for auto

    everyone = [registry.get(name) for name in registry.names()]
    first = registry.plan_lab(lab.model_copy(update={"provider": everyone[0].name}))
    choice = choose(lab, gather_facts(first, also=everyone))
    return lab.model_copy(update={"provider": choice.provider}), choice
