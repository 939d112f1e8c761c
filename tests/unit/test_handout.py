"""Handouts: the topology layout, escaping, where secrets appear, file modes, Markdown, index."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from labctl.registry import plan_lab
from labctl.spec.loader import parse_lab
from labctl.tools.ssh import SshTarget
from labctl.workshop.handout import (
    BOX_PAD,
    CHAR_W,
    CheckLine,
    ChecksSummary,
    HandoutFacts,
    IndexEntry,
    KubeconfigMode,
    gather_facts,
    layout,
    md_block,
    md_code,
    parse_checks,
    render_handout,
    render_index,
    render_svg,
    write_handout,
)

if TYPE_CHECKING:
    from labctl.plan import Plan

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
SVG_NS = "{http://www.w3.org/2000/svg}"

ARGO_PW = "argo-Pw-3f9c"
GITLAB_PW = "gitlab-Pw-71aa"
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: labctl-ws\n  cluster:\n"
    "    server: https://192.168.56.10:6443\nusers:\n- name: labctl-ws\n  user:\n"
    "    client-key-data: S0VZLWRBVEEtc2VjcmV0\n"
)
KUBE_SECRET = "S0VZLWRBVEEtc2VjcmV0"


def plan_of(text: str) -> Plan:
    return plan_lab(parse_lab(text).lab)


def full_plan(name: str = "ws") -> Plan:
    return plan_of(
        f"name: {name}\nservers: {{count: 3}}\nagents: {{count: 2}}\n"
        "addons: {argocd: {enabled: true}, gitlab: {enabled: true}}\n"
    )


def renamed(plan: Plan, name: str) -> Plan:
    """A plan for a lab whose name bypassed validation: what a hostile name would render as."""
    return plan_lab(plan.lab.model_copy(update={"name": name}))


def facts(**overrides: object) -> HandoutFacts:
    base: dict[str, object] = {
        "workdir": "/home/learner/lab",
        "kubeconfig": KUBECONFIG,
        "argocd_password": ARGO_PW,
        "gitlab_root_password": GITLAB_PW,
        "checks": parse_checks((FIXTURES / "report-broken.json").read_text()),
    }
    base.update(overrides)
    return HandoutFacts(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- layout


SHAPES = [
    (servers, agents, gitlab, name)
    for servers in (1, 2, 3, 5, 7)
    for agents in (0, 1, 4, 5, 6, 20)
    for gitlab in (False, True)
    for name in ("a", "abcdefghijklmnopqrst")
]


def shape_plan(servers: int, agents: int, gitlab: bool, name: str) -> Plan:
    addons = "addons: {gitlab: {enabled: true}}\n" if gitlab else ""
    return plan_of(
        f"name: {name}\nservers: {{count: {servers}}}\nagents: {{count: {agents}}}\n{addons}"
    )


def _crosses(x1: float, y1: float, x2: float, y2: float, r: object) -> bool:
    """Whether an axis-aligned segment passes through a rectangle's interior."""
    rx, ry, rw, rh = r.x, r.y, r.w, r.h  # type: ignore[attr-defined]
    lo_x, hi_x, lo_y, hi_y = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    return lo_x < rx + rw and hi_x > rx and lo_y < ry + rh and hi_y > ry


@pytest.mark.parametrize(("servers", "agents", "gitlab", "name"), SHAPES)
def test_layout_never_overlaps_and_keeps_everything_on_the_canvas(
    servers: int, agents: int, gitlab: bool, name: str
) -> None:
    plan = shape_plan(servers, agents, gitlab, name)
    diagram = layout(plan)
    rects = [b.rect for b in diagram.boxes] + [label.rect for label in diagram.labels]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.overlaps(b), f"{a} overlaps {b}"
        assert a.x >= 0
        assert a.y >= 0
        assert a.x + a.w <= diagram.width
        assert a.y + a.h <= diagram.height
    for line in diagram.lines:
        for box in diagram.boxes:
            assert not _crosses(line.x1, line.y1, line.x2, line.y2, box.rect), (line, box.title)
    for box in diagram.boxes:
        assert len(box.title) * CHAR_W + 2 * BOX_PAD <= box.rect.w, f"{box.title} overflows"
    machines = {b.title: b.address for b in diagram.boxes if b.kind != "host"}
    assert machines == {m.name: m.ip for m in plan.machines}
    assert diagram == layout(plan), "same plan, same picture"


