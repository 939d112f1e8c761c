"""The runner over a recorded-output replay: order, selection, polls with bounds, secrets on
stdin, machines that cannot be reached. No machine is contacted here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from labctl.checks import Clocks, Credentials, Status, exit_code, run_checks, select_checks
from labctl.checks.replay import RecordedOutputReplay, Recording, result
from labctl.errors import ExitCode, SshUnreachableError, UsageError
from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import CommandResult, SshTarget

if TYPE_CHECKING:
    from labctl.plan import Plan

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
DEFAULT = "name: demo\n"
FULL = "name: full\naddons:\n  argocd: {enabled: true}\n  gitlab: {enabled: true, memory: 6GiB}\n"
# Made-up secrets: the tests follow them to prove they never leave stdin.
SECRETS = Credentials(
    argocd_admin_password="argo-pw-Xq1",  # noqa: S106 - a test value, not a credential
    gitlab_root_password="gl-pw-Zr7",  # noqa: S106 - a test value, not a credential
    gitlab_api_token="glpat-tok3n",  # noqa: S106 - a test value, not a credential
)


class FakeClocks:
    """Simulated time: sleeping advances it, so a 120 s poll bound passes in no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1764234000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clocks(self) -> Clocks:
        return Clocks(self.monotonic, self.wall, self.sleep)


def plan_of(text: str) -> Plan:
    return plan_lab(parse_lab(text).lab)


def targets(plan: Plan) -> dict[str, SshTarget]:
    return {
        m.name: SshTarget(m.name, "127.0.0.1", 2200 + i, "vagrant", Path(f"/lab/{m.name}.key"))
        for i, m in enumerate(plan.machines)
    }


