"""The bounded YAML reader, the JSON read-back helper and the message helpers, unit by unit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from labctl.errors import StateError
from labctl.lab.readback import read_json
from labctl.messages import capped, quoted
from labctl.spec.bounded import MAX_DEPTH, YamlInputError, compose, load

if TYPE_CHECKING:
    from pathlib import Path


def refused(text: str) -> YamlInputError:
    with pytest.raises(YamlInputError) as caught:
        load(text)
    return caught.value


def test_merge_keys_merge_with_the_mappings_own_keys_winning() -> None:
    doc = load("d: &d {cpus: 2, memory: 2048}\na: {<<: *d, cpus: 3}\nb: {<<: [{x: 1}, *d]}\n")
    assert doc["a"] == {"cpus": 3, "memory": 2048}
    assert doc["b"] == {"x": 1, "cpus": 2, "memory": 2048}


def test_merged_keys_are_not_taken_for_duplicates_but_written_twice_they_are() -> None:
    assert load("d: &d {a: 1}\ne: {<<: *d, a: 2}\n")["e"] == {"a": 2}
    problem = refused("e: {a: 1, a: 2}\n")
    assert (problem.line, problem.column, problem.loc) == (1, 11, ("e", "a"))
    assert problem.message == "duplicate key (first at line 1); keep one of them"


def test_positions_of_keys_and_values_are_recorded_one_based() -> None:
    composed = compose("name: demo\nagents:\n  memory: 256\n")
    assert composed.keys[("agents", "memory")] == (3, 3)
    assert composed.values[("agents", "memory")] == (3, 11)


def test_aliases_expanding_past_the_budget_are_refused_at_the_first_node_past_it() -> None:
    lines = ['l0: &l0 ["lol"]'] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 8)
    ]
    problem = refused("\n".join(lines) + "\n")
    assert "through aliases" in problem.message
    assert problem.line == 1


def test_aliases_of_aliases_nest_no_deeper_than_the_limit() -> None:
    chain = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 5)]
    problem = refused("\n".join(chain) + "\n")
    assert f"nested more than {MAX_DEPTH} levels deep through aliases" in problem.message


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 999, 5000])
def test_flow_nesting_past_the_limit_is_refused_with_its_position(depth: int) -> None:
    problem = refused("x: " + "[" * depth + "]" * depth + "\n")
    assert problem.message == f"nested more than {MAX_DEPTH} lists or mappings deep"
    assert problem.line == 1


def test_nesting_up_to_the_limit_loads() -> None:
    depth = MAX_DEPTH - 1  # the top-level mapping is one level
    assert load("x: " + "[" * depth + "]" * depth + "\n") is not None


def test_numbers_too_long_for_any_setting_are_refused_before_conversion() -> None:
    assert load(f"n: {'9' * 40}\n")["n"] == int("9" * 40)
    problem = refused(f"n: {'9' * 41}\n")
    assert problem.message == "a number 41 characters long is larger than any setting takes"


def test_a_multi_document_stream_is_a_syntax_error() -> None:
    assert refused("a: 1\n---\nb: 2\n").message.startswith("YAML syntax error")


def test_quoted_cuts_long_text_and_huge_numbers() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("a" * 1000) == repr("a" * 60) + "… (940 more characters)"
    assert quoted(10**5000) == "a number of about 5000 digits"
    assert len(quoted(list(range(10**5)))) < 100


def test_capped_keeps_twenty_lines_and_counts_the_rest() -> None:
    assert capped(["x"] * 20) == ["x"] * 20
    assert capped(["x"] * 25) == [*(["x"] * 20), "and 5 more problems"]


def damaged(reason: str) -> StateError:
    return StateError(f"damaged ({reason})", "move it aside")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON (Expecting property name enclosed in double quotes at line 1"),
        (b"[" * 5000 + b"]" * 5000, "nested too deep to be a labctl file"),
        (b'{"lab": ' + b"9" * 5000 + b"}", "it holds a number 5000 digits long"),
        (b'{"lab": "d\xffemo"}', "not UTF-8 text (byte 0xff on line 1)"),
        (b"[1, 2]", "its top level is a list, not a JSON object"),
        (b'{"other": 1}', "'lab' is missing"),
        (b'{"lab": [1]}', "a field has the wrong type: unhashable type: 'list'"),
    ],
)
def test_read_json_names_what_is_wrong(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(content)

    def parse(text: str) -> set[object]:
        return {json.loads(text)["lab"]}  # a list there is unhashable: a TypeError

    with pytest.raises(StateError) as caught:
        read_json(path, parse, damaged)
    assert caught.value.message.startswith(f"damaged ({reason}")


def test_read_json_of_no_file_is_none_and_of_a_good_one_its_value(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    assert read_json(path, str, damaged) is None
    path.write_text('{"lab": "demo"}')
    assert read_json(path, lambda text: text.strip(), damaged) == '{"lab": "demo"}'


@pytest.mark.parametrize(
    ("text", "line", "column", "start"),
    [
        # libyaml meets its own limit (1000) while scanning ahead, so only the line is sure
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", 1, None, "nested more than 64"),
        ("a: é\x01\n", 1, 5, "character U+0001"),
        ("a: [1, 2\n", 2, 1, "YAML syntax error"),
        (
            "\n".join(
                ['l0: &l0 ["lol"]']
                + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 8)]
            ),
            1,
            5,
            "expands to more than",
        ),
    ],
)
@pytest.mark.parametrize("loader", ["libyaml", "pure Python"])
def test_both_parsers_refuse_alike_at_the_same_place(
    monkeypatch: pytest.MonkeyPatch,
    loader: str,
    text: str,
    line: int,
    column: int | None,
    start: str,
) -> None:
    """PyYAML without libyaml (some platforms' wheels) takes the pure-Python parser."""
    import yaml

    import labctl.spec.bounded

    if loader == "pure Python":
        monkeypatch.setattr(labctl.spec.bounded, "_LOADER", yaml.SafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("this PyYAML has no libyaml")
    problem = refused(text)
    assert problem.message.startswith(start)
    assert problem.line == line
    assert column is None or problem.column == column