def test_layout_rows_fill_left_to_right_in_plan_order() -> None:
    diagram = layout(shape_plan(1, 6, False, "ws"))
    agents = [b for b in diagram.boxes if b.kind == "agent"]
    assert [b.title for b in agents] == [f"ws-agent-{i}" for i in range(1, 7)]
    assert agents[0].rect.y == agents[4].rect.y < agents[5].rect.y  # 5 columns, then a new row
    assert agents[5].rect.x == agents[0].rect.x


def test_every_machine_connects_to_the_network() -> None:
    """Each box has a cable ending on its top edge, and the network trunk reaches that row."""
    diagram = layout(shape_plan(3, 7, True, "ws"))
    for box in diagram.boxes[1:]:
        centre = box.rect.x + box.rect.w / 2
        assert any(
            line.x1 == line.x2 == centre and max(line.y1, line.y2) == box.rect.y
            for line in diagram.lines
        ), box.title


def test_svg_is_well_formed_and_names_every_machine_and_address() -> None:
    plan = full_plan()
    root = ET.fromstring(render_svg(plan))  # noqa: S314 - our own output
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    for machine in plan.machines:
        assert machine.name in texts
        assert machine.ip in texts
    assert "lab network 192.168.56.0/24" in texts
    assert "192.168.56.1 on the lab network" in texts
    assert root.find(f"{SVG_NS}title") is not None


# ---------------------------------------------------------------- HTML


def test_page_is_self_contained() -> None:
    html = render_handout(full_plan(), facts()).html
    lowered = html.lower()
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert forbidden not in lowered
    assert "default-src 'none'" in html  # the browser refuses any request even if one slipped in
    assert "<svg" in html
    assert "<style>" in html


def test_hostile_lab_name_is_escaped_everywhere() -> None:
    hostile = '<script>alert(1)</script>"x'
    plan = renamed(full_plan(), hostile)
    files = render_handout(plan, facts())
    assert "<script>" not in files.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;x" in files.html
    assert "<script>" not in render_svg(plan)
    ET.fromstring(render_svg(plan))  # noqa: S314 - our own output, still well-formed XML
    assert not re.search(r"(?<!\\)<script", outside_code(files.markdown))


def outside_code(markdown: str) -> str:
    """The Markdown a renderer would parse as markup: fenced blocks and code spans removed
    (their content is shown as text, escaped by the renderer)."""
    prose = re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", markdown, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)", "", prose)


def test_check_messages_cannot_inject_markup() -> None:
    checks = ChecksSummary(
        ok=False,
        checks=(
            CheckLine("dns", "failed", "<img src=x onerror=alert(1)> | `tick` [x](javascript:1)"),
        ),
    )
    files = render_handout(full_plan(), facts(checks=checks))
    assert "<img" not in files.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in files.html
    row = next(line for line in files.markdown.splitlines() if line.startswith("| `dns`"))
    assert not re.search(r"(?<!\\)<", outside_code(row)), "an unescaped < starts HTML"
    assert row.count(" | ") == 2, "the message's | must not add a table column"
    assert "\\[x\\](javascript:1)" in row


def test_secrets_appear_once_each_where_intended() -> None:
    files = render_handout(full_plan(), facts())
    for text in (files.html, files.markdown):
        assert text.count(ARGO_PW) == 1
        assert text.count(GITLAB_PW) == 1
        assert text.count(KUBE_SECRET) == 1
    section = files.html.split('<section id="apps">')[1].split("</section>")[0]
    assert ARGO_PW in section
    assert GITLAB_PW in section
    assert KUBE_SECRET in files.html.split('<pre class="copy" id="kubeconfig"')[1]


