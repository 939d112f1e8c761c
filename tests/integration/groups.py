"""The test bed's scenarios in two groups that run side by side, each on one pytest-xdist worker
and in order there (tests/conftest.py schedules them): one uses the pool of plain hosts
(tbhost-*, on the tbhosts network), the other boots vagrant-lxc labs, each on a subnet of its
own. Nothing a test of one group makes is touched by the other; a module of neither group runs
wherever a worker is free.

A group is a scheduling unit, not a pytest mark: pytest 9.2 derives a node id from the node
itself, so xdist's `--dist loadgroup` (which renames the node ids of marked tests) no longer
groups anything.
"""

from __future__ import annotations

TESTBED_GROUPS = {
    "testbed-hosts": (
        "test_addon_roles", "test_ansible_roles", "test_jump_hosts_lxc", "test_k3s_faults",
        "test_offline_lxc", "test_ssh", "test_ssh_provider_lxc", "test_testbed_lxc",
        "test_uninstall_role",
    ),
    "testbed-labs": (
        "test_controller_lab_lxc", "test_doctor", "test_fleet_lxc", "test_labctl_test_lxc",
        "test_lessons_lxc", "test_lifecycle_lxc", "test_snapshot_lxc",
    ),
}  # fmt: skip
_GROUP_OF_FILE = {
    f"tests/integration/{module}.py": group
    for group, modules in TESTBED_GROUPS.items()
    for module in modules
}


def group_of(nodeid: str) -> str | None:
    """The test-bed group of a test (by its node id), or None."""
    return _GROUP_OF_FILE.get(nodeid.split("::", 1)[0])
