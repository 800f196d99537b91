"""The fault suite: whole-stack scenarios (`tests/faults/scenario.py`) on the e2e harness.

The fixtures are the e2e suite's (one simulator per session; per test a flushed Redis and a
fresh stack); at the end of the session every scenario's row is printed as one table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures and the failure-log hook)
    FAILED,
    SIM_LIMITS,
    e2e_sim,
    make_stack,
    pytest_runtest_makereport,
)
from tests.e2e.harness import E2EStack
from tests.faults.ledger import FaultRow
from tests.faults.scenario import ROWS
from tests.simulator import SimProcess


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault suite: simulator's books against the engine's")
    terminalreporter.write_line(FaultRow.header())
    for row in ROWS:
        terminalreporter.write_line(row.line())


StackOn = Callable[..., Awaitable[E2EStack]]


@pytest.fixture
async def make_stack_on(
    e2e_sim: SimProcess,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[StackOn]:
    """`await make_stack_on(redis_url, routers=N, env=...)`: `make_stack` on a Redis of the
    test's own (one it will kill, or a Sentinel set-up), with the simulator reset."""
    stacks: list[E2EStack] = []

    async def factory(
        redis_url: str, *, routers: int = 1, env: dict[str, dict[str, str]] | None = None
    ) -> E2EStack:
        await e2e_sim.control("reset", {"marketFrozen": True})
        await e2e_sim.control("limits", SIM_LIMITS)
        stack = E2EStack(redis_url, e2e_sim, tmp_path / f"logs-{len(stacks)}", env=env or {})
        stacks.append(stack)
        return await stack.start(routers=routers)

    try:
        yield factory
    finally:
        for stack in stacks:
            await stack.stop()
            if request.node.stash.get(FAILED, False):
                print(stack.logs())
