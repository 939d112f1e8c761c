"""`labctl fleet lessons`: each member lab's progress read from its own lessons.json."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest

from labctl.lab.labdir import lab_dir_for
from labctl.lessons.fleet import fleet_lessons
from labctl.lessons.progress import LessonProgress, Progress, save_progress

if TYPE_CHECKING:
    from pathlib import Path


def member(tmp_path: Path, name: str) -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(f"name: {name}\n")
    return spec


def test_every_lab_by_lesson_with_a_damaged_lab_named(tmp_path: Path) -> None:
    first, second, third = (member(tmp_path, n) for n in ("ws-01", "ws-02", "ws-03"))
    deployments = LessonProgress(step=2, started_at=1.0)
    deployments.of("create").hints = 2
    deployments.of("scale").hints = 1
    anatomy = LessonProgress(step=4, started_at=1.0, finished_at=9.0)
    save_progress(
        lab_dir_for(first, "ws-01"),
        Progress(
            lab="ws-01",
            current="deployments",
            lessons={"deployments": deployments, "anatomy": anatomy},
        ),
    )
    lab_dir_for(third, "ws-03").mkdir(parents=True)
    (lab_dir_for(third, "ws-03") / "lessons.json").write_text("{oops")
    labs = fleet_lessons([first, second, third])
    assert [lab.lab for lab in labs] == ["ws-01", "ws-02", "ws-03"]
    assert labs[0].cells["deployments"].text() == "2/5 (h3)"
    assert labs[0].cells["anatomy"].text() == "done (h0)"
    assert labs[0].to_dict()["current"] == "deployments"
    assert labs[1].cells == {}
    assert labs[2].problem is not None
    assert labs[2].problem.endswith(
        "lessons.json is damaged (Expecting property name enclosed "
        "in double quotes: line 1 column 2 (char 1))"
    )


def test_fleet_lessons_command_prints_a_table_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labctl.cli.app import main
    from labctl.workshop.fleetrun import FLEET_FILE

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.yaml").write_text("name: ws\n")
    fleet = tmp_path / "fleet-ws"
    fleet.mkdir()
    labs = [{"name": f"ws-0{i}", "network": {"cidr": f"10.200.0.{16 * i}/28"}} for i in (1, 2)]
    record = {"specs": ["ws-01.yaml", "ws-02.yaml"], "labs": labs}  # as write_fleet writes it
    (fleet / FLEET_FILE).write_text(json.dumps(record))
    member(fleet, "ws-01")
    member(fleet, "ws-02")
    save_progress(
        lab_dir_for(fleet / "ws-01.yaml", "ws-01"),
        Progress(
            lab="ws-01",
            current="anatomy",
            lessons={"anatomy": LessonProgress(step=1, started_at=1.0)},
        ),
    )
    with pytest.raises(SystemExit) as exited:
        main(["fleet", "lessons"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    lines = out.splitlines()
    assert lines[0] == "Fleet lessons (steps done/all, h = hints used)"
    assert lines[2].split()[:4] == ["ws-01", "1/4", "(h0)", "-"]
    assert lines[3].split()[:2] == ["ws-02", "-"]
    with pytest.raises(SystemExit):
        main(["fleet", "lessons", "-o", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data[0]["lessons"]["anatomy"]["steps_done"] == 1


def test_handouts_list_the_learner_s_lessons_and_the_index_sums_them(tmp_path: Path) -> None:
    from labctl.lessons.fleet import lesson_lines, summary
    from labctl.registry import plan_lab
    from labctl.spec.loader import parse_lab
    from labctl.workshop.handout import HandoutFacts, IndexEntry, render_handout, render_index

    plan = plan_lab(parse_lab("name: ws\n").lab)
    none = HandoutFacts(workdir="/w")
    assert "Lessons" not in render_handout(plan, none).markdown, "nothing started, no section"
    deployments = LessonProgress(step=1, started_at=1.0)
    deployments.of("create").hints = 2
    deployments.of("create").solution_shown = True
    save_progress(
        tmp_path, Progress(lab="ws", current="deployments", lessons={"deployments": deployments})
    )
    lines, problem = lesson_lines(tmp_path, "ws")
    assert problem is None
    files = render_handout(plan, HandoutFacts(workdir="/w", lessons=lines))
    assert (
        "| `deployments` Deployments: keep N copies running, scale, heal, roll out, roll back "
        "| step 2 of 5 | 2 | 1 |"
    ) in files.markdown
    assert '<section id="lessons">' in files.html
    entry = IndexEntry.from_plan(plan, None)
    plain = render_index([entry])
    assert "<th>Lessons</th>" not in plain
    with_lessons = render_index([dataclasses.replace(entry, lessons=summary(lines))])
    assert "<td>deployments step 2 of 5 · 2 hints</td>" in with_lessons
    (tmp_path / "lessons.json").write_text("[]")
    lines, problem = lesson_lines(tmp_path, "ws")
    assert lines == ()
    assert problem is not None
    assert "is damaged" in problem
    damaged = render_handout(plan, HandoutFacts(workdir="/w", lessons_problem=problem))
    assert "is damaged" in damaged.markdown
