"""Providers are plug-ins: the registry, and a third party's provider found through an entry
point of its own distribution, planned and rendered without labctl knowing its name."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from labctl import registry
from labctl.errors import SpecError, UsageError
from labctl.render import LabPaths, render
from labctl.spec import model
from labctl.spec.loader import parse_lab

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _clear() -> None:
    registry.names.cache_clear()
    registry.get.cache_clear()
    model.provider_names.cache_clear()
    model.provider_entry_points.cache_clear()


@pytest.fixture
def third_party(tmp_path: Path) -> Iterator[Path]:
    """A distribution `labctl-toy` installed on sys.path, registering provider `toy`."""
    pkg = tmp_path / "labctl_toy"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from labctl.providers.base import Provider

            class Toy(Provider):
                name = "toy"
                label = "Toy"
                default_box = "toy/box"
                vagrant_block = "toy-block.rb.j2"

                def template_dirs(self):
                    return (Path(__file__).parent / "templates",)
            """
        )
    )
    (pkg / "templates" / "toy-block.rb.j2").write_text(
        '    node.vm.provider "toy" do |t|\n      t.memory = {{ m.memory_mib }}\n    end\n'
    )
    dist = tmp_path / "labctl_toy-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labctl-toy\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[labctl.providers]\ntoy = labctl_toy:Toy\n")
    sys.path.insert(0, str(tmp_path))
    _clear()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("labctl_toy", None)
        _clear()


def test_labctls_own_providers_come_first_in_the_documented_order() -> None:
    assert registry.names()[:3] == ("virtualbox", "libvirt", "lxc")


def test_a_third_party_provider_is_found_planned_and_rendered(third_party: Path) -> None:
    assert "toy" in registry.names()
    lab = parse_lab("name: demo\nprovider: toy\n").lab
    plan = registry.plan_lab(lab)
    assert plan.provider.name == "toy"
    assert plan.box == "toy/box"
    assert plan.network.bridge is None
    vagrantfile = render(plan, LabPaths(third_party / ".labctl" / "demo"))["Vagrantfile"]
    assert 'ENV["VAGRANT_DEFAULT_PROVIDER"] = "toy"' in vagrantfile
    assert vagrantfile.count('node.vm.provider "toy" do |t|') == 3
    assert "t.memory = 2048" in vagrantfile


def test_an_unknown_provider_is_a_located_spec_error() -> None:
    with pytest.raises(SpecError) as caught:
        parse_lab("name: demo\nprovider: toy\n", "lab.yaml")
    assert str(caught.value.problems[0]).startswith("lab.yaml:2:11: provider: 'toy'")


def test_get_refuses_a_name_nobody_registered() -> None:
    with pytest.raises(UsageError, match="no provider 'nope' is installed"):
        registry.get("nope")