def test_addon_credentials_only_when_the_addon_is_enabled() -> None:
    plan = plan_of("name: plain\n")
    files = render_handout(plan, facts())
    for text in (files.html, files.markdown):
        assert ARGO_PW not in text
        assert GITLAB_PW not in text
        assert "Argo CD" not in text
        assert "GitLab" not in text
        assert "http://demo.plain.lab/api" in text


def test_missing_addon_secrets_say_when_they_come() -> None:
    files = render_handout(full_plan(), facts(argocd_password=None, gitlab_root_password=None))
    assert "not saved yet" in files.html
    assert "not created yet" in files.html


@pytest.mark.parametrize("mode", list(KubeconfigMode))
def test_kubeconfig_modes(mode: KubeconfigMode) -> None:
    files = render_handout(full_plan(), facts(), kubeconfig=mode)
    names = [name for name, _ in files.items()]
    if mode is KubeconfigMode.EMBED:
        assert KUBE_SECRET in files.html
        assert KUBE_SECRET in files.markdown
        assert names == ["ws.html", "ws.md"]
    elif mode is KubeconfigMode.FILE:
        assert KUBE_SECRET not in files.html + files.markdown
        assert names == ["ws.html", "ws.md", "ws-kubeconfig.yaml"]
        assert files.kubeconfig == KUBECONFIG
        assert 'href="ws-kubeconfig.yaml"' in files.html
    else:
        assert KUBE_SECRET not in files.html + files.markdown
        assert "labctl kubeconfig get" in files.html
        assert names == ["ws.html", "ws.md"]


def test_no_kubeconfig_yet_and_no_checks_yet() -> None:
    files = render_handout(full_plan(), facts(kubeconfig=None, checks=None))
    assert "No kubeconfig yet" in files.html
    assert "checks not run yet" in files.html
    assert "Not run yet" in files.html
    assert "Not run yet" in files.markdown


def test_ssh_commands_from_ssh_json_and_through_labctl() -> None:
    targets = (
        SshTarget("ws-server-1", "127.0.0.1", 2222, "vagrant", Path("/keys/my key")),
        SshTarget("ws-agent-1", "192.168.56.13", 22, "vagrant", Path("/keys/k")),
    )
    files = render_handout(full_plan(), facts(ssh=targets, spec_arg="team lab.yaml"))
    assert "ssh -i &#39;/keys/my key&#39; -p 2222 vagrant@127.0.0.1" in files.html
    assert "`ssh -i '/keys/my key' -p 2222 vagrant@127.0.0.1`" in files.markdown
    assert "labctl ssh -f &#39;team lab.yaml&#39; server-2" in files.html
    assert "labctl ssh -f 'team lab.yaml' gitlab" in files.markdown
    assert "labctl kubeconfig merge -f &#39;team lab.yaml&#39;" in files.html
    assert "`labctl check 'team lab.yaml'`" in files.markdown
    assert files.html.count("after <code>labctl up</code>") == 4  # booted, 4 of 6 not in ssh.json


def test_check_results_in_page_and_markdown() -> None:
    files = render_handout(full_plan(), facts())
    assert "10 failed, 1 error, 3 skipped" in files.html
    assert '<span class="st st-error">error</span>' in files.html
    assert "| `clock` | FAILED | demo-agent-2 is 41.9 s behind the host" in files.markdown
    assert ">failing<" in files.html


# ---------------------------------------------------------------- Markdown


def test_markdown_lists_machines_urls_and_kubeconfig_block() -> None:
    md = render_handout(full_plan(), facts()).markdown
    for machine in full_plan().machines:
        assert f"| `{machine.name}` |" in md
        assert f"`{machine.ip}`" in md
    assert "192.168.56.10 demo.ws.lab argocd.ws.lab" in md
    assert "- **Argo CD:** `http://argocd.ws.lab`, user `admin`" in md
    assert "- **GitLab:** `http://192.168.56.15`" in md
    assert "```yaml\napiVersion: v1\n" in md


