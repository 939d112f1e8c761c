"""The lab's picture (pure): machines laid out as boxes in rows under the host, as data the
SVG template draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.plan import Role

if TYPE_CHECKING:
    from labctl.plan import Machine, Plan


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
