"""What error messages show of the user's input: quoted values cut short, long lists capped.

A message quotes what it refuses so the user can find it, but a 3 MB scalar quoted whole is
3 MB of terminal output for one line; so every message that quotes a user's value does it
through `quoted`, and every list of problems printed for one file goes through `capped`.
"""

from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

QUOTE_LIMIT = 60  # characters of a value shown; enough to recognise it, short enough to read
LINE_LIMIT = 20  # problems printed for one file before "and N more"

# reprlib stops early in big lists and mappings, so showing one costs what is shown, not its size
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = QUOTE_LIMIT


def cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text`, or its start and how much was left out when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` for a message, cut to `limit` characters of the value.

    Long text is cut before repr so no megabyte string is copied only to be dropped; any other
    value's repr is cut after.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value) - limit} more characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        # str() of a huge int is slow and, past 4300 digits, an error of its own
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        return cut(_SHORT.repr(value), limit)
    except ValueError:  # a huge int inside a list or mapping
        return f"a {type(value).__name__} too large to show"


def capped(lines: Sequence[str], limit: int = LINE_LIMIT, noun: str = "problems") -> list[str]:
    """The first `limit` lines, then one that says how many were left out."""
    if len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], f"and {len(lines) - limit} more {noun}"]
