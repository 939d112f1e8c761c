"""Handouts: a self-contained HTML page and a Markdown file per lab, for the person at the keyboard.

A workshop hands every student a page with their lab's picture, how to reach each machine, the
kubeconfig, the addon URLs and credentials, and what the smoke checks said. The page makes no
outside request (inline CSS and SVG, no fonts, no scripts), so it opens on venue Wi-Fi or none.

`render_handout(plan, facts)` and `render_index(labs)` are pure: everything read from disk
arrives in a frozen `HandoutFacts`, gathered by `gather_facts`, and `write_handout` is the only
writer (atomic, 0600, since the files hold credentials).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from labctl import __version__, resources
from labctl.checks.demo import DEMO_API_PATH, argocd_host, demo_host
from labctl.errors import RenderError
from labctl.kubeconfig import context_name
from labctl.plan import Role

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from labctl.lessons.fleet import LessonLine
    from labctl.plan import Machine, Plan
    from labctl.ssh import SshTarget

CHECKS_SCHEMA = "labctl.checks/v1"
ARGOCD_USER = "admin"
GITLAB_USER = "root"


class KubeconfigMode(StrEnum):
    """Where the handout puts the kubeconfig: in the page, in a file beside it, or nowhere."""

    EMBED = "embed"
    FILE = "file"
    OMIT = "omit"


# ---------------------------------------------------------------- check results


@dataclass(frozen=True)
class CheckLine:
    """One smoke check as checks.json recorded it."""

    name: str
    status: str  # passed|failed|error|skipped
    message: str


@dataclass(frozen=True)
class ChecksSummary:
    """The last check run of a lab (checks.json, schema labctl.checks/v1)."""

    ok: bool
    checks: tuple[CheckLine, ...]

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @property
    def readiness(self) -> str:
        """One word a facilitator scans a column of: ready, failing or empty."""
        if not self.checks:
            return "no checks"
        return "ready" if self.ok else "failing"

    @property
    def summary(self) -> str:
        """`11 passed, 1 failed, 2 skipped`, like `labctl check` ends."""
        parts = [
            f"{self.count(s)} {s}"
            for s in ("passed", "failed", "error", "skipped")
            if self.count(s)
        ]
        return ", ".join(parts) or "no checks"


def parse_checks(text: str) -> ChecksSummary:
    """checks.json -> ChecksSummary; ValueError saying what is wrong when it is not that file."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("schema") != CHECKS_SCHEMA:
        raise ValueError(f"not a {CHECKS_SCHEMA} report")
    raw = doc.get("checks")
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise ValueError("its `checks` is not a list of checks")
    lines = tuple(
        CheckLine(str(c.get("name", "?")), str(c.get("status", "?")), str(c.get("message", "")))
        for c in raw
    )
    failing = any(c.status in ("failed", "error") for c in lines)
    return ChecksSummary(ok=bool(doc.get("ok")) and not failing, checks=lines)


# ---------------------------------------------------------------- facts and files


@dataclass(frozen=True)
class HandoutFacts:
    """Everything a handout shows that is not in the plan: read from the lab directory.

    None means "not there yet" (the lab was never booted, an addon's secret not yet saved) and
    the page says so instead of leaving a hole.
    """

    workdir: str  # the folder to run `labctl` from (where lab.yaml is)
    spec_arg: str | None = None  # `-f` value when the spec is not ./lab.yaml
    ssh: tuple[SshTarget, ...] = ()  # from ssh.json, empty before the first boot
    kubeconfig: str | None = field(default=None, repr=False)
    argocd_password: str | None = field(default=None, repr=False)
    gitlab_root_password: str | None = field(default=None, repr=False)
    checks: ChecksSummary | None = None
    checks_problem: str | None = None  # checks.json exists but cannot be read
    checks_when: str | None = None  # when checks.json was written, as the edge formats it
    lessons: tuple[LessonLine, ...] = ()  # lessons the learner started (labctl lesson)
    lessons_problem: str | None = None  # lessons.json exists but cannot be read


