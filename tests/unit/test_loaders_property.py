"""Every loader of a file labctl reads, fed generated hostile files (hypothesis).

The rule each keeps: it returns its value, or raises a LabctlError with exit code 2 whose lines
are single, bounded and name the file, with a hint; never any other exception. pytest-timeout
bounds each test's examples (a hang, as billion laughs once was, fails the run) instead of a
timed assertion; Hypothesis's own deadline is off, as timing on a shared CI machine is noise.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings

from labctl.errors import ExitCode, LabctlError, SpecError
from labctl.lab import kubeconfig, snapshot, state, workflow
from labctl.spec.loader import load_lab
from labctl.spec.model import Lab
from labctl.workshop import bundle, fleetrun
from tests.unit.strategies_hostile import json_documents, spoiled, yaml_documents

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

HOSTILE = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
pytestmark = pytest.mark.timeout(60)  # the examples of one test; they take a few seconds
MAX_LINE = 500


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def fresh(folder: Path) -> Path:
    """An empty directory for one example (module-scoped: Hypothesis reruns the test body)."""
    directory = folder / "case"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    return directory


def assert_clear(exc: LabctlError, path: Path) -> None:
    """Exit 2; each line one line, bounded, naming the file; a hint on what to do."""
    assert exc.exit_code == ExitCode.INVALID_INPUT, (type(exc), exc.exit_code)
    lines = exc.lines()
    assert 1 <= len(lines) <= 21
    for line in lines:
        assert "\n" not in line
        assert len(line) <= MAX_LINE, line[:200]
    assert all(str(path) in line for line in lines[:20]), lines
    assert exc.hint


def holds_the_rule(load: Callable[[], Any], path: Path) -> None:
    try:
        load()
    except LabctlError as exc:
        assert_clear(exc, path)
        event("refused")
    else:
        event("loaded")


# --- lab.yaml ---------------------------------------------------------------------------------


@HOSTILE
@given(content=spoiled(yaml_documents()))
def test_lab_yaml_loads_or_is_one_clear_line_per_problem(folder: Path, content: bytes) -> None:
    path = fresh(folder) / "lab.yaml"
    path.write_bytes(content)
    try:
        loaded = load_lab(path)
    except SpecError as exc:
        assert_clear(exc, path)
        event("refused")
    else:
        assert isinstance(loaded.lab, Lab)
        event("valid lab")


# --- the JSON files labctl writes and reads back -----------------------------------------------

STATE = state.LabState(
    lab="demo",
    spec_hash="0123456789abcdef",
    phases={"render": state.PhaseRecord("done", 1.0, 2.5, "0123456789abcdef")},
    machines={"demo-server-1": "9f2c"},
)
SNAPSHOTS = snapshot.Manifest(
    lab="demo",
    snapshots=(snapshot.SnapshotRecord("base", 1.0, ("demo-server-1",), "lxc", "01", 3.0, STATE),),
)
BUNDLE = bundle.Manifest(
    labctl_version="0.1.0",
    lab="demo",
    spec_hash="01",
    files=(bundle.ManifestEntry("k3s", "https://example.invalid/k3s", "ab" * 32, 10, "now"),),
    not_fetched=(bundle.NotFetched("argocd-install.yaml", "https://example.invalid/a", "offline"),),
)
SSH = {
    "demo-server-1": {
        "name": "demo-server-1",
        "host": "127.0.0.1",
        "port": 2222,
        "user": "vagrant",
        "key_file": "/tmp/key",
    }
}
FLEET = {
    "labs": [{"name": "team-01", "network": {"cidr": "10.10.0.0/24"}}],
    "specs": ["team-01.yaml"],
    "source": "lab.yaml",
}

RECORDS: dict[str, tuple[str, dict[str, Any], Callable[[Path], Any]]] = {
    "state.json": (
        "state.json",
        json.loads(STATE.to_json()),
        lambda d: state.load_state(d, "demo"),
    ),
    "snapshots.json": (
        snapshot.MANIFEST,
        json.loads(SNAPSHOTS.to_json()),
        lambda d: snapshot.load_manifest(d, "demo"),
    ),
    "bundle manifest.json": (bundle.MANIFEST, json.loads(BUNDLE.to_json()), bundle.read_manifest),
    "ssh.json": ("ssh.json", SSH, workflow.load_targets),
    "fleet.json": (fleetrun.FLEET_FILE, FLEET, fleetrun.read_fleet),
}


@pytest.mark.parametrize("record", list(RECORDS))
def test_the_valid_records_load(folder: Path, record: str) -> None:
    """The generators start from records that load, so a refusal below is about the damage."""
    name, valid, load = RECORDS[record]
    directory = fresh(folder)
    (directory / name).write_text(json.dumps(valid))
    assert load(directory)


def _json_property(record: str) -> Callable[..., None]:
    name, valid, load = RECORDS[record]

    @HOSTILE
    @given(content=json_documents(valid))
    def check(folder: Path, content: bytes) -> None:
        directory = fresh(folder)
        (directory / name).write_bytes(content)
        holds_the_rule(lambda: load(directory), directory / name)

    return check


test_state_json_holds_the_rule = _json_property("state.json")
test_snapshots_json_holds_the_rule = _json_property("snapshots.json")
test_bundle_manifest_holds_the_rule = _json_property("bundle manifest.json")
test_ssh_json_holds_the_rule = _json_property("ssh.json")
test_fleet_json_holds_the_rule = _json_property("fleet.json")


# --- kubeconfigs: the lab's, and the user's that labctl merges into ----------------------------

LAB_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "default", "cluster": {"server": "https://192.168.56.10:6443"}}],
    "users": [{"name": "default", "user": {"client-key-data": "S0VZ"}}],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
    "current-context": "default",
}


def kubeconfig_documents() -> Any:
    # JSON is YAML: mutated kubeconfigs arrive as flow YAML, beside the hostile YAML documents
    return json_documents(LAB_KUBECONFIG) | spoiled(yaml_documents())


@HOSTILE
@given(content=kubeconfig_documents())
def test_the_lab_kubeconfig_loads_or_is_refused_clearly(folder: Path, content: bytes) -> None:
    path = fresh(folder) / "kubeconfig"
    path.write_bytes(content)
    holds_the_rule(lambda: kubeconfig.load_lab_kubeconfig(path), path)


@HOSTILE
@given(content=kubeconfig_documents())
def test_merging_into_a_hostile_user_kubeconfig_merges_or_leaves_it_alone(
    folder: Path, content: bytes
) -> None:
    directory = fresh(folder)
    lab = directory / "lab-kubeconfig"
    lab.write_text(yaml.safe_dump(LAB_KUBECONFIG))
    target = directory / "config"
    target.write_bytes(content)
    try:
        kubeconfig.merge_into_user_config(lab, "labctl-demo", target)
    except LabctlError as exc:
        assert_clear(exc, target)
        assert target.read_bytes() == content, "a refused kubeconfig is left untouched"
        event("refused")
    else:
        event("merged")
