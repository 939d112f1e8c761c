"""The handout's pages (pure): the lab's facts in, HTML and Markdown out; and the fleet's index."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2

from labctl import __version__, resources
from labctl.checks.demo import DEMO_API_PATH, argocd_host, demo_host
from labctl.lab.kubeconfig import context_name
from labctl.messages import quoted

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labctl.lab.access import AccessRecord
    from labctl.lessons.fleet import LessonLine
    from labctl.plan import Plan
    from labctl.tools.ssh import SshTarget
from labctl.workshop.handout.laptop import laptop
from labctl.workshop.handout.topology import layout

CHECKS_SCHEMA = "labctl.checks/v1"


ARGOCD_USER = "admin"


GITLAB_USER = "root"


class KubeconfigMode(StrEnum):
    """Where the handout puts the kubeconfig: in the page, in a file beside it, or nowhere."""

    EMBED = "embed"
    FILE = "file"
    OMIT = "omit"


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
    from labctl.lab.readback import json_value  # noqa: PLC0415

    doc = json_value(text)  # a ValueError with the reason when it is not JSON
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
    access: AccessRecord | None = None  # access.json: attendees reach the lab from laptops
    attendee_key: str | None = field(default=None, repr=False)  # the private key for them


@dataclass(frozen=True)
class HandoutFiles:
    """The rendered files of one lab's handout, by file name (written side by side)."""

    html_name: str
    html: str = field(repr=False)
    markdown_name: str
    markdown: str = field(repr=False)
    kubeconfig_name: str | None = None
    kubeconfig: str | None = field(default=None, repr=False)
    laptop: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # key, ssh config, ...

    def items(self) -> tuple[tuple[str, str], ...]:
        """(file name, content) of every file, in a fixed order."""
        files = [(self.html_name, self.html), (self.markdown_name, self.markdown)]
        if self.kubeconfig_name is not None and self.kubeconfig is not None:
            files.append((self.kubeconfig_name, self.kubeconfig))
        return (*files, *self.laptop)


def handout_names(lab: str) -> tuple[str, str, str]:
    """File names of a lab's handout: page, Markdown, kubeconfig (flat, so a fleet shares a dir)."""
    return f"{lab}.html", f"{lab}.md", f"{lab}-kubeconfig.yaml"


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
            if target.jump is not None:  # -J: the jump host's key must be in the user's agent
                jump = target.jump
                argv += ["-J", f"{jump.user}@{jump.host}:{jump.port}"]
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
        "laptop": (
            laptop(plan, facts.access, facts.attendee_key, facts.kubeconfig)
            if facts.access is not None and facts.attendee_key is not None
            else None
        ),
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
        laptop=context["laptop"].files() if context["laptop"] is not None else (),
    )


@cache
def _markdown_env() -> jinja2.Environment:
    """Same loader and filters, no HTML autoescape: Markdown escapes through md/mdcode/mdblock."""
    return _environment().overlay(autoescape=False)


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
            msg = f"index link {quoted(self.href)} must be a relative path to a handout page"
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
