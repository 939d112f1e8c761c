"""Hypothesis strategies for files labctl reads: YAML and JSON as a careless or hostile hand
writes them — random structures, anchors and aliases, deep nesting, huge scalars and numbers,
tags, bytes that are not UTF-8 — mixed with documents close enough to valid to load."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

TAGS = (
    "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!timestamp ", "!!binary ",
    "!!set ", "!!omap ", "!!map ", "!!seq ", "!!python/object:os.system ", "!foo ",
    "!<tag:example.com,2000:x> ", "!!merge ", "!!value ",
)  # fmt: skip
ANCHORS = ("a", "b", "c")
LAB_KEYS = (
    "name", "provider", "servers", "agents", "network", "k3s", "addons", "checks", "box",
    "box_version", "boot_timeout", "libvirt", "count", "memory", "cpus", "cidr", "version",
    "<<", "x", "",
)  # fmt: skip
WORDS = (
    "demo", "lab-1", "virtualbox", "lxc", "libvirt", "true", "no", "null", "~", "2024-01-01",
    "2024-02-30", "1_000", "0x1F", "0o17", "1:20:30", ".inf", "-.nan", "2GiB", "512MiB",
    "192.168.56.0/24", "10.0.0.0/8", "v1.31.12+k3s1", "<<", "=", "''", '""', "[]", "{}",
)  # fmt: skip


def huge_number() -> st.SearchStrategy[str]:
    return st.builds(
        lambda sign, digits, frac: sign + "9" * digits + frac,
        st.sampled_from(["", "-", "+"]),
        st.integers(1, 6000),
        st.sampled_from(["", ".5", "e999", "_0"]),
    )


def scalars() -> st.SearchStrategy[str]:
    """One YAML scalar as written in a flow collection: plain, quoted, an alias, or huge."""
    return st.one_of(
        st.sampled_from(WORDS),
        st.integers(-(10**12), 10**12).map(str),
        st.floats().map(repr),
        huge_number(),
        st.text(max_size=12).map(json.dumps),  # a double-quoted YAML string
        st.text(st.characters(codec="utf-8"), max_size=12),  # anything, often not YAML at all
        st.sampled_from(ANCHORS).map(lambda a: f"*{a}"),
        st.integers(1, 120_000).map(lambda n: "x" * n),
    )


def decorated(node: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A node with, at times, a tag or an anchor in front of it."""
    prefix = st.one_of(
        st.just(""),
        st.sampled_from(TAGS),
        st.sampled_from(ANCHORS).map(lambda a: f"&{a} "),
    )
    return st.builds(lambda p, n: p + n, prefix, node)


def flow_nodes() -> st.SearchStrategy[str]:
    """Flow-style YAML values nested a few levels: lists and mappings of the above."""
    return st.recursive(
        decorated(scalars()),
        lambda kids: decorated(
            st.one_of(
                st.lists(kids, max_size=5).map(lambda xs: "[" + ", ".join(xs) + "]"),
                st.lists(st.tuples(st.sampled_from(LAB_KEYS), kids), max_size=5).map(
                    lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
                ),
            )
        ),
        max_leaves=25,
    )


def laughs() -> st.SearchStrategy[str]:
    """The billion-laughs shape at random width and depth, under a key a lab has or has not."""

    def build(width: int, levels: int, key: str) -> str:
        lines = ['l0: &l0 ["lol"]']
        for level in range(1, levels + 1):
            lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
        lines.append(f"{key}: *l{levels}")
        return "\n".join(lines)

    return st.builds(build, st.integers(2, 12), st.integers(1, 9), st.sampled_from(LAB_KEYS))


def deep() -> st.SearchStrategy[str]:
    """Thousands of `[` or `{`, closed or not, flow or block."""

    def build(depth: int, opener: str, closed: bool) -> str:
        if opener == "block":
            return "x:\n" + "".join(" " * (i + 1) + "- \n" for i in range(min(depth, 400)))
        closer = {"[": "]", "{a: ": "}"}[opener]
        return "x: " + opener * depth + (closer * depth if closed else "")

    return st.builds(
        build, st.integers(1, 5000), st.sampled_from(["[", "{a: ", "block"]), st.booleans()
    )


def lab_like() -> st.SearchStrategy[str]:
    """A lab spec close to valid: known keys, plausible values, often loadable."""
    small = st.integers(1, 3).map(str)
    counts = st.one_of(small, small, small, st.sampled_from(WORDS), huge_number())
    sizes = st.sampled_from(["2048", "2GiB", "4096", "3G", "1024", "256", "lots"])
    memory = st.one_of(sizes, sizes, sizes, counts)
    plausible = st.builds(lambda c, m: f"{{count: {c}, memory: {m}}}", counts, memory)
    role = st.one_of(plausible, plausible, plausible, flow_nodes())
    return st.builds(
        lambda name, provider, servers, agents: (
            f"name: {name}\nprovider: {provider}\nservers: {servers}\nagents: {agents}"
        ),
        st.sampled_from(["demo", "lab-1", "demo", "Demo", "x" * 70, "1lab", '"demo"']),
        st.sampled_from(["virtualbox", "libvirt", "lxc", "lxc", "vbox", "!!str lxc"]),
        role,
        role,
    )


def yaml_documents() -> st.SearchStrategy[str]:
    """Whole documents: block mappings of flow values, laughs, deep nesting, lab-like specs."""
    block = st.lists(st.tuples(st.sampled_from(LAB_KEYS), flow_nodes()), max_size=6).map(
        lambda kv: "\n".join(f"{k}: {v}" for k, v in kv)
    )
    body = st.one_of(block, laughs(), deep(), flow_nodes())
    name = st.sampled_from(["", "name: demo\n", "name: demo\n---\n", "%YAML 1.1\n---\n"])
    hostile = st.builds(lambda n, b: n + b + "\n", name, body)
    return st.one_of(hostile, hostile, lab_like().map(lambda text: text + "\n"))


def spoiled(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """UTF-8 of `text`, at times with a few raw bytes (often not UTF-8) spliced in, or cut."""

    def splice(data: bytes, junk: bytes, where: float, cut: bool) -> bytes:
        at = int(len(data) * where)
        return data[:at] if cut else data[:at] + junk + data[at:]

    plain = text.map(lambda t: t.encode("utf-8", errors="surrogatepass"))
    return st.one_of(
        plain,
        plain,
        st.builds(splice, plain, st.binary(min_size=1, max_size=6), st.floats(0, 1), st.booleans()),
    )


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
    return st.recursive(
        leaves,
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
        ),
        max_leaves=15,
    )


@st.composite
def mutated(draw: st.DrawFn, record: Any) -> Any:
    """`record` with some of its values dropped or replaced by any JSON value."""
    if isinstance(record, dict):
        out = {}
        for key, value in record.items():
            choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
            if choice == "keep":
                out[key] = draw(mutated(value))
            elif choice == "replace":
                out[key] = draw(json_values())
        return out
    if isinstance(record, list):
        return [draw(mutated(item)) for item in record]
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values())
    return record


def json_documents(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Text of a labctl record: mutated from a valid one, any JSON, deep, huge, cut or spoiled."""
    text = st.one_of(
        mutated(valid).map(json.dumps),
        json_values().map(json.dumps),
        st.integers(1, 6000).map(lambda n: "[" * n + "]" * n),
        st.integers(1, 6000).map(lambda n: '{"lab": ' + "9" * n + "}"),
        st.just(json.dumps(valid)).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i])),
        st.text(max_size=40),
    )
    return spoiled(text)