def test_markdown_fences_hold_their_content() -> None:
    assert md_block("a\n```\nb") == "````\na\n```\nb\n````"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b") == "`a\\|b`"


# ---------------------------------------------------------------- checks.json


def test_parse_checks_reads_the_v1_report() -> None:
    summary = parse_checks((FIXTURES / "report-broken.json").read_text())
    assert (summary.readiness, summary.count("failed"), summary.count("skipped")) == (
        "failing",
        10,
        3,
    )
    assert summary.checks[0] == CheckLine(
        "nodes-ready", "error", "demo-server-1 (127.0.0.1:2200) is not reachable"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not JSON"),
        ('{"schema": "other"}', "not a labctl.checks/v1 report"),
        ('{"schema": "labctl.checks/v1", "checks": 3}', "not a list"),
    ],
)
def test_parse_checks_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_checks(text)


def test_ok_flag_cannot_hide_a_failed_check() -> None:
    doc = {"schema": "labctl.checks/v1", "ok": True,
           "checks": [{"name": "dns", "status": "failed", "message": "no"}]}  # fmt: skip
    assert parse_checks(json.dumps(doc)).readiness == "failing"


# ---------------------------------------------------------------- files on disk


def lab_dir_with_secrets(tmp_path: Path, plan: Plan) -> Path:
    lab_dir = tmp_path / ".labctl" / plan.name
    secrets = lab_dir / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "k3s-token").write_text("K3S-TOKEN-never-shown\n")
    (secrets / "gitlab-api-token").write_text("glpat-never-shown\n")
    (secrets / "argocd-admin-password").write_text(ARGO_PW + "\n")
    (secrets / "gitlab-root-password").write_text(GITLAB_PW + "\n")
    (lab_dir / "kubeconfig").write_text(KUBECONFIG)
    shutil.copy(FIXTURES / "report-broken.json", lab_dir / "checks.json")
    (lab_dir / "ssh.json").write_text(
        json.dumps(
            {
                "ws-server-1": {
                    "name": "ws-server-1",
                    "host": "127.0.0.1",
                    "port": 2200,
                    "user": "vagrant",
                    "key_file": "/k/id",
                }
            }
        )
    )
    return lab_dir


def test_gather_facts_reads_the_lab_dir_and_never_the_tokens(tmp_path: Path) -> None:
    plan = full_plan()
    lab_dir = lab_dir_with_secrets(tmp_path, plan)
    gathered = gather_facts(plan, lab_dir, workdir=str(tmp_path))
    assert gathered.argocd_password == ARGO_PW  # stripped of its newline
    assert gathered.checks is not None
    assert gathered.checks.readiness == "failing"
    assert gathered.checks_when is not None
    assert [t.name for t in gathered.ssh] == ["ws-server-1"]
    assert ARGO_PW not in repr(gathered)
    assert KUBE_SECRET not in repr(gathered)
    files = render_handout(plan, gathered, kubeconfig=KubeconfigMode.FILE)
    for _, content in files.items():
        assert "K3S-TOKEN" not in content
        assert "glpat" not in content


def test_gather_facts_before_anything_exists(tmp_path: Path) -> None:
    gathered = gather_facts(full_plan(), tmp_path / "nothing", workdir="/w")
    assert gathered == HandoutFacts(workdir="/w")


