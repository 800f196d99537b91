"""kill -9 of each service mid-flow, and a restart: nothing lost, doubled or left behind."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import StackFactory
from tests.faults.scenario import fault_stack, kill_and_restart, run_scenario

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", ["router", "risk", "positions", "gateway"])
async def test_kill_9_mid_flow_then_restart_loses_and_doubles_nothing(
    make_stack: StackFactory, service: str
) -> None:
    stack = await fault_stack(make_stack)
    await run_scenario(stack, f"kill -9 {service}", inject=kill_and_restart(stack, service))