@dataclass(frozen=True)
class HandoutFiles:
    """The rendered files of one lab's handout, by file name (written side by side)."""

    html_name: str
    html: str = field(repr=False)
    markdown_name: str
    markdown: str = field(repr=False)
    kubeconfig_name: str | None = None
    kubeconfig: str | None = field(default=None, repr=False)

    def items(self) -> tuple[tuple[str, str], ...]:
        """(file name, content) of every file, in a fixed order."""
        files = [(self.html_name, self.html), (self.markdown_name, self.markdown)]
        if self.kubeconfig_name is not None and self.kubeconfig is not None:
            files.append((self.kubeconfig_name, self.kubeconfig))
        return tuple(files)


def handout_names(lab: str) -> tuple[str, str, str]:
    """File names of a lab's handout: page, Markdown, kubeconfig (flat, so a fleet shares a dir)."""
    return f"{lab}.html", f"{lab}.md", f"{lab}-kubeconfig.yaml"


# ---------------------------------------------------------------- topology layout (pure)

CHAR_W = 8.0  # px per character of 13px monospace, rounded up (DejaVu Sans Mono: 7.83)
LABEL_CHAR_W = 7.6  # px per character of the 13px sans-serif labels, generous
BOX_H = 68
BOX_MIN_W = 176
BOX_PAD = 12
GAP_X = 18
MARGIN = 20
TRUNK_X = MARGIN + 10  # the lab network runs down the left edge to every row
COLUMN_X = MARGIN + 34  # where boxes start, right of the trunk
MAX_WIDTH = 1080  # fits the page's content column without scaling on a laptop screen
MAX_COLUMNS = 5
HOST_W = 300
HOST_H = BOX_H
SECTION_H = 24  # a section's title line
DROP = 20  # from a row's branch line down to its boxes
ROW_GAP = 14  # below a row of boxes


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in SVG user units."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Rect) -> bool:
        """True when the interiors meet (touching edges do not count)."""
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True)
class Box:
    """A machine (or the host) drawn as a card: name, role line, address."""

    rect: Rect
    kind: str  # server|agent|gitlab|host, also the CSS class
    title: str
    subtitle: str
    address: str


@dataclass(frozen=True)
class Label:
    """A line of text, with the box it occupies so tests can prove nothing covers it."""

    x: float
    y: float  # baseline
    text: str
    css: str

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y - 14, len(self.text) * LABEL_CHAR_W, 18)


@dataclass(frozen=True)
class Line:
    """A cable: horizontal or vertical only, so crossings are easy to rule out."""

    x1: float
    y1: float
    x2: float
    y2: float
    css: str = "link"


@dataclass(frozen=True)
class Diagram:
    """The topology picture as geometry; the SVG template only draws it."""

    width: float
    height: float
    boxes: tuple[Box, ...]
    labels: tuple[Label, ...]
    lines: tuple[Line, ...]


def _role_line(machine: Machine, servers: int) -> str:
    if machine.role is Role.SERVER:
        if servers == 1:
            return "K3s server"
        return "K3s server · initialises" if machine.primary else "K3s server · joins"
    if machine.role is Role.AGENT:
        return "K3s agent"
    return "GitLab"


def _sections(plan: Plan) -> list[tuple[str, tuple[Machine, ...]]]:
    servers, agents = plan.servers, plan.agents
    found = [
        (f"Control plane · {len(servers)} server{'s' if len(servers) != 1 else ''}", servers),
        (f"Workers · {len(agents)} agent{'s' if len(agents) != 1 else ''}", agents),
    ]
    if plan.gitlab is not None:
        found.append(("GitLab", (plan.gitlab,)))
    return [(title, machines) for title, machines in found if machines]