def test_unreadable_checks_and_ssh_json_are_not_fatal(tmp_path: Path) -> None:
    plan = full_plan()
    lab_dir = lab_dir_with_secrets(tmp_path, plan)
    (lab_dir / "checks.json").write_text("{oops")
    (lab_dir / "ssh.json").write_text('{"ws-server-1": {"host": "x"}}')
    gathered = gather_facts(plan, lab_dir, workdir="/w")
    assert gathered.checks is None
    assert "checks.json cannot be read: not JSON" in render_handout(plan, gathered).html
    assert gathered.ssh == ()  # a mangled ssh.json: labctl ssh still offered, plain ssh not


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    out = tmp_path / "handout"
    files = render_handout(full_plan(), facts(), kubeconfig=KubeconfigMode.FILE)
    written = write_handout(files, out)
    assert [p.name for p in written] == ["ws.html", "ws.md", "ws-kubeconfig.yaml"]
    assert all(mode(p) == 0o600 for p in written)
    assert mode(out) == 0o700
    assert written[0].read_text() == files.html


def test_rewriting_tightens_a_loose_existing_file(tmp_path: Path) -> None:
    files = render_handout(full_plan(), facts())
    (tmp_path / "ws.html").write_text(files.html)
    (tmp_path / "ws.html").chmod(0o644)
    write_handout(files, tmp_path)
    assert mode(tmp_path / "ws.html") == 0o600
    assert not list(tmp_path.glob(".*.tmp")), "no temp file left behind"


# ---------------------------------------------------------------- index


def test_index_lists_labs_with_readiness_and_links_and_no_secrets() -> None:
    ready = ChecksSummary(ok=True, checks=(CheckLine("dns", "passed", "ok"),))
    labs = [
        IndexEntry.from_plan(plan_of("name: team-01\n"), ready),
        IndexEntry.from_plan(
            plan_of("name: team-02\nnetwork: {cidr: 192.168.57.0/24}\n"),
            parse_checks((FIXTURES / "report-broken.json").read_text()),
            href="team-02/team-02.html",
        ),
        IndexEntry.from_plan(plan_of("name: team-03\n"), None, note="failed in boot"),
    ]
    html = render_index(labs, title="Workshop <b>")
    assert "<b>" not in html
    assert "Workshop &lt;b&gt;" in html
    rows = re.findall(r"<tr>\n(.*?)</tr>", html, flags=re.DOTALL)
    assert len(rows) == 3
    assert "team-01" in rows[0]
    assert ">ready<" in rows[0]
    assert 'href="team-01.html"' in rows[0]
    assert "192.168.57.0/24" in rows[1]
    assert ">failing<" in rows[1]
    assert 'href="team-02/team-02.html"' in rows[1]
    assert ">not checked<" in rows[2]
    assert "failed in boot" in rows[2]
    assert "3 labs · 1 ready" in html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "http://evil/x.html", "//evil/x"])
def test_index_links_must_be_relative(href: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        IndexEntry("x", "10.0.0.0/24", 3, href)


# ---------------------------------------------------------------- command


def test_command_writes_the_handout_beside_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.cli.handout import handout

    app = typer.Typer()
    app.command()(handout)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team.yaml").write_text("name: ws\naddons: {argocd: {enabled: true}}\n")
    result = CliRunner().invoke(app, ["team.yaml", "-o", "json"])
    assert result.exit_code == 0, result.output
    written = [Path(p) for p in json.loads(result.stdout)["files"]]
    assert [p.name for p in written] == ["ws.html", "ws.md"]
    assert written[0].parent == tmp_path / ".labctl" / "ws" / "handout"
    html = written[0].read_text()
    assert "labctl ssh -f team.yaml server-1" in html
    assert f'<code class="path">{tmp_path}</code>' in html
    assert "not saved yet" in html  # argocd enabled, lab never booted


def test_a_machine_behind_a_jump_host_gets_a_plain_command_through_it() -> None:
    hypervisor = SshTarget("hv1", "hv1.example.net", 2200, "labs", None)
    behind = SshTarget("ws-server-1", "192.168.121.37", 22, "vagrant", Path("/k"), hypervisor)
    files = render_handout(full_plan(), facts(ssh=(behind,)))
    assert "`ssh -i /k -p 22 -J labs@hv1.example.net:2200 vagrant@192.168.121.37`" in (
        files.markdown
    )