def run(plan: Plan, replay: RecordedOutputReplay, fake: FakeClocks, **kwargs: object):  # type: ignore[no-untyped-def]
    return run_checks(
        plan,
        targets(plan),
        Path("/lab/known_hosts"),
        executor=replay,
        clocks=fake.clocks(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_healthy_recording_passes_every_check_in_catalogue_order() -> None:
    fake = FakeClocks()
    replay = RecordedOutputReplay.from_file(FIXTURES / "recording-healthy.json")
    results = run(plan_of(DEFAULT), replay, fake)
    assert [(r.name, r.status.value) for r in results] == [
        ("nodes-ready", "passed"),
        ("node-ips", "passed"),
        ("system-pods", "passed"),
        ("datastore", "passed"),
        ("dns", "passed"),
        ("pod-network", "passed"),
        ("deployment", "passed"),
        ("replicaset-self-heal", "passed"),
        ("service-balancing", "passed"),
        ("ingress", "passed"),
        ("argocd", "skipped"),
        ("gitlab", "skipped"),
        ("gitops", "skipped"),
        ("clock", "passed"),
    ]
    assert exit_code(results) is ExitCode.OK
    heal = next(r for r in results if r.name == "replicaset-self-heal")
    # The poll saw ContainerCreating twice, then the replacement: two 3 s pauses.
    assert heal.message.endswith("replaced it with demo-7c9d8b6f5d-h2j5v in 6 s")
    assert fake.sleeps == [3.0, 3.0]
    assert next(r for r in results if r.name == "gitops").message == (
        "needs argocd and gitlab, not enabled in the lab spec"
    )


def test_broken_recording_fails_with_what_the_learner_should_fix() -> None:
    fake = FakeClocks()
    replay = RecordedOutputReplay.from_file(FIXTURES / "recording-broken.json")
    results = {r.name: r for r in run(plan_of(DEFAULT), replay, fake)}
    assert {name: r.status.value for name, r in results.items() if r.status is Status.PASSED} == {}
    assert results["node-ips"].message.startswith("demo-agent-1 advertises 10.0.2.15")
    assert results["system-pods"].message.startswith("coredns-697968c856-x7tq2: CrashLoopBackOff")
    assert results["deployment"].message.startswith("demo/demo: 2/3 replicas available")
    assert results["replicaset-self-heal"].message.startswith(
        "deleted demo-7c9d8b6f5d-4xkqp; after 120 s only 2/3 pods ready"
    )
    assert results["clock"].message.startswith("demo-agent-2 is 41.9 s behind the host")
    assert results["ingress"].message.endswith("HTTP 404 (no Ingress routes this host)")
    # The self-heal poll stopped at its bound instead of waiting forever.
    assert sum(fake.sleeps) <= 120
    assert exit_code(results.values()) is ExitCode.CHECKS_FAILED


def test_secrets_travel_on_stdin_only() -> None:
    plan = plan_of(FULL)
    replay = RecordedOutputReplay(
        [
            Recording("*", "/api/version", (result('{"Version": "v2.14.11+8283115"}'),)),
            Recording("*", "/api/v1/session", (result('{"http_code": 200}'),)),
            Recording("*", "/-/readiness", (result('{"status":"ok","master_check":[]}'),)),
            Recording("*", "/oauth/token", (result('{"http_code": 200}'),)),
        ]
    )
    results = run(plan, replay, FakeClocks(), only=["argocd", "gitlab"], credentials=SECRETS)
    assert [r.status for r in results] == [Status.PASSED, Status.PASSED]
    secrets = ("argo-pw-Xq1", "gl-pw-Zr7", "glpat-tok3n")
    for call in replay.calls:
        assert not any(s in call.command for s in secrets), call.command
    stdins = [c.stdin or "" for c in replay.calls]
    assert any("argo-pw-Xq1" in s for s in stdins)
    assert any("gl-pw-Zr7" in s for s in stdins)
    assert not any(s in r.message for r in results for s in secrets)


def test_missing_saved_password_fails_the_check_without_running_the_login() -> None:
    replay = RecordedOutputReplay(
        [Recording("*", "/api/version", (result('{"Version": "v2.14.11"}'),))]
    )
    (argocd,) = run(plan_of(FULL), replay, FakeClocks(), only=["argocd"])
    assert argocd.status is Status.FAILED
    assert argocd.message == "the saved Argo CD admin password was not found in the lab directory"
    assert all("/api/v1/session" not in c.command for c in replay.calls)


def test_gitops_state_machine_commits_waits_and_reverts() -> None:
    fixture = (FIXTURES / "deployment-healthy.json").read_text()
    scaled = (FIXTURES / "deployment-scaled-4.json").read_text()
    app = (FIXTURES / "argocd-application-healthy.json").read_text()
    replay = RecordedOutputReplay(
        [
            Recording("*", "get applications.argoproj.io", (result(app),)),
            # deployment (original), applied poll: 3, 3, then 4; restored poll: 3.
            Recording(
                "*",
                "get deployment demo",
                (
                    result(fixture),
                    result(fixture),
                    result(fixture),
                    result(scaled),
                    result(fixture),
                ),
            ),
            Recording("full-gitlab", "python3 -c", (result('{"from": 3, "to": 4}\n'),)),
            Recording("*", "annotate applications.argoproj.io", (result("annotated\n"),)),
        ]
    )
    fake = FakeClocks()
    (gitops,) = run(plan_of(FULL), replay, fake, only=["gitops"], credentials=SECRETS)
    assert gitops.status is Status.PASSED, gitops.message
    assert gitops.message.startswith("Application argocd/demo Synced and Healthy")
    commits = [c for c in replay.calls if c.machine == "full-gitlab"]
    assert [c.stdin for c in commits] == ["glpat-tok3n\n4\n", "glpat-tok3n\n3\n"]
    assert fake.sleeps == [5.0, 5.0]


def test_unreachable_machine_is_an_error_result_not_a_crash() -> None:
    class Unreachable:
        def run(
            self,
            target: SshTarget,
            command: str,
            timeout: float = 60.0,
            *,
            stdin: str | None = None,
        ) -> CommandResult:
            raise SshUnreachableError(f"{target.name} (127.0.0.1:2200) is not reachable over SSH")

    (nodes,) = run_checks(
        plan_of(DEFAULT),
        targets(plan_of(DEFAULT)),
        Path("/lab/known_hosts"),
        only=["nodes-ready"],
        executor=Unreachable(),
    )
    assert nodes.status is Status.ERROR
    assert nodes.message == "demo-server-1 (127.0.0.1:2200) is not reachable over SSH"
    assert exit_code([nodes]) is ExitCode.CHECKS_FAILED


def test_machine_without_ssh_details_is_an_error() -> None:
    plan = plan_of(DEFAULT)
    replay = RecordedOutputReplay.from_file(FIXTURES / "recording-healthy.json")
    partial = {k: v for k, v in targets(plan).items() if k != "demo-agent-2"}
    (clock,) = run_checks(
        plan,
        partial,
        Path("/lab/kh"),
        only=["clock"],
        executor=replay,
        clocks=FakeClocks().clocks(),
    )
    assert (clock.status, clock.message) == (
        Status.ERROR,
        "no SSH details for demo-agent-2 (is it running?)",
    )


def test_selection_honours_only_skip_and_the_spec() -> None:
    plan = plan_of(DEFAULT + "checks: {skip: [dns]}\n")
    chosen = {s.check.name: s.skip_reason for s in select_checks(plan, skip=["clock"])}
    assert chosen["dns"] == "skipped by checks.skip in the lab spec"
    assert chosen["clock"] == "skipped with --skip"
    assert chosen["argocd"] == "needs argocd, not enabled in the lab spec"
    assert chosen["nodes-ready"] is None
    only = select_checks(plan, only=["deployment", "nodes-ready"])
    assert [s.check.name for s in only] == ["nodes-ready", "deployment"]


def test_ingress_is_skipped_when_traefik_is_disabled() -> None:
    plan = plan_of(DEFAULT + "k3s: {disable: [traefik]}\n")
    chosen = {s.check.name: s.skip_reason for s in select_checks(plan)}
    assert chosen["ingress"] == "traefik is disabled in lab.yaml"


def test_unknown_check_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        select_checks(plan_of(DEFAULT), only=["nodes-redy"])
    assert caught.value.message == "unknown check 'nodes-redy'"
    assert "nodes-ready" in caught.value.hint
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_replay_answers_unknown_commands_with_127() -> None:
    replay = RecordedOutputReplay([])
    got = replay.run(targets(plan_of(DEFAULT))["demo-server-1"], "uptime")
    assert (got.exit_status, got.stderr) == (127, "replay: no recorded output for `uptime`")


def test_credentials_come_from_the_labs_secret_files(tmp_path: Path) -> None:
    from labctl.checks import load_credentials

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "gitlab-root-password").write_text("gl-pw-Zr7\n")
    (tmp_path / "secrets" / "argocd-admin-password").write_text("argo-pw-Xq1\n")
    loaded = load_credentials(tmp_path)
    assert loaded.gitlab_root_password == "gl-pw-Zr7"
    assert loaded.argocd_admin_password == "argo-pw-Xq1"
    assert loaded.gitlab_api_token is None
    assert "gl-pw" not in repr(loaded)
