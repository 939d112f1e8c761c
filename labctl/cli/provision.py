"""`labctl provision`: run the Ansible phases again on the machines as they are."""

from __future__ import annotations

from labctl.cli.common import Format, FormatOption, OfflineOption, SpecArg, resolve, run_phases


def provision(
    file: SpecArg = None, output: FormatOption = Format.TEXT, offline: OfflineOption = None
) -> None:
    """Re-run Ansible on the running machines.

    Runs the phases prepare through addons again; boots nothing.
    """
    resolved = resolve(file)
    run_phases(
        resolved, output, command="provision", start="prepare", until="addons", offline=offline
    )
