"""Shared test options: `--update-golden` regenerates golden files on purpose."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/unit/golden/ from the renderer; review the diff before committing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Each test-bed group (tests/integration/groups.py) on one worker, in order; every other
    test on its own, wherever a worker is free. Groups go first, the largest first."""
    from xdist.scheduler import LoadScopeScheduling  # only under xdist

    from tests.integration.groups import group_of

    class TestbedGroups(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return TestbedGroups(config, log)
