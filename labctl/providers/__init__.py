"""The providers: one per kind of machine, behind `labctl.providers.base.Provider`, found through
`labctl.registry` (the `labctl.providers` entry points)."""
