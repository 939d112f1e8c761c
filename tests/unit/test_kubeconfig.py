"""labctl.lab.kubeconfig: the pure merge/unmerge, and the edge that backs up and never clobbers."""

from __future__ import annotations

import copy
import stat
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from labctl.errors import ExitCode, LabctlError
from labctl.lab import kubeconfig as kc

if TYPE_CHECKING:
    from pathlib import Path

CTX = "labctl-demo"


def lab_config(server: str = "https://192.168.56.10:6443", key: str = "S0VZ") -> dict[str, Any]:
    """The shape playbooks/roles/kubeconfig writes: every name is labctl-<lab>."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": CTX, "cluster": {"certificate-authority-data": "Q0E=", "server": server}}
        ],
        "users": [
            {"name": CTX, "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": key}}
        ],
        "contexts": [{"name": CTX, "context": {"cluster": CTX, "user": CTX}}],
        "current-context": CTX,
    }


def user_config(current: str = "work") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
        "users": [{"name": "work", "user": {"token": "abc"}}],
        "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
        "current-context": current,
    }


def names(doc: dict[str, Any], section: str) -> list[str]:
    return [e["name"] for e in doc[section]]


# --- pure merge / unmerge ----------------------------------------------------------------------


def test_merge_into_nothing_makes_a_config_whose_current_context_is_the_lab() -> None:
    merged = kc.merge(None, lab_config(), CTX)
    assert merged["apiVersion"] == "v1"
    assert merged["kind"] == "Config"
    assert merged["current-context"] == CTX
    for section in ("clusters", "users", "contexts"):
        assert names(merged, section) == [CTX]
    assert merged["clusters"][0]["cluster"]["server"] == "https://192.168.56.10:6443"


def test_merge_into_an_empty_config_sets_the_empty_current_context() -> None:
    empty = {"apiVersion": "v1", "kind": "Config", "clusters": None, "current-context": ""}
    merged = kc.merge(empty, lab_config(), CTX)
    assert merged["current-context"] == CTX
    assert names(merged, "contexts") == [CTX]


def test_merge_keeps_other_entries_and_the_users_current_context() -> None:
    existing = user_config()
    before = copy.deepcopy(existing)
    merged = kc.merge(existing, lab_config(), CTX)
    assert existing == before, "merge must not change its input"
    assert merged["current-context"] == "work"
    for section in ("clusters", "users", "contexts"):
        assert names(merged, section) == ["work", CTX]
    assert merged["users"][0] == before["users"][0]


def test_merge_replaces_an_entry_of_the_same_name_instead_of_duplicating_it() -> None:
    first = kc.merge(user_config(), lab_config(server="https://10.0.0.1:6443"), CTX)
    again = kc.merge(first, lab_config(server="https://10.0.0.2:6443", key="TkVX"), CTX)
    for section in ("clusters", "users", "contexts"):
        assert names(again, section) == ["work", CTX]
    assert again["clusters"][1]["cluster"]["server"] == "https://10.0.0.2:6443"
    assert again["users"][1]["user"]["client-key-data"] == "TkVX"


def test_merge_renames_entries_and_references_to_the_given_context() -> None:
    merged = kc.merge(None, lab_config(), "labctl-other")
    assert names(merged, "clusters") == ["labctl-other"]
    assert merged["contexts"][0]["context"] == {"cluster": "labctl-other", "user": "labctl-other"}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(kind="Pod"), "expected v1 Config"),
        (lambda d: d.update(apiVersion="v2"), "expected v1 Config"),
        (lambda d: d["clusters"].append(d["clusters"][0]), "has 2 clusters"),
        (lambda d: d.update(users=[]), "has 0 users"),
        (lambda d: d["contexts"][0].pop("context"), "no `context` map"),
    ],
)
def test_a_lab_config_of_the_wrong_shape_is_refused(mutate: Any, needle: str) -> None:
    bad = lab_config()
    mutate(bad)
    with pytest.raises(LabctlError, match=needle) as info:
        kc.merge(None, bad, CTX)
    assert info.value.hint


def test_unmerge_removes_exactly_the_labs_entries() -> None:
    merged = kc.merge(user_config(), lab_config(), CTX)
    left = kc.unmerge(merged, CTX)
    assert left == user_config()


def test_unmerge_empties_current_context_only_when_it_pointed_at_the_lab() -> None:
    merged = kc.merge(user_config(current=""), lab_config(), CTX)
    assert merged["current-context"] == CTX
    assert kc.unmerge(merged, CTX)["current-context"] == ""
    other = kc.merge(user_config(current="work"), lab_config(), CTX)
    assert kc.unmerge(other, CTX)["current-context"] == "work"


def test_a_user_config_whose_sections_are_not_lists_is_refused() -> None:
    with pytest.raises(LabctlError, match="`contexts` is not a list"):
        kc.merge({"contexts": {"a": 1}}, lab_config(), CTX)


def test_default_target_prefers_the_first_kubeconfig_entry(tmp_path: Path) -> None:
    env = {"KUBECONFIG": f"{tmp_path}/a:{tmp_path}/b"}
    assert kc.default_target(env, home=tmp_path) == tmp_path / "a"
    assert kc.default_target({}, home=tmp_path) == tmp_path / ".kube" / "config"
    assert kc.default_target({"KUBECONFIG": ""}, home=tmp_path) == tmp_path / ".kube" / "config"


# --- the file edge ------------------------------------------------------------------------------


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab" / "kubeconfig"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(lab_config()), encoding="utf-8")
    path.chmod(0o600)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def backups(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f"{target.name}{kc.BACKUP_INFIX}*"))


def test_merge_creates_kube_dir_0700_and_config_0600_without_a_backup(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "home" / ".kube" / "config"
    result = kc.merge_into_user_config(lab_file, CTX, target)
    assert result == kc.MergeResult(target, CTX, None, added=True, changed=True)
    assert mode(target.parent) == 0o700
    assert mode(target) == 0o600
    assert yaml.safe_load(target.read_text())["current-context"] == CTX


def test_merge_backs_up_the_existing_file_once_0600_and_keeps_its_content(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "config"
    original = yaml.safe_dump(user_config())
    target.write_text(original)
    target.chmod(0o644)
    result = kc.merge_into_user_config(lab_file, CTX, target)
    assert result.added
    assert result.backup is not None
    assert backups(target) == [result.backup]
    assert result.backup.read_text() == original
    assert mode(result.backup) == 0o600
    assert mode(target) == 0o600
    merged = yaml.safe_load(target.read_text())
    assert names(merged, "contexts") == ["work", CTX]
    assert merged["current-context"] == "work"


def test_merging_again_unchanged_writes_nothing_and_makes_no_new_backup(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump(user_config()))
    kc.merge_into_user_config(lab_file, CTX, target)
    again = kc.merge_into_user_config(lab_file, CTX, target)
    assert not again.changed
    assert not again.added
    assert len(backups(target)) == 1


def test_a_second_changed_merge_in_the_same_second_gets_its_own_backup(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump(user_config()))
    kc.merge_into_user_config(lab_file, CTX, target)
    lab_file.write_text(yaml.safe_dump(lab_config(server="https://10.9.9.9:6443")))
    result = kc.merge_into_user_config(lab_file, CTX, target)
    assert result.changed
    assert not result.added
    assert len(backups(target)) == 2


def test_broken_yaml_is_refused_with_file_and_line_and_left_untouched(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "config"
    broken = "apiVersion: v1\nclusters:\n- name: a\n  cluster: {server: [\n"
    target.write_text(broken)
    target.chmod(0o644)
    with pytest.raises(LabctlError) as info:
        kc.merge_into_user_config(lab_file, CTX, target)
    assert f"{target}:" in info.value.message
    assert info.value.message.split(":")[1].isdigit(), info.value.message
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    assert target.read_text() == broken
    assert mode(target) == 0o644
    assert backups(target) == []


def test_a_config_that_is_not_a_mapping_is_refused_and_untouched(
    tmp_path: Path, lab_file: Path
) -> None:
    target = tmp_path / "config"
    target.write_text("- just\n- a list\n")
    with pytest.raises(LabctlError, match="not a kubeconfig"):
        kc.merge_into_user_config(lab_file, CTX, target)
    assert target.read_text() == "- just\n- a list\n"


def test_merge_without_the_lab_kubeconfig_says_to_run_up(tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match="has not run") as info:
        kc.merge_into_user_config(tmp_path / "kubeconfig", CTX, tmp_path / "config")
    assert "labctl up" in info.value.hint
    assert not (tmp_path / "config").exists()


def test_merge_writes_through_a_symlinked_config(tmp_path: Path, lab_file: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(yaml.safe_dump(user_config()))
    link = tmp_path / "config"
    link.symlink_to(real)
    kc.merge_into_user_config(lab_file, CTX, link)
    assert link.is_symlink()
    assert names(yaml.safe_load(real.read_text()), "contexts") == ["work", CTX]


def test_remove_takes_out_the_lab_and_backs_up(tmp_path: Path, lab_file: Path) -> None:
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump(user_config()))
    kc.merge_into_user_config(lab_file, CTX, target)
    assert kc.remove_from_user_config(CTX, target) is True
    assert yaml.safe_load(target.read_text()) == user_config()
    assert mode(target) == 0o600
    assert len(backups(target)) == 2
    assert kc.remove_from_user_config(CTX, target) is False


def test_remove_never_creates_the_file(tmp_path: Path) -> None:
    target = tmp_path / ".kube" / "config"
    assert kc.remove_from_user_config(CTX, target) is False
    assert not target.parent.exists()


def test_remove_refuses_broken_yaml_and_leaves_it(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text("contexts: [\n")
    with pytest.raises(LabctlError, match=r"config:\d+:\d+: YAML syntax error"):
        kc.remove_from_user_config(CTX, target)
    assert target.read_text() == "contexts: [\n"
