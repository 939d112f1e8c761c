"""The shipped lessons as data: each loads in every language, has probes, hints and solutions,
its probes are ones their judges read (the contract), its solutions are real kubectl; broken
lesson files give one located line per problem, like lab.yaml."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from labctl.errors import ExitCode, LessonFileError
from labctl.lessons.kubectl import parse_kubectl
from labctl.lessons.loader import CONTENT, all_lessons, find_lesson, load_lesson
from labctl.lessons.registry import BY_NAME
from labctl.lessons.verdicts import LANGS

if TYPE_CHECKING:
    from pathlib import Path

LESSONS = all_lessons()
ISSUE_LESSONS = [
    "anatomy",
    "pods-and-nodes",
    "control-plane-and-datastore",
    "deployments",
    "services-and-load-balancing",
    "ingress",
    "node-failure",
    "gitops",
]
HANGUL = re.compile(r"[가-힣]")


def test_the_issue_s_eight_lessons_ship_in_course_order() -> None:
    assert [lesson.name for lesson in LESSONS] == ISSUE_LESSONS


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_every_step_has_probes_hints_and_a_solution_in_every_language(lesson) -> None:  # type: ignore[no-untyped-def]
    assert set(lesson.texts) == set(LANGS)
    for step in lesson.spec.steps:
        assert step.probes
        assert step.solution
        hints = {lang: lesson.text(lang).steps[step.id].hints for lang in LANGS}
        assert all(hints.values()), step.id
        # The Korean text says the same things, not fewer: as many hints as in English.
        assert len(hints["ko"]) == len(hints["en"]), step.id
        ko = lesson.text("ko").steps[step.id]
        assert HANGUL.search(ko.title), f"{lesson.name}/{step.id}: Korean title has no Korean"
        assert HANGUL.search(ko.body)
        assert all(HANGUL.search(h) for h in ko.hints)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_each_lesson_works_in_its_own_namespace_or_only_reads(lesson) -> None:  # type: ignore[no-untyped-def]
    namespace = lesson.spec.namespace
    creates = [
        c
        for s in lesson.spec.steps
        for c in s.solution
        if re.match(r"kubectl (create|run|expose|autoscale)\b", c)
    ]
    if lesson.name in ("anatomy", "control-plane-and-datastore"):
        assert namespace is None
        assert creates == []
        return
    if lesson.name == "gitops":  # works on Argo CD's demo app through Git, see its lesson.yaml
        assert namespace is None
        return
    assert namespace is not None
    assert namespace.startswith("lesson-")
    for command in creates:
        call = shlex.split(command)
        ns = call[call.index("-n") + 1] if "-n" in call else None
        assert ns == namespace or call[:3] == ["kubectl", "create", "namespace"], command


def test_probe_contract_every_probe_is_a_command_its_judge_reads() -> None:
    checked = 0
    for lesson in LESSONS:
        for step in lesson.spec.steps:
            for probe in step.probes:
                call = parse_kubectl(probe.run) if probe.run else None
                assert call is None or call.verb in ("get", "exec")
                problem = BY_NAME[probe.judge].reads.problem(call, probe.shared)
                assert problem is None, f"{lesson.name}/{step.id}: {probe.judge} {problem}"
                checked += 1
    assert checked >= 30


def test_the_contract_refuses_a_probe_its_judge_cannot_read() -> None:
    reads = BY_NAME["deployment-replicas"].reads
    assert reads.problem(parse_kubectl("kubectl get pods -n x -o json"), None) == (
        "reads deployment, not pod"
    )
    assert reads.problem(parse_kubectl("kubectl get deployment web -n x"), None) == (
        "reads JSON: add `-o json`"
    )
    assert reads.problem(parse_kubectl("kubectl get deployments -o json"), None) == (
        "reads one named object: `kubectl get KIND NAME ...`"
    )
    spread = BY_NAME["pods-on-ready-nodes"].reads
    assert spread.problem(parse_kubectl("kubectl get pods -o json"), None) is not None


KUBECTL = shutil.which("kubectl")
# Client-only dry runs: `kubectl run`, `expose`, `autoscale`, `set`, `scale`, `patch` need a
# server (they read objects or discovery first), so only `create` commands can be proven here.
CREATES = [
    (lesson.name, step.id, command)
    for lesson in LESSONS
    for step in lesson.spec.steps
    for command in step.solution
    if command.startswith("kubectl create ")
]


def test_there_are_create_solutions_to_prove() -> None:
    assert len(CREATES) >= 10


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl client on this machine")
@pytest.mark.parametrize(
    ("lesson", "step", "command"),
    CREATES,
    ids=[f"{n}/{s}/{i}" for i, (n, s, _) in enumerate(CREATES)],
)
def test_solution_commands_that_create_objects_pass_kubectl_client_dry_run(
    lesson: str, step: str, command: str, tmp_path: Path
) -> None:
    args = shlex.split(command)
    split = args.index("--") if "--" in args else len(args)
    args = [*args[:split], "--dry-run=client", "-o", "json", *args[split:]]
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "none")},
    )
    assert result.returncode == 0, f"{lesson}/{step}: {command}\n{result.stderr}"
    assert '"kind"' in result.stdout


def test_dry_run_fixtures_are_what_the_solutions_print() -> None:
    """The judges' fixtures start from these objects; a changed solution must change them."""
    deploy = find_lesson("deployments").spec.steps[0].solution[1]
    assert deploy == (
        "kubectl create deployment web --image=nginx:1.26 --replicas=3 -n lesson-deployments"
    )
    ingress = find_lesson("ingress").spec.steps[1].solution[0]
    assert "--rule='shop.lesson.lab/blue*=blue:80'" in ingress


