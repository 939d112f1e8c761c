"""YAML read within bounds: what a file costs labctl is bounded by the file's size.

PyYAML alone lets a small file cost without limit: aliases nested in aliases expand
exponentially when walked ("billion laughs"), its composer recurses once per nesting level
(RecursionError), an integer of thousands of digits fails to convert (ValueError), and any
registered tag's constructor runs. Here the nesting depth is checked on the event stream first
(the parser is iterative), the document is composed (with libyaml when present: 50 times
faster), and plain data is built while every node made is counted against a budget that grows
with the values the text holds. Anything past a limit or outside the plain tags a config file
uses is a `YamlInputError` naming the line and column; its message quotes values cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from labctl.messages import quoted

Loc = tuple[Any, ...]
Position = tuple[int, int]

MAX_DEPTH = 64  # lab.yaml nests 4 levels, a kubeconfig 6: 64 is generous and far from recursion
MAX_NUMBER_CHARS = 40  # no setting takes a number past 10**39; int() of 5000 digits raises
NODE_FLOOR = 10_000  # values any small file may expand to through aliases
EXPANSION = 4  # past the floor, aliases may repeat what is written this many times over

_LOADER: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_TAG = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE, _INT = (f"{_TAG}{k}" for k in ("map", "seq", "merge", "int"))
_SCALAR_TAGS = {f"{_TAG}{k}" for k in ("str", "int", "float", "bool", "null", "timestamp")}
_DEPTH_HINT = "a config file nests a few levels; remove the extra `[` or `{`"
SYNTAX_HINT = "check indentation (spaces, not tabs) and that every `key: value` has a space"


class YamlInputError(Exception):
    """Why the text is not YAML labctl reads, where (1-based line and column) and at which path."""

    def __init__(
        self,
        message: str,
        position: Position | None = None,
        loc: Loc = (),
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message, self.loc, self.hint = message, loc, hint
        self.line: int | None = position[0] if position else None
        self.column: int | None = position[1] if position else None

    def where(self, name: str) -> str:
        """`name:line:column` as far as it is known."""
        if self.line is None:
            return name
        return f"{name}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Composed:
    """The plain data, and where each field path's key and value start (1-based)."""

    data: Any
    keys: dict[Loc, Position] = field(default_factory=dict)
    values: dict[Loc, Position] = field(default_factory=dict)


def _mark(node: yaml.Node | yaml.Event) -> Position:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _count_nodes(text: str) -> int:
    """The values written in the text (aliases count once); refuses nesting past MAX_DEPTH."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlInputError(
                    f"nested more than {MAX_DEPTH} lists or mappings deep",
                    _mark(event),
                    hint=_DEPTH_HINT,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        nodes += isinstance(event, yaml.NodeEvent)
    return nodes


def _reader_position(text: str, exc: yaml.reader.ReaderError) -> Position:
    """libyaml counts the offset in UTF-8 bytes, PyYAML in characters."""
    if _LOADER is yaml.SafeLoader:
        before = text[: exc.position]
    else:
        before = text.encode("utf-8")[: exc.position].decode("utf-8", errors="ignore")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _from_yaml_error(text: str, exc: yaml.YAMLError) -> YamlInputError:
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        return YamlInputError(
            f"character U+{code:04X} is not allowed in YAML",
            _reader_position(text, exc),
            hint="remove it, or save the file as plain UTF-8 text",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        if "maximum nesting depth" in what:  # libyaml's own limit, met while scanning ahead
            return YamlInputError(
                f"nested more than {MAX_DEPTH} lists or mappings deep", position, hint=_DEPTH_HINT
            )
        return YamlInputError(f"YAML syntax error: {what[:200]}", position, hint=SYNTAX_HINT)
    return YamlInputError(f"YAML error: {str(exc).splitlines()[0][:200]}", hint=SYNTAX_HINT)


class _Builder:
    """Plain data from a node graph, counting each node made: aliases cost what they expand to."""

    def __init__(self, budget: int) -> None:
        self.budget, self.left = budget, budget
        self.constructor = SafeConstructor()
        self.keys: dict[Loc, Position] = {}
        self.values: dict[Loc, Position] = {}

    def _spend(self, node: yaml.Node, loc: Loc) -> None:
        self.left -= 1
        if self.left < 0:
            raise YamlInputError(
                f"expands to more than {self.budget} values through aliases (`*name`) "
                "repeated inside each other",
                _mark(node),
                loc,
                "write the values out, or use each alias a few times, not nested in others",
            )

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self._spend(node, loc)
        if depth > MAX_DEPTH:  # aliases of aliases nest deeper than the text does
            raise YamlInputError(
                f"nested more than {MAX_DEPTH} levels deep through aliases", _mark(node), loc
            )
        self.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self._tag(node, {_MAP}, loc)
            return self._mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            self._tag(node, {_SEQ}, loc)
            return [self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _tag(self, node: yaml.Node, allowed: set[str], loc: Loc) -> None:
        if node.tag not in allowed:
            raise YamlInputError(
                f"the tag {quoted(node.tag)} is not used in this file",
                _mark(node),
                loc,
                "remove the tag and write the value as plain YAML",
            )

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges = [value for key, value in node.value if key.tag == _MERGE]
        for merge in merges:  # `<<: *base`: the mapping's own keys win, then earlier merges
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise YamlInputError(
                        "`<<` merges mappings only", _mark(source), loc, "merge a mapping's alias"
                    )
                for key, value in self.build(source, loc, depth).items():
                    result.setdefault(key, value)
        self.values[loc] = _mark(node)
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, loc)
            key_loc = (*loc, key)
            if key in first_line:
                raise YamlInputError(
                    f"duplicate key (first at line {first_line[key]}); keep one of them",
                    _mark(key_node),
                    key_loc,
                )
            first_line[key] = _mark(key_node)[0]
            self.keys[key_loc] = _mark(key_node)
            result[key] = self.build(value_node, key_loc, depth + 1)
        return result

    def _key(self, node: yaml.Node, loc: Loc) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise YamlInputError(
                "a key must be a plain name, not a list or a mapping",
                _mark(node),
                loc,
                "write the key as a word, e.g. `name:`",
            )
        self._spend(node, loc)
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        self._tag(node, _SCALAR_TAGS, loc)
        if node.tag == _INT and len(node.value) > MAX_NUMBER_CHARS:
            raise YamlInputError(
                f"a number {len(node.value)} characters long is larger than any setting takes",
                _mark(node),
                loc,
                "write the number you meant, or put it in quotes if it is text",
            )
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, yaml.YAMLError):
            kind = str(node.tag).removeprefix(_TAG)
            raise YamlInputError(
                f"{quoted(node.value)} cannot be read as {kind}",
                _mark(node),
                loc,
                "write the value without its tag, or in quotes as text",
            ) from None


def compose(text: str) -> Composed:
    """Plain data (dicts, lists, scalars) and positions, or a YamlInputError; None when empty.

    The work is bounded by the values written in the text; callers bound the text's size.
    """
    try:
        written = _count_nodes(text)
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _from_yaml_error(text, exc) from None
    if node is None:
        return Composed(None)
    builder = _Builder(NODE_FLOOR + EXPANSION * written)
    data = builder.build(node, (), 0)
    return Composed(data, builder.keys, builder.values)


def load(text: str) -> Any:
    """Like `yaml.safe_load`, within the bounds above; raises YamlInputError."""
    return compose(text).data