def layout(plan: Plan) -> Diagram:
    """Place the host, the lab network and every machine; same plan, same picture.

    Machines sit in rows under a section title; the network runs down the left edge (the
    trunk) and branches along the top of each row, so no cable passes through a card.
    """
    longest = max(len(m.name) for m in plan.machines)
    box_w = max(BOX_MIN_W, longest * CHAR_W + 2 * BOX_PAD)
    columns = max(
        1, min(MAX_COLUMNS, int((MAX_WIDTH - COLUMN_X - MARGIN + GAP_X) // (box_w + GAP_X)))
    )
    used_columns = min(columns, max(len(ms) for _, ms in _sections(plan)))
    width = max(
        COLUMN_X + used_columns * (box_w + GAP_X) - GAP_X + MARGIN,
        COLUMN_X + HOST_W + 40 + 34 * LABEL_CHAR_W + MARGIN,
    )

    net = plan.network
    host = Box(
        Rect(COLUMN_X, MARGIN, HOST_W, HOST_H),
        "host",
        "host computer",
        f"{plan.lab.provider}" + (f" · bridge {net.bridge}" if net.bridge else ""),
        f"{net.host_ip} on the lab network",
    )
    bus_y = MARGIN + HOST_H + 34
    host_x = COLUMN_X + HOST_W / 2
    boxes = [host]
    labels = [
        Label(COLUMN_X + HOST_W + 24, bus_y - 10, f"lab network {net.cidr}", "net"),
    ]
    lines = [
        Line(host_x, MARGIN + HOST_H, host_x, bus_y, "link"),
        Line(TRUNK_X, bus_y, width - MARGIN, bus_y, "bus"),
    ]

    y: float = bus_y + 16
    last_branch: float = bus_y
    for title, machines in _sections(plan):
        labels.append(Label(COLUMN_X, y + 16, title, "section"))
        y += SECTION_H
        for start in range(0, len(machines), columns):
            row = machines[start : start + columns]
            branch_y = y + DROP / 2
            top = y + DROP
            centres = [COLUMN_X + i * (box_w + GAP_X) + box_w / 2 for i in range(len(row))]
            lines.append(Line(TRUNK_X, branch_y, centres[-1], branch_y, "bus"))
            for machine, centre in zip(row, centres, strict=True):
                lines.append(Line(centre, branch_y, centre, top))
                boxes.append(
                    Box(
                        Rect(centre - box_w / 2, top, box_w, BOX_H),
                        machine.role.value,
                        machine.name,
                        _role_line(machine, len(plan.servers)),
                        machine.ip,
                    )
                )
            last_branch = branch_y
            y = top + BOX_H + ROW_GAP
    lines.append(Line(TRUNK_X, bus_y, TRUNK_X, last_branch, "bus"))
    return Diagram(width, y + MARGIN - ROW_GAP, tuple(boxes), tuple(labels), tuple(lines))


# ---------------------------------------------------------------- Markdown escaping

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&!])")


def md_text(value: object) -> str:
    """Plain text safe in Markdown prose and table cells: no markup, no HTML, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _fence_for(text: str, char: str = "`", least: int = 1) -> str:
    longest = max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)
    return char * max(least, longest + 1)


def md_code(value: object) -> str:
    """An inline code span that holds any text (fence longer than any backtick run inside)."""
    text = " ".join(str(value).split())
    fence = _fence_for(text)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # GitHub tables split cells on | even inside code spans; \| is the documented escape.
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def md_block(value: str, info: str = "") -> str:
    """A fenced code block that cannot be closed early by its own content."""
    fence = _fence_for(value, least=3)
    return f"{fence}{info}\n{value.rstrip(chr(10))}\n{fence}"


# ---------------------------------------------------------------- rendering (pure)


def _number(value: float) -> str:
    """A coordinate without float noise: 54 not 54.0, 12.5 stays."""
    return f"{value:.1f}".removesuffix(".0")


@cache
def _environment() -> jinja2.Environment:
    """The handout templates; HTML and SVG are autoescaped, Markdown uses the md_* filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.templates_dir() / "handout")),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # HTML and SVG; Markdown goes through _markdown_env
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = _number
    env.filters["md"] = md_text
    env.filters["mdcode"] = md_code
    env.filters["mdblock"] = md_block
    return env


@dataclass(frozen=True)
class SshRow:
    """How to reach one machine: through labctl, and with plain ssh when ssh.json is known."""

    name: str
    labctl: str
    plain: str | None


def _short(plan: Plan, machine: str) -> str:
    prefix = f"{plan.name}-"
    return machine[len(prefix) :] if machine.startswith(prefix) else machine


