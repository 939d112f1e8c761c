"""Printing for people and for machines: rich on a terminal, plain lines elsewhere.

NO_COLOR is honoured (rich reads it). Errors and warnings go to stderr, results to stdout.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console


@dataclass
class Output:
    """Where and how the CLI prints; one per process, set up by the app callback."""

    verbosity: int = 0
    quiet: bool = False
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty()

    def _console(self, *, stderr: bool) -> Console:
        from rich.console import Console  # noqa: PLC0415 - keeps `labctl --help` fast

        if stderr:
            if self._err is None:
                self._err = Console(stderr=True, highlight=False, soft_wrap=True)
            return self._err
        if self._out is None:
            self._out = Console(highlight=False)
        return self._out

    def line(self, text: str = "", *, style: str | None = None) -> None:
        """A line of normal output (suppressed by -q)."""
        if self.quiet:
            return
        if self.tty:
            self._console(stderr=False).print(text, style=style, markup=False)
        else:
            sys.stdout.write(text + "\n")

    def data(self, text: str) -> None:
        """Output that is the command's result (JSON, schema, a path): never styled or dropped."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def json(self, value: Any) -> None:
        self.data(json.dumps(value, indent=2, sort_keys=False))

    def note(self, text: str) -> None:
        """A remark about how the command runs (which spec, which provider), not its result:
        to stderr, so stdout stays only results (and pure JSON with -o json); kept by -q."""
        if not self.quiet:
            self._stderr("note: ", text, "dim")

    def warn(self, text: str) -> None:
        self._stderr("warning: ", text, "yellow")

    def error(self, text: str) -> None:
        self._stderr("error: ", text, "bold red")

    def hint(self, text: str) -> None:
        self._stderr("hint: ", text, "cyan")

    def _stderr(self, prefix: str, text: str, style: str) -> None:
        if sys.stderr.isatty():
            console = self._console(stderr=True)
            console.print(prefix, style=style, end="", markup=False)
            console.print(text, markup=False)
        else:
            sys.stderr.write(prefix + text + "\n")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A rich table on a terminal; off a terminal, aligned plain columns under a title line."""
        if self.quiet:
            return
        if self.tty:
            from rich.table import Table  # noqa: PLC0415 - keeps `labctl --help` fast

            table = Table(title=title, title_justify="left")
            for column in columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*row)
            self._console(stderr=False).print(table)
            return
        widths = [max(len(str(c)) for c in col) for col in zip(columns, *rows, strict=False)]
        sys.stdout.write(title + "\n")
        for row in (columns, *rows):
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
            sys.stdout.write("  " + "  ".join(cells).rstrip() + "\n")


OUT = Output()
