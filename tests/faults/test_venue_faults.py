"""Venue faults mid-flow: latency past the request timeout, 5xx and 10006 storms, responses
dropped after the order was taken, the private WebSocket dropped during fills. Every
ambiguous send is settled by asking the venue; nothing is lost, doubled or left behind."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack
from tests.faults.scenario import Step, fault_stack, run_scenario

pytestmark = pytest.mark.e2e

CREATE_PATHS = ["/v5/order/create", "/v5/order/create-batch"]


def faults(stack: E2EStack, body: dict[str, Any], *, for_s: float) -> tuple[Step, Step]:
    """(inject: arm `body` on the create paths and keep it `for_s`, heal: clear every fault)."""

    async def inject() -> None:
        await stack.sim.control("faults", {**body, "paths": CREATE_PATHS})
        await asyncio.sleep(for_s)
        await stack.sim.control("faults", {"clear": True})

    async def heal() -> None:
        await stack.sim.control("faults", {"clear": True})

    return inject, heal


SCENARIOS = {
    "latency above timeout": {"latencyMs": 2500},
    "5xx storm": {"http5xxNext": 40},
    "10006 storm": {"rateLimitNext": 40},
    "response dropped after executing": {"dropResponseNext": 12, "dropMode": "close"},
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_venue_fault_mid_flow_is_settled_by_the_venue(
    make_stack: StackFactory, scenario: str
) -> None:
    stack = await fault_stack(make_stack)
    inject, heal = faults(stack, SCENARIOS[scenario], for_s=1.5)
    await run_scenario(stack, scenario, inject=inject, heal=heal)


async def test_private_websocket_dropped_during_fills_misses_no_fill(
    make_stack: StackFactory,
) -> None:
    stack = await fault_stack(make_stack)

    async def drop_three_times() -> None:
        for _ in range(3):
            await stack.sim.control("ws/drop", {"channel": "private"})
            await asyncio.sleep(0.5)

    await run_scenario(stack, "private WebSocket dropped", inject=drop_three_times)
