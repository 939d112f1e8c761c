"""labctl's commands and global options as data, and the root help page drawn from them alone.

Importing typer takes ~100 ms, two thirds of a `labctl --help`; the root page needs nothing of
it. This module imports only the standard library, and lays the page out as click does for the
typer app (tests/unit/test_cli.py compares the two at every width click can choose).
"""

from __future__ import annotations

import shutil
import textwrap

# Each command: its module under labctl.cli, the attribute there (a function is one command, a
# typer app a group of them), and the first paragraph of its help, which `labctl --help` lists;
# in the order it lists them. (Plain tuples: typing.NamedTuple would import typing, ~5 ms.)
# A command is built (its parameters read into click's) only when it runs or shows its own help:
# building all of them took ~70 ms of every start.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init", "Write a commented lab.yaml from a template."),
    "validate": (
        "validate",
        "validate",
        "Validate a lab spec: one line per problem, exit code 2 if any.",
    ),
    "render": ("render", "render", "Write Vagrantfile, inventory, ansible.cfg."),
    "up": ("up", "up", "Build the lab: boot, install K3s, check."),
    "status": ("status", "status", "Show machines, addresses and phase results."),
    "ssh": ("ssh", "ssh", "Shell or command on a lab machine."),
    "provision": ("provision", "provision", "Re-run Ansible on the running machines."),
    "check": ("check", "check", "Run the smoke checks on the lab."),
    "test": ("test", "run_test", "Build, prove, tear down: the CI nightly."),
    "kubeconfig": (
        "kubeconfig",
        "kubeconfig",
        "Show, print or merge the lab's kubeconfig, or tunnel to its API.",
    ),
    "handout": ("handout", "handout", "Write the lab's handout: an HTML page and a Markdown file."),
    "logs": ("logs", "logs", "Show the last run's logs, or bundle them."),
    "doctor": ("doctor", "doctor", "Check this host can run the lab."),
    "reset": ("reset", "reset", "Restore the baseline snapshot, then run the smoke checks."),
    "halt": ("halt", "halt", "Stop the machines, keep the lab."),
    "destroy": ("destroy", "destroy", "Destroy the lab's machines and network."),
    "schema": ("schema", "schema", "Print the JSON Schema of the lab spec."),
    "box": ("box", "app", "Build and manage the boxes labctl makes itself."),
    "bundle": (
        "bundle",
        "app",
        "Gather what `labctl up` downloads into a directory, for labs without internet.",
    ),
    "fleet": ("fleet", "app", "Many identical labs from one spec (workshops)."),
    "lesson": (
        "lesson",
        "app",
        "Lessons: learn Kubernetes on your own lab, each step checked live.",
    ),
    "snapshot": (
        "snapshot",
        "app",
        "Save and restore every machine of a lab together (reset a broken lab in seconds).",
    ),
}

ABOUT = "Stand up a real multi-VM Kubernetes (K3s) lab with Vagrant and Ansible."
USAGE = "[OPTIONS] COMMAND [ARGS]..."
# The root's options as the page lists them (labctl.cli.app declares them for typer).
OPTIONS = (
    ("-v, --verbose", "More detail; -vv shows tracebacks.  [default: 0]"),
    ("-q, --quiet", "Only errors and results."),
    ("--version", "Print the version."),
    ("-h, --help", "Show this message and exit."),
)


def short_help(summary: str, limit: int) -> str:
    """SUMMARY cut to LIMIT characters as a command list shows it: up to the end of the first
    sentence that fits, or the words that fit followed by '...'."""
    words = summary.split()
    used = 0
    for index, word in enumerate(words):
        used += len(word) + (index > 0)
        if used > limit or (used == limit and index < len(words) - 1):
            break
        if word.endswith("."):
            return " ".join(words[: index + 1])
    else:
        return " ".join(words)
    kept = index
    while kept > 0 and len(" ".join(words[:kept])) + len("...") > limit:
        kept -= 1
    return " ".join(words[:kept]) + "..."


def _definitions(rows: list[tuple[str, str]], width: int) -> list[str]:
    """Two indented columns; the second wrapped beside the first (a first column past 30
    characters puts its text on the next line)."""
    column = min(max(len(first) for first, _ in rows), 30) + 2
    wrap = max(width - column - 2, 10)
    lines = []
    for first, second in rows:
        text = textwrap.wrap(second, wrap, replace_whitespace=False)
        if not text:
            lines.append(f"  {first}")
        elif len(first) <= column - 2:
            lines.append(f"  {first:<{column}}{text[0]}")
        else:
            lines.extend([f"  {first}", f"  {'':<{column}}{text[0]}"])
        lines.extend(f"  {'':<{column}}{more}" for more in text[1:])
    return lines


def root_help(prog: str = "labctl") -> str:
    """The page `labctl --help` prints, laid out for the terminal's width as click does."""
    width = max(min(shutil.get_terminal_size().columns, 80) - 2, 50)
    limit = width - 6 - max(len(name) for name in COMMANDS)
    commands = [(name, short_help(summary, limit)) for name, (_, _, summary) in COMMANDS.items()]
    usage = f"Usage: {prog} "
    lines = [
        *textwrap.wrap(USAGE, width, initial_indent=usage, subsequent_indent=" " * len(usage)),
        "",
        *textwrap.wrap(ABOUT, width, initial_indent="  ", subsequent_indent="  "),
        "",
        "Options:",
        *_definitions(list(OPTIONS), width),
        "",
        "Commands:",
        *_definitions(commands, width),
    ]
    return "\n".join(lines) + "\n"
