"""Reading back the JSON files labctl wrote: state.json, snapshots.json, ssh.json, manifests.

Such a file can still be damaged: a disk filled mid-write by something else, a hand edit, a
copy from another version. Whatever is in it, reading it ends in the caller's LabctlError naming
the file, what is wrong and the way out, never a traceback; the caller gives the error (its
class, wording and hint), this module gives the reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from labctl.messages import cut, quoted

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labctl.errors import LabctlError

T = TypeVar("T")

MAX_RECORD_BYTES = 8 << 20  # labctl's own records are kilobytes; a bundle manifest tens of them
MAX_NUMBER_CHARS = 40  # no record holds a bigger number; int() of 5000 digits is an error
REASON_LIMIT = 120

# What a parser of a record raises on a value of the wrong shape (a list for a mapping, a
# missing key, text for a number, a nesting deeper than the interpreter's stack).
SHAPE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


def _number(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"it holds a number {len(text)} digits long")
    return int(text)


def json_value(text: str) -> Any:
    """`json.loads`, with every way it can fail a ValueError whose text is a readable reason."""
    try:
        return json.loads(text, parse_int=_number)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("nested too deep to be a labctl file") from None


def reason(exc: BaseException) -> str:
    """Why a record could not be used, in words and cut short."""
    if isinstance(exc, KeyError) and exc.args:
        return f"{quoted(exc.args[0])} is missing"
    if isinstance(exc, RecursionError):
        return "nested too deep to be a labctl file"
    if isinstance(exc, (TypeError, AttributeError, IndexError)):  # Python's words, so say more
        return f"a field has the wrong type: {cut(str(exc), REASON_LIMIT // 2)}"
    return cut(str(exc) or type(exc).__name__, REASON_LIMIT)


def read_json(
    path: Path, parse: Callable[[str], T], damaged: Callable[[str], LabctlError]
) -> T | None:
    """`parse(text of path)`, or None when there is no such file.

    Any other way the file is unusable (unreadable, too big, not UTF-8, not JSON, not a JSON
    object, not the shape `parse` expects) raises `damaged(reason)`.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise damaged(f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_RECORD_BYTES:
        raise damaged(f"is larger than {MAX_RECORD_BYTES >> 20} MiB, far more than labctl writes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise damaged(f"not UTF-8 text (byte {raw[exc.start]:#04x} on line {line})") from None
    try:
        top = json_value(text)
    except ValueError as exc:
        raise damaged(str(exc)) from None
    if not isinstance(top, dict):
        kind = {list: "a list", str: "text", type(None): "null"}.get(type(top), "a number")
        raise damaged(f"its top level is {kind}, not a JSON object")
    try:
        return parse(text)
    except SHAPE_ERRORS as exc:
        raise damaged(reason(exc)) from None