# ---------------------------------------------------------------- broken lesson files


@pytest.fixture
def lesson_dir(tmp_path: Path) -> Path:
    target = tmp_path / "deployments"
    shutil.copytree(CONTENT / "deployments", target)
    return target


def one_line(directory: Path) -> list[str]:
    with pytest.raises(LessonFileError) as caught:
        load_lesson(directory)
    assert caught.value.exit_code is ExitCode.INVALID_INPUT
    lines = caught.value.lines()
    assert all("\n" not in line for line in lines)
    return lines


def test_a_missing_language_fails_the_lesson(lesson_dir: Path) -> None:
    (lesson_dir / "ko.md").unlink()
    assert one_line(lesson_dir) == [
        f"{lesson_dir / 'ko.md'}: missing: every lesson is written in en, ko"
    ]


def test_an_unknown_judge_names_file_line_column_and_field(lesson_dir: Path) -> None:
    spec = lesson_dir / "lesson.yaml"
    spec.write_text(spec.read_text().replace("judge: event-seen", "judge: events-seen"))
    [line] = one_line(lesson_dir)
    number = spec.read_text().splitlines().index("        judge: events-seen") + 1
    assert line.startswith(
        f"{spec}:{number}:16: steps[2].probes[0].judge: unknown judge 'events-seen'; known: "
    )


def test_a_probe_that_changes_the_cluster_is_refused(lesson_dir: Path) -> None:
    spec = lesson_dir / "lesson.yaml"
    spec.write_text(
        spec.read_text().replace(
            "run: kubectl get events -n lesson-deployments -o json",
            "run: kubectl delete pod web -n lesson-deployments",
        )
    )
    [line] = one_line(lesson_dir)
    number = (
        spec.read_text()
        .splitlines()
        .index("      - run: kubectl delete pod web -n lesson-deployments")
        + 1
    )
    assert line == (
        f"{spec}:{number}:14: steps[2].probes[0].run: `kubectl delete` changes the "
        "cluster; a probe only reads (use get or exec)"
    )


def test_judge_parameters_are_validated_where_they_are_written(lesson_dir: Path) -> None:
    spec = lesson_dir / "lesson.yaml"
    spec.write_text(spec.read_text().replace("with: {replicas: 3}", "with: {replica: 3}", 1))
    assert one_line(lesson_dir) == [
        f"{spec}:8:15: steps[0].probes[0].with.replicas: is required",
        f"{spec}:8:16: steps[0].probes[0].with.replica: unknown key 'replica'; did you mean "
        "'replicas'?",
    ]


def test_a_probe_its_judge_cannot_read_breaks_the_contract(lesson_dir: Path) -> None:
    spec = lesson_dir / "lesson.yaml"
    good = "run: kubectl get deployment web -n lesson-deployments -o json"
    spec.write_text(spec.read_text().replace(good, "run: kubectl get pods -n x -o json", 1))
    assert one_line(lesson_dir) == [
        f"{spec}:6:14: steps[0].probes[0].run: judge deployment-replicas reads deployment, not pod"
    ]


def test_markdown_problems_are_located(lesson_dir: Path) -> None:
    md = lesson_dir / "ko.md"
    text = md.read_text()
    text = text.replace("## scale: 5개로 늘리기", "## scales: 5개로 늘리기")
    md.write_text(text)
    lines = one_line(lesson_dir)
    number = text.splitlines().index("## scales: 5개로 늘리기") + 1
    assert lines == [
        f"{md}:{number}:1: steps.scales: lesson.yaml has no such step; did you mean 'scale'?",
        f"{md}: steps.scale: no `## scale: <title>` section",
    ]


def test_a_step_without_a_hint_is_refused(lesson_dir: Path) -> None:
    md = lesson_dir / "en.md"
    text = md.read_text()
    start = text.index("## rollback:")
    section = text[start:]
    md.write_text(text[:start] + section[: section.index("### Hint")])
    [line] = one_line(lesson_dir)
    assert line.endswith("steps.rollback: no hint; add a `### ` section with one under the step")


def test_yaml_syntax_errors_are_one_line(lesson_dir: Path) -> None:
    spec = lesson_dir / "lesson.yaml"
    spec.write_text("order: 4\nsteps:\n  - id: x\n   probes: []\n")
    [line] = one_line(lesson_dir)
    assert line.startswith(f"{spec}:4:")
    assert "YAML syntax error" in line
