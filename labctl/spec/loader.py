"""Reading lab.yaml: YAML with positions, then the spec models, then one line per problem.

`parse_lab` is pure (text in, Lab or SpecError out); `load_lab` only adds reading the file.
Every problem names file:line:column, the field path, what is wrong and what to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from labctl.errors import SpecError, SpecProblem
from labctl.messages import cut, quoted
from labctl.spec import bounded as boundedyaml
from labctl.spec.model import AUTO_PROVIDER, Lab, cross_field_problems

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
Position = tuple[int, int]

SPEC_HINT = "fix the lines above; `labctl schema` prints every key with its type and default"
# A lab spec is a few KB (the init templates are under 2). Reading costs ~10 µs per value with
# libyaml, so the cap keeps the worst file near a quarter of a second (PyYAML without libyaml is
# ten times slower) while leaving 30 times the room a spec needs.
MAX_SPEC_CHARS = 64 << 10
SIZE_HINT = "pass the lab's spec file; `labctl init` writes a commented one"


def _too_large(size: int) -> str:
    return f"is {size >> 10} KiB; a lab spec is a few KB (at most {MAX_SPEC_CHARS >> 10} KiB)"


@dataclass
class Positions:
    """Where each field path sits in the file: its key, and its value (1-based line, column)."""

    keys: dict[Loc, Position] = field(default_factory=dict)
    values: dict[Loc, Position] = field(default_factory=dict)

    def of_value(self, loc: Loc) -> Position | None:
        """The value's position, or the closest enclosing one that the file has."""
        for end in range(len(loc), -1, -1):
            found = self.values.get(loc[:end])
            if found:
                return found
        return None

    def of_key(self, loc: Loc) -> Position | None:
        return self.keys.get(loc) or self.of_value(loc)


@dataclass(frozen=True)
class LoadedLab:
    """A validated lab, with where it came from and the positions of its fields."""

    lab: Lab
    source: str
    positions: Positions
    path: Path | None = None
    auto_provider: bool = False  # the spec said `provider: auto`; lab.provider is the choice


def _compose_with_positions(text: str) -> tuple[Any, Positions]:
    """Compose YAML into plain data within bounds, recording each path's position."""
    composed = boundedyaml.compose(text)
    return composed.data, Positions(composed.keys, composed.values)


def _path_text(loc: Loc) -> str:
    text = ""
    for part in loc:
        name = cut(str(part))  # a key is user text too: a 100 KB key is not echoed whole
        text += f"[{name}]" if isinstance(part, int) else (f".{name}" if text else name)
    return text


def _model_at(loc: Loc, root: type[BaseModel] = Lab) -> type[BaseModel] | None:
    """The spec model whose fields are allowed at `loc` (for "did you mean")."""
    model: type[BaseModel] = root
    for part in loc:
        info = model.model_fields.get(str(part))
        annotation = info.annotation if info else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _describe(  # noqa: PLR0911 - one return per kind, read as a table
    error: ErrorDetails, root: type[BaseModel] = Lab
) -> str:
    """One pydantic error as a sentence that says what is wrong and what to do."""
    kind, loc, value, ctx = error["type"], error["loc"], error.get("input"), error.get("ctx", {})
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1], root)
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        advice = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
        return f"unknown key {quoted(key)}; {advice}"
    if kind == "missing":
        return "is required; add it, e.g. `name: demo`" if loc == ("name",) else "is required"
    if kind == "value_error":
        return cut(str(ctx.get("error", error["msg"])), 300)  # validators quote values cut already
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in expected.replace(" or ", ", ").split(",") if c.strip()]
        close = difflib.get_close_matches(str(value), choices, n=1)
        advice = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(choices)}"
        return f"{quoted(value)} is not allowed here; {advice}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"expected a whole number, got {_type_name(value)} {quoted(value)}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"expected true or false, got {quoted(value)}"
    if kind in {"string_type"}:
        return f"expected text, got {_type_name(value)} {quoted(value)}; put it in quotes"
    if kind in {"list_type"}:
        return (
            f"expected a list, got {_type_name(value)}; write it as [a, b] or one '- item' a line"
        )
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"expected a mapping of keys, got {_type_name(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {quoted(value)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}, got {quoted(value)}"
    return f"{error['msg']} (got {quoted(value)})"


def _problem(
    filename: str, positions: Positions, loc: Loc, message: str, *, key: bool
) -> SpecProblem:
    pos = positions.of_key(loc) if key else positions.of_value(loc)
    line, column = pos if pos else (None, None)
    return SpecProblem(filename, line, column, _path_text(loc), message)