def ssh_rows(plan: Plan, facts: HandoutFacts) -> tuple[SshRow, ...]:
    """One row per machine in plan order; the plain command only for machines in ssh.json."""
    targets = {t.name: t for t in facts.ssh}
    spec = f" -f {shlex.quote(facts.spec_arg)}" if facts.spec_arg else ""
    rows = []
    for machine in plan.machines:
        target = targets.get(machine.name)
        plain = None
        if target is not None:
            argv = ["ssh", "-i", str(target.key_file), "-p", str(target.port)]
            plain = shlex.join([*argv, f"{target.user}@{target.host}"])
        rows.append(SshRow(machine.name, f"labctl ssh{spec} {_short(plan, machine.name)}", plain))
    return tuple(rows)


def _context(plan: Plan, facts: HandoutFacts, kubeconfig: KubeconfigMode) -> dict[str, Any]:
    lab = plan.lab
    _, _, kube_name = handout_names(plan.name)
    ingress_hosts = [demo_host(plan.name)]
    if lab.addons.argocd.enabled:
        ingress_hosts.append(argocd_host(plan.name))
    quoted = shlex.quote(facts.spec_arg) if facts.spec_arg else ""
    return {
        "plan": plan,
        "lab": lab,
        "facts": facts,
        "version": __version__,
        "diagram": layout(plan),
        "ssh_rows": ssh_rows(plan, facts),
        "booted": bool(facts.ssh),
        # ssh and kubeconfig take the spec as -f; check and handout as their first argument
        "spec_opt": f" -f {quoted}" if quoted else "",
        "spec_pos": f" {quoted}" if quoted else "",
        "context": context_name(plan.name),
        "kube_mode": kubeconfig.value,
        "kube_name": kube_name,
        "hosts_line": f"{plan.primary.ip} {' '.join(ingress_hosts)}",
        "demo_url": f"http://{demo_host(plan.name)}{DEMO_API_PATH}",
        "demo_curl": shlex.join(
            [
                "curl",
                "-H",
                f"Host: {demo_host(plan.name)}",
                f"http://{plan.primary.ip}{DEMO_API_PATH}",
            ]
        ),
        "argocd": lab.addons.argocd.enabled,
        "argocd_url": f"http://{argocd_host(plan.name)}",
        "argocd_user": ARGOCD_USER,
        "gitlab": plan.gitlab,
        "gitlab_url": f"http://{plan.gitlab.ip}" if plan.gitlab else None,
        "gitlab_user": GITLAB_USER,
        "traefik": "traefik" not in lab.k3s.disable,
    }


def render_svg(plan: Plan) -> str:
    """The topology picture alone, as an SVG document fragment (inline in the page)."""
    return _environment().get_template("topology.svg.j2").render(diagram=layout(plan), plan=plan)


def render_handout(
    plan: Plan, facts: HandoutFacts, *, kubeconfig: KubeconfigMode = KubeconfigMode.EMBED
) -> HandoutFiles:
    """The lab's page and Markdown (and kubeconfig file when asked), from the plan and facts."""
    env = _environment()
    context = _context(plan, facts, kubeconfig)
    context["svg"] = render_svg(plan)
    html_name, md_name, kube_name = handout_names(plan.name)
    with_file = kubeconfig is KubeconfigMode.FILE and facts.kubeconfig is not None
    return HandoutFiles(
        html_name=html_name,
        html=env.get_template("handout.html.j2").render(context),
        markdown_name=md_name,
        markdown=_markdown_env().get_template("handout.md.j2").render(context),
        kubeconfig_name=kube_name if with_file else None,
        kubeconfig=facts.kubeconfig if with_file else None,
    )


@cache
def _markdown_env() -> jinja2.Environment:
    """Same loader and filters, no HTML autoescape: Markdown escapes through md/mdcode/mdblock."""
    return _environment().overlay(autoescape=False)


# ---------------------------------------------------------------- facilitator index


