"""Preflight on the hosts learners use (macOS, Windows) and Vagrant 2.4's box listing, proven on
recorded outputs and with POSIX-only functions removed as on Windows (issue 21)."""

from __future__ import annotations

from dataclasses import replace

from labctl.doctor import InstalledBox, parse_box_list
from tests.unit.test_doctor import GOOD, finding, plan_of

# `vagrant box list --machine-readable` (2.4.1) for a box added from a file: architecture n/a.
BOX_LIST_NA = (
    "1733212800,,box-name,labctl/debian-bookworm\n1733212800,,box-provider,virtualbox\n"
    "1733212800,,box-version,0\n1733212800,,box-architecture,n/a\n"
)


def test_box_architecture_na_is_unknown_not_an_architecture() -> None:
    assert parse_box_list(BOX_LIST_NA) == (
        InstalledBox("labctl/debian-bookworm", "virtualbox", "0", None),
    )
    plain = "labctl/debian-bookworm (virtualbox, 0, (n/a))\n"
    assert parse_box_list(plain) == (
        InstalledBox("labctl/debian-bookworm", "virtualbox", "0", None),
    )


def test_a_box_added_from_a_file_does_not_fail_the_arch_judge() -> None:
    boxes = parse_box_list(BOX_LIST_NA)
    custom = plan_of("virtualbox", box="labctl/debian-bookworm")
    assert finding(custom, replace(GOOD, boxes=boxes), "arch").status == "ok"
    mac = replace(GOOD, system="Darwin", arch="arm64", boxes=boxes)
    assert finding(custom, mac, "arch").status != "fail"
