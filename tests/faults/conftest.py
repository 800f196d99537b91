"""The fault suite: whole-stack scenarios (`tests/faults/scenario.py`) on the e2e harness.

The fixtures are the e2e suite's (one simulator per session; per test a fresh stack on a
flushed Redis, or on a Redis or Redis Cluster of the test's own, which it breaks); at the
end of the session every scenario's row is printed as one table.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures and the failure-log hook)
    e2e_sim,
    flushed,
    make_stack,
    pytest_runtest_makereport,
)
from tests.faults.ledger import FaultRow
from tests.faults.scenario import ROWS


@pytest.fixture
async def e2e_redis_url(redis_url: str) -> str:
    """The session's Redis db, flushed: a scenario runs once (the e2e suite runs each on a
    Redis Cluster too; the cluster's own fault is `test_redis_faults`' failover)."""
    return await flushed(redis_url)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault suite: simulator's books against the engine's")
    terminalreporter.write_line(FaultRow.header())
    for row in ROWS:
        terminalreporter.write_line(row.line())
