"""Handouts: a self-contained HTML page and a Markdown file per lab, for the person at the keyboard.

A workshop hands every student a page with their lab's picture, how to reach each machine, the
kubeconfig, the addon URLs and credentials, and what the smoke checks said. The page makes no
outside request (inline CSS and SVG, no fonts, no scripts), so it opens on venue Wi-Fi or none.

`render_handout(plan, facts)` and `render_index(labs)` are pure: everything read from disk
arrives in a frozen `HandoutFacts`, gathered by `gather_facts`, and `write_handout` is the only
writer (atomic, 0600, since the files hold credentials).
"""

from __future__ import annotations

from labctl.workshop.handout.files import (
    gather_facts,
    read_checks,
    write_handout,
    write_index,
)
from labctl.workshop.handout.pages import (
    ARGOCD_USER,
    CHECKS_SCHEMA,
    GITLAB_USER,
    CheckLine,
    ChecksSummary,
    HandoutFacts,
    HandoutFiles,
    IndexEntry,
    KubeconfigMode,
    SshRow,
    handout_names,
    md_block,
    md_code,
    md_text,
    parse_checks,
    render_handout,
    render_index,
    render_svg,
    ssh_rows,
)
from labctl.workshop.handout.topology import (
    BOX_H,
    BOX_MIN_W,
    BOX_PAD,
    CHAR_W,
    COLUMN_X,
    DROP,
    GAP_X,
    HOST_H,
    HOST_W,
    LABEL_CHAR_W,
    MARGIN,
    MAX_COLUMNS,
    MAX_WIDTH,
    ROW_GAP,
    SECTION_H,
    TRUNK_X,
    Box,
    Diagram,
    Label,
    Line,
    Rect,
    layout,
)

__all__ = [
    "ARGOCD_USER",
    "BOX_H",
    "BOX_MIN_W",
    "BOX_PAD",
    "CHAR_W",
    "CHECKS_SCHEMA",
    "COLUMN_X",
    "DROP",
    "GAP_X",
    "GITLAB_USER",
    "HOST_H",
    "HOST_W",
    "LABEL_CHAR_W",
    "MARGIN",
    "MAX_COLUMNS",
    "MAX_WIDTH",
    "ROW_GAP",
    "SECTION_H",
    "TRUNK_X",
    "Box",
    "CheckLine",
    "ChecksSummary",
    "Diagram",
    "HandoutFacts",
    "HandoutFiles",
    "IndexEntry",
    "KubeconfigMode",
    "Label",
    "Line",
    "Rect",
    "SshRow",
    "gather_facts",
    "handout_names",
    "layout",
    "md_block",
    "md_code",
    "md_text",
    "parse_checks",
    "read_checks",
    "render_handout",
    "render_index",
    "render_svg",
    "ssh_rows",
    "write_handout",
    "write_index",
]
