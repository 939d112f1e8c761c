"""provider: auto and the alternatives a failed preflight names: only what can work here."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from labctl import doctor
from labctl.doctor import survey
from labctl.errors import PreflightFailedError
from labctl.spec.loader import default_lab, parse_lab
from labctl.spec.model import Lab
from tests.unit.test_doctor import GOOD, plan_of

if TYPE_CHECKING:
    from pathlib import Path

LAB = Lab(name="demo")

# A VM without nested virtualization (like labctl's own CI machine): no vmx/svm flags, so
# neither VirtualBox nor libvirt can start a VM; Linux with cgroups, so lxc can work.
NO_VT = replace(
    GOOD,
    cpu_virt_flags=frozenset(),
    vboxmanage_path=None,
    virtualbox_version=None,
)


def names(options: list[survey.ProviderOption]) -> list[tuple[str, bool]]:
    return [(o.name, o.ready) for o in options]


def test_a_host_that_runs_everything_gets_the_first_provider() -> None:
    assert names(survey.survey(LAB, GOOD)) == [
        ("virtualbox", True), ("libvirt", True), ("lxc", True),
    ]  # fmt: skip
    choice = survey.choose(LAB, GOOD)
    assert choice.provider == "virtualbox"
    assert choice.reason == "provider auto: virtualbox, the first ready here"


def test_without_hardware_virtualization_only_lxc_is_offered_with_its_setup() -> None:
    facts = replace(
        NO_VT,
        vagrant_plugins=(),
        boxes=(),
        brctl_path=None,
        debootstrap_path=None,
    )
    options = survey.survey(LAB, facts)
    assert names(options) == [("lxc", False)]
    assert options[0].setup == (
        "`sudo apt install vagrant-lxc bridge-utils debootstrap`, then "
        "`sudo labctl box build --provider lxc --distro ubuntu --release noble`"
    )
    choice = survey.choose(LAB, facts)
    assert choice.provider == "lxc"
    assert "no provider is ready on this host; lxc can work here after" in choice.reason


def test_lxc_ready_is_chosen_over_virtualbox_that_cannot_run() -> None:
    facts = replace(NO_VT, brctl_path="/usr/sbin/brctl", debootstrap_path="/usr/sbin/debootstrap")
    choice = survey.choose(LAB, facts)
    assert choice.provider == "lxc"
    assert choice.reason == "provider auto: lxc, the first ready here"


def test_a_mac_is_offered_virtualbox_only() -> None:
    mac = replace(GOOD, system="Darwin", arch="arm64", vboxmanage_path=None, kvm_device=False,
                  cpu_virt_flags=None, cgroup_layout=None)  # fmt: skip
    options = survey.survey(LAB, mac)
    assert [o.name for o in options] == ["virtualbox"]
    assert "virtualbox.org" in options[0].setup


def test_nothing_can_work_falls_back_to_the_default_and_says_so() -> None:
    hopeless = replace(NO_VT, cgroup_controllers=frozenset({"pids"}), kvm_device=False)
    assert survey.survey(LAB, hopeless) == []
    choice = survey.choose(LAB, hopeless)
    assert choice.provider == "virtualbox"
    assert "no provider can work on this host as it is" in choice.reason


def _fake_gather(facts):  # type: ignore[no-untyped-def]
    """FAKE probe: the given facts, whatever is asked (the judging after it is real)."""
    return lambda plan, also=(): facts


def test_failed_preflight_names_only_providers_that_can_work_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    facts = replace(NO_VT, vagrant_plugins=(), brctl_path="/b", debootstrap_path="/d")
    monkeypatch.setattr("labctl.doctor.verdict.gather_facts", _fake_gather(facts))
    with pytest.raises(PreflightFailedError) as caught:
        doctor.preflight(plan_of("virtualbox"), facts)
    hint = caught.value.hint
    assert "use a provider that can work on this host: `provider: lxc` after " in hint
    assert "`sudo apt install vagrant-lxc`" in hint
    assert "libvirt" not in hint


def test_failed_preflight_offers_nothing_where_nothing_can_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hopeless = replace(NO_VT, cgroup_controllers=frozenset({"pids"}), kvm_device=False)
    monkeypatch.setattr("labctl.doctor.verdict.gather_facts", _fake_gather(hopeless))
    with pytest.raises(PreflightFailedError) as caught:
        doctor.preflight(plan_of("virtualbox"), hopeless)
    assert "use a provider" not in caught.value.hint
    assert "provider: lxc" not in caught.value.hint


def test_auto_is_a_valid_provider_and_the_builtin_lab_uses_it() -> None:
    assert parse_lab("name: demo\nprovider: auto\n").lab.provider == "auto"
    assert default_lab().lab.provider == "auto"


def test_resolve_auto_leaves_a_named_provider_alone_without_probing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_probe(*_: object, **__: object) -> None:
        raise AssertionError("a named provider must not probe the host")

    monkeypatch.setattr("labctl.doctor.gather.gather_facts", no_probe)
    lab = parse_lab("name: demo\nprovider: lxc\n").lab
    assert survey.resolve_auto(lab) == (lab, None)


def test_a_lab_keeps_the_provider_auto_chose_until_it_is_destroyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once set up, an auto lab stays on its provider even if the host changes (machines exist
    there); the pin is read without probing the host, and destroy drops it."""
    from labctl.cli.app import main
    from labctl.lab.teardown import destroy_lab
    from labctl.registry import plan_lab

    def no_probe(*_: object, **__: object) -> None:
        raise AssertionError("a pinned lab must not probe the host")

    monkeypatch.setattr("labctl.doctor.gather.gather_facts", no_probe)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))  # destroy never touches yours
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text("name: demo\nprovider: auto\n")
    lab_dir = tmp_path / ".labctl" / "demo"
    lab_dir.mkdir(parents=True)
    (lab_dir / "provider-auto").write_text("libvirt\n")
    with pytest.raises(SystemExit) as exited:
        main(["validate"])
    out, err = capsys.readouterr()
    assert exited.value.code in (0, None)
    assert "on libvirt" in out
    assert "note: provider auto: libvirt, as this lab was set up" in err
    plan = plan_lab(parse_lab("name: demo\nprovider: libvirt\n").lab)
    removed = list(destroy_lab(plan, lab_dir))
    assert "removed provider-auto" in removed
    assert not (lab_dir / "provider-auto").exists()