def parse_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """YAML text -> plain data and the position of every field, read within bounds (size,
    nesting, aliases, numbers, tags); SpecError with one located line otherwise."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError([SpecProblem(filename, None, None, "", _too_large(len(text)))], SIZE_HINT)
    try:
        return _compose_with_positions(text)
    except boundedyaml.YamlInputError as refused:
        found = SpecProblem(
            filename, refused.line, refused.column, _path_text(refused.loc), refused.message
        )
        raise SpecError([found], refused.hint or SPEC_HINT) from None


def validation_problems(
    exc: ValidationError, filename: str, positions: Positions, root: type[BaseModel] = Lab
) -> list[SpecProblem]:
    """A pydantic ValidationError of `root` as one located problem per field, in file order."""
    return sorted(
        (
            _problem(
                filename,
                positions,
                tuple(err["loc"]),
                _describe(err, root),
                key=err["type"] == "extra_forbidden",
            )
            for err in exc.errors()
        ),
        key=lambda p: (p.line or 0, p.column or 0),
    )


def problem_at(filename: str, positions: Positions, loc: Loc, message: str) -> SpecProblem:
    """A problem found after validation, located at the value of field `loc`."""
    return _problem(filename, positions, loc, message, key=False)


def parse_lab(text: str, filename: str = "lab.yaml") -> LoadedLab:
    """Parse and validate a lab spec; raise SpecError listing every problem found."""
    data, positions = parse_yaml(text, filename)

    if data is None:  # only comments, or a lone `---`
        raise SpecError(
            [SpecProblem(filename, None, None, "", "the file is empty")],
            "write a lab spec into it, or run `labctl init` for a commented one",
        )
    if not isinstance(data, dict):
        problem = SpecProblem(
            filename,
            1,
            1,
            "",
            f"the top level must be a mapping like `name: demo`, got {_type_name(data)}",
        )
        raise SpecError(
            [problem], "start the file with `name: <lab name>`; `labctl init` writes one"
        )

    try:
        lab = Lab.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, filename, positions), SPEC_HINT) from None

    cross = [
        _problem(filename, positions, loc, msg, key=False) for loc, msg in cross_field_problems(lab)
    ]
    if cross:
        raise SpecError(cross, SPEC_HINT)
    return LoadedLab(lab=lab, source=filename, positions=positions)


def default_lab() -> LoadedLab:
    """The built-in lab used when there is no lab.yaml: 1 server and 2 agents, all defaults."""
    lab = Lab(name="demo", provider=AUTO_PROVIDER)
    return LoadedLab(lab=lab, source="built-in default lab", positions=Positions())


def load_lab(path: Path) -> LoadedLab:
    """Read and parse a spec file; unreadable files are input errors, not crashes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            [SpecProblem(str(path), None, None, "", "no such file")],
            "check the path, or run `labctl init` to write a lab.yaml here",
        ) from None
    except IsADirectoryError:
        raise SpecError(
            [SpecProblem(str(path), None, None, "", "is a directory, not a lab spec file")],
            "pass the path of a lab.yaml file",
        ) from None
    except PermissionError:
        raise SpecError(
            [SpecProblem(str(path), None, None, "", "cannot be read (permission denied)")],
            "check the file's permissions",
        ) from None
    if len(raw) > MAX_SPEC_CHARS:
        raise SpecError([SpecProblem(str(path), None, None, "", _too_large(len(raw)))], SIZE_HINT)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"is not UTF-8 text (byte {raw[exc.start]:#04x})"
        raise SpecError(
            [SpecProblem(str(path), line, column, "", message)], "save the file as UTF-8"
        ) from None
    loaded = parse_lab(text, str(path))
    keys = key_file_problems(loaded.lab)
    if keys:
        located = [problem_at(str(path), loaded.positions, loc, msg) for loc, msg in keys]
        raise SpecError(located, "fix the key files above; ssh refuses keys others can read")
    return LoadedLab(loaded.lab, loaded.source, loaded.positions, path)


def key_file_problems(lab: Lab) -> list[tuple[Loc, str]]:
    """`provider: ssh`: every key file a machine or jump host names must exist, be a file,
    and not be readable by group or others (ssh refuses such a private key)."""
    import stat  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    hosts: list[tuple[Loc, str | None]] = [
        (("machines", i, "key"), m.key) for i, m in enumerate(lab.machines)
    ]
    hosts += [(("jump_hosts", name, "key"), j.key) for name, j in lab.jump_hosts.items()]
    problems: list[tuple[Loc, str]] = []
    for loc, key in hosts:
        if key is None:
            continue
        path = Path(key).expanduser()
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            problems.append((loc, f"{key}: {exc.strerror.lower() if exc.strerror else exc}"))
            continue
        if not stat.S_ISREG(mode):
            problems.append((loc, f"{key} is not a file; give the private key's path"))
        elif mode & 0o077:
            problems.append(
                (
                    loc,
                    f"{key} can be read by others (mode {stat.S_IMODE(mode):04o}); ssh refuses "
                    f"it: run `chmod 600 {key}`",
                )
            )
    return problems
