"""The `labctl` program: `labctl --help` from the command table alone, all else through typer.

typer takes ~100 ms to import, two thirds of a `labctl --help`, and the root page needs none of
it (labctl.cli.commands lays it out as click would). Anything else, `labctl -v --help` and a bare
`labctl` included, goes to labctl.cli.app, the one place errors are caught.
"""

from __future__ import annotations

import sys

ROOT_HELP_ARGS = (["--help"], ["-h"])


def main() -> None:
    """Run labctl with the process's arguments (and exit; typing.NoReturn would cost an import of
    typing, ~5 ms)."""
    if sys.argv[1:] in ROOT_HELP_ARGS:
        from labctl.cli.commands import root_help  # noqa: PLC0415 - only this page needs it

        sys.stdout.write(root_help())
        sys.stdout.flush()
        sys.exit(0)
    from labctl.cli.app import main as run  # noqa: PLC0415 - typer, for everything else

    run()
