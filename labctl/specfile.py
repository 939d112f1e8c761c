"""Reading lab.yaml: YAML with positions, then the spec models, then one line per problem.

`parse_lab` is pure (text in, Lab or SpecError out); `load_lab` only adds reading the file.
Every problem names file:line:column, the field path, what is wrong and what to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from labctl.errors import SpecError, SpecProblem
from labctl.spec import Lab, cross_field_problems

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
Position = tuple[int, int]

SPEC_HINT = "fix the lines above; `labctl schema` prints every key with its type and default"


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


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, loc: Loc, line: int, column: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.loc = key, loc
        self.line, self.column, self.first_line = line, column, first_line


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _compose_with_positions(text: str) -> tuple[Any, Positions]:
    """Compose YAML into plain data, recording each path's position and refusing duplicate keys."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    positions = Positions()
    if node is None:
        return None, positions
    constructor = yaml.SafeLoader(text)

    def build(current: yaml.Node, loc: Loc) -> Any:
        positions.values[loc] = _mark(current)
        if isinstance(current, yaml.MappingNode):
            constructor.flatten_mapping(current)
            result: dict[Any, Any] = {}
            first_seen: dict[Any, int] = {}
            for key_node, value_node in current.value:
                key = constructor.construct_object(key_node, deep=True)
                key_loc = (*loc, key)
                if key in result:
                    line, column = _mark(key_node)
                    raise _DuplicateKeyError(str(key), key_loc, line, column, first_seen[key])
                first_seen[key] = _mark(key_node)[0]
                positions.keys[key_loc] = _mark(key_node)
                result[key] = build(value_node, key_loc)
            return result
        if isinstance(current, yaml.SequenceNode):
            return [build(item, (*loc, i)) for i, item in enumerate(current.value)]
        return constructor.construct_object(current, deep=True)

    return build(node, ()), positions


def _path_text(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
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
        return f"unknown key {key!r}; {advice}"
    if kind == "missing":
        return "is required; add it, e.g. `name: demo`" if loc == ("name",) else "is required"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in expected.replace(" or ", ", ").split(",") if c.strip()]
        close = difflib.get_close_matches(str(value), choices, n=1)
        advice = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(choices)}"
        return f"{value!r} is not allowed here; {advice}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"expected a whole number, got {_type_name(value)} {value!r}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"expected true or false, got {value!r}"
    if kind in {"string_type"}:
        return f"expected text, got {_type_name(value)} {value!r}; put it in quotes"
    if kind in {"list_type"}:
        return (
            f"expected a list, got {_type_name(value)}; write it as [a, b] or one '- item' a line"
        )
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"expected a mapping of keys, got {_type_name(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}, got {value!r}"
    return f"{error['msg']} (got {value!r})"


def _problem(
    filename: str, positions: Positions, loc: Loc, message: str, *, key: bool
) -> SpecProblem:
    pos = positions.of_key(loc) if key else positions.of_value(loc)
    line, column = pos if pos else (None, None)
    return SpecProblem(filename, line, column, _path_text(loc), message)


def parse_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """YAML text -> plain data and the position of every field; SpecError on syntax errors."""
    try:
        return _compose_with_positions(text)
    except _DuplicateKeyError as dup:
        message = f"duplicate key (first at line {dup.first_line}); keep one of them"
        raise SpecError(
            [SpecProblem(filename, dup.line, dup.column, _path_text(dup.loc), message)], SPEC_HINT
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise SpecError(
            [SpecProblem(filename, line, column, "", f"YAML syntax error: {what}")],
            "check indentation (spaces, not tabs) and that every `key: value` has a space",
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(filename, None, None, "", f"YAML error: {exc}")]) from None


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
    return LoadedLab(lab=Lab(name="demo"), source="built-in default lab", positions=Positions())


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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [SpecProblem(str(path), None, None, "", f"is not UTF-8 text (byte {exc.start})")],
            "save the file as UTF-8",
        ) from None
    loaded = parse_lab(text, str(path))
    return LoadedLab(loaded.lab, loaded.source, loaded.positions, path)
