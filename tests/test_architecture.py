"""The picture of the house stays true: import contracts, the provider seam, module sizes."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labctl import registry

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "labctl"
MODULE_LINES_MAX = 500


def test_import_contracts_hold() -> None:
    """pyproject's [tool.importlinter]: pure core, tools as the only importers of outside
    tools, a CLI that does not reach tools, no cycles between packages."""
    lint_imports = shutil.which("lint-imports")
    assert lint_imports, "import-linter is a test dependency: pip install -e '.[test]'"
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def _provider_name_comparisons(source: str, names: set[str]) -> list[int]:
    """Lines where a provider name literal is compared (==, !=, in, not in, match case)."""

    def is_name(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value in names:
            return True
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(is_name(e) for e in node.elts)
        return False

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            is_name(side) for side in (node.left, *node.comparators)
        ):
            found.append(node.lineno)
        pattern = getattr(node, "pattern", None)
        if isinstance(pattern, ast.MatchValue) and is_name(pattern.value):
            found.append(pattern.lineno)
    return found


def test_provider_names_are_compared_only_inside_providers() -> None:
    """Core code asks the provider; a name compared elsewhere is a branch the seam should own."""
    names = set(registry.names())
    assert {"virtualbox", "libvirt", "lxc"} <= names
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PACKAGE / "providers" in path.parents:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{line}"
            for line in _provider_name_comparisons(path.read_text(), names)
        ]
    # Templates too: a `provider == "x"` branch in a Jinja template is the same defect.
    pattern = re.compile(r"provider\s*(==|!=|in)\s*['\"(\[]")
    for path in [ROOT / "Vagrantfile.j2", *sorted((ROOT / "templates").rglob("*.j2"))]:
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert not offenders, "provider names compared outside labctl/providers/: " + ", ".join(
        offenders
    )


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scan above would see the forms a provider branch takes."""
    names = {"lxc", "libvirt"}
    source = (
        "if lab.provider == 'lxc': pass\n"
        "if 'libvirt' != p: pass\n"
        "x = p in ('lxc', 'other')\n"
        "match p:\n    case 'lxc': pass\n"
        "y = p == 'docker'\n"
    )
    assert _provider_name_comparisons(source, names) == [1, 2, 3, 5]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.name))
def test_modules_stay_one_idea(path: Path) -> None:
    """No module over 500 lines unless its top says why it must stay one file."""
    text = path.read_text()
    lines = text.count("\n")
    if lines <= MODULE_LINES_MAX:
        return
    head = "\n".join(text.splitlines()[:15]).lower()
    assert "one file" in head or "one module" in head, (
        f"{path.relative_to(ROOT)} has {lines} lines; split it, or say at its top why not"
    )


def test_every_registered_provider_loads_and_names_itself() -> None:
    for name in registry.names():
        provider = registry.get(name)
        assert provider.name == name
        if provider.boots_machines:  # the others (ssh) boot nothing, from no box
            assert provider.default_box
            assert (ROOT / "templates" / provider.vagrant_block).is_file()
