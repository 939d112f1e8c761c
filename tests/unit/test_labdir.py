"""The lab directory: atomic writes, untouched when unchanged, secrets 0600 and stable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from labctl.lab.labdir import ensure_secret, lab_dir_for, lab_paths, write_atomic, write_lab
from labctl.registry import plan_lab
from labctl.render import render
from labctl.spec.loader import parse_lab


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lab_dir_sits_beside_the_spec(tmp_path: Path) -> None:
    assert lab_dir_for(tmp_path / "lab.yaml", "demo") == tmp_path / ".labctl" / "demo"
    assert lab_dir_for(None, "demo", cwd=tmp_path) == tmp_path / ".labctl" / "demo"


def test_write_atomic_skips_unchanged_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "Vagrantfile"
    assert write_atomic(target, "one\n") is True
    before = target.stat().st_mtime_ns
    assert write_atomic(target, "one\n") is False
    assert target.stat().st_mtime_ns == before
    assert write_atomic(target, "two\n") is True
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["Vagrantfile"]  # no temp files left


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ansible.cfg"
    write_atomic(target, "old\n")

    def broken_replace(self: Path, other: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ansible.cfg"]


def test_secrets_are_private_and_never_rotated(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "k3s-token"
    assert ensure_secret(secret) is True
    token = secret.read_text()
    assert len(token.strip()) == 64
    assert mode(secret) == 0o600
    assert mode(secret.parent) == 0o700
    assert ensure_secret(secret) is False
    assert secret.read_text() == token


def test_write_lab_writes_rendered_files_and_secrets(tmp_path: Path) -> None:
    plan = plan_lab(parse_lab("name: demo\naddons: {gitlab: {enabled: true}}\n").lab)
    lab_dir = tmp_path / ".labctl" / "demo"
    files = render(plan, lab_paths(lab_dir))
    first = write_lab(lab_dir, files, plan)
    assert all(w.changed for w in first)
    assert (lab_dir / "Vagrantfile").read_text() == files["Vagrantfile"]
    token = (lab_dir / "secrets" / "k3s-token").read_text()
    assert mode(lab_dir / "secrets" / "gitlab-root-password") == 0o600
    again = write_lab(lab_dir, files, plan)
    assert not any(w.changed for w in again)
    assert (lab_dir / "secrets" / "k3s-token").read_text() == token
    assert token.strip() not in "".join(files.values())