@dataclass(frozen=True)
class IndexEntry:
    """One lab on the facilitator's index page; carries no secret."""

    name: str
    cidr: str
    machines: int
    href: str  # link to the lab's page, relative to the index
    checks: ChecksSummary | None = None
    note: str | None = None  # e.g. "failed in boot" from the fleet's own state
    lessons: str | None = None  # the learner's lessons in one line (labctl.lessons.fleet)

    def __post_init__(self) -> None:
        # The index only links to pages beside it; a scheme (javascript:, http:) is a bug.
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", self.href) or self.href.startswith("//"):
            msg = f"index link {self.href!r} must be a relative path to a handout page"
            raise ValueError(msg)

    @classmethod
    def from_plan(
        cls,
        plan: Plan,
        checks: ChecksSummary | None,
        href: str | None = None,
        note: str | None = None,
    ) -> IndexEntry:
        """An entry for a planned lab; href defaults to the handout's own file name."""
        return cls(
            plan.name,
            plan.network.cidr,
            len(plan.machines),
            href if href is not None else handout_names(plan.name)[0],
            checks,
            note,
        )

    @property
    def readiness(self) -> str:
        return self.checks.readiness if self.checks is not None else "not checked"


def render_index(labs: Sequence[IndexEntry], *, title: str = "labctl labs") -> str:
    """The facilitator's page: every lab with its network, readiness and a link to its handout."""
    ready = sum(1 for lab in labs if lab.readiness == "ready")
    return (
        _environment()
        .get_template("index.html.j2")
        .render(labs=list(labs), title=title, ready=ready, version=__version__)
    )


# ---------------------------------------------------------------- the edge: read and write


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _secret(path: Path) -> str | None:
    text = _read(path)
    return text.strip() if text is not None and text.strip() else None


def read_checks(lab_dir: Path) -> tuple[ChecksSummary | None, str | None, str | None]:
    """(summary, problem, when) from `<lab_dir>/checks.json`; all None when it does not exist."""
    import time  # noqa: PLC0415 - only the edge looks at the clock

    path = lab_dir / "checks.json"
    text = _read(path)
    if text is None:
        return None, None, None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    try:
        return parse_checks(text), None, when
    except ValueError as exc:
        return None, f"checks.json cannot be read: {exc}", when


def gather_facts(
    plan: Plan, lab_dir: Path, *, workdir: str, spec_arg: str | None = None
) -> HandoutFacts:
    """Read what the handout shows from the lab directory; missing files become None."""
    from labctl.errors import BootError  # noqa: PLC0415
    from labctl.kubeconfig import lab_kubeconfig_path  # noqa: PLC0415
    from labctl.labdir import lab_paths  # noqa: PLC0415
    from labctl.workflow import load_targets  # noqa: PLC0415

    paths = lab_paths(lab_dir)
    try:
        targets = tuple(load_targets(lab_dir).values())
    except (BootError, ValueError, KeyError, TypeError):  # never booted, or ssh.json mangled
        targets = ()
    checks, problem, when = read_checks(lab_dir)
    from labctl.lessons.fleet import lesson_lines  # noqa: PLC0415

    lessons, lessons_problem = lesson_lines(lab_dir, plan.name)
    lab = plan.lab
    return HandoutFacts(
        workdir=workdir,
        spec_arg=spec_arg,
        ssh=targets,
        kubeconfig=_read(lab_kubeconfig_path(lab_dir)),
        argocd_password=(
            _secret(Path(str(paths.argocd_password_file))) if lab.addons.argocd.enabled else None
        ),
        gitlab_root_password=(
            _secret(Path(str(paths.gitlab_password_file))) if plan.gitlab is not None else None
        ),
        checks=checks,
        checks_problem=problem,
        checks_when=when,
        lessons=lessons,
        lessons_problem=lessons_problem,
    )


def write_handout(files: HandoutFiles, out_dir: Path) -> list[Path]:
    """Write every file of the handout into out_dir (0700 when created), each 0600 and atomic."""
    from labctl.labdir import write_atomic  # noqa: PLC0415

    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = []
        for name, content in files.items():
            write_atomic(out_dir / name, content, mode=0o600)
            written.append(out_dir / name)
    except OSError as exc:
        raise RenderError(
            f"cannot write the handout into {out_dir}: {exc.strerror or exc}",
            "choose a writable folder with --out",
        ) from None
    return written


def write_index(labs: Iterable[IndexEntry], out_dir: Path, *, title: str = "labctl labs") -> Path:
    """index.html in out_dir (0600 like the pages it links to, though it holds no secret)."""
    from labctl.labdir import write_atomic  # noqa: PLC0415

    path = out_dir / "index.html"
    write_atomic(path, render_index(list(labs), title=title), mode=0o600)
    return path
