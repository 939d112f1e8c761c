"""The wheel carries Vagrantfile.j2, templates/ and playbooks/: installed away from the
checkout into a fresh venv, `labctl init` and `labctl render` work there."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("labctl-*.whl")
    return built


def test_wheel_contains_the_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "labctl/_data/Vagrantfile.j2" in names
    assert "labctl/_data/templates/inventory.yml.j2" in names
    assert "labctl/_data/templates/init/default.yaml" in names
    assert any(n.startswith("labctl/_data/playbooks/") for n in names)
    for lesson in ("anatomy", "deployments", "gitops"):
        for file in ("lesson.yaml", "en.md", "ko.md"):
            assert f"labctl/lessons/content/{lesson}/{file}" in names


def test_installed_wheel_renders_away_from_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = env_dir / "bin" / "pip"
    subprocess.run(
        [str(pip), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    work = tmp_path / "somewhere"
    work.mkdir()
    labctl = str(env_dir / "bin" / "labctl")
    where = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import labctl; print(labctl.__file__)"],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(env_dir) in where.stdout, "the test must run the installed copy, not the checkout"
    subprocess.run([labctl, "init", "--template", "ha"], cwd=work, check=True, capture_output=True)
    result = subprocess.run(
        [labctl, "render"], cwd=work, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    vagrantfile = (work / ".labctl" / "ha" / "Vagrantfile").read_text()
    assert vagrantfile.count("config.vm.define") == 5
    assert (work / ".labctl" / "ha" / "inventory" / "hosts.yml").exists()
    lessons = subprocess.run([labctl, "lesson", "list", "--lang", "ko"], cwd=work,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert lessons.returncode == 0, lessons.stderr
    assert "디플로이먼트" in lessons.stdout
