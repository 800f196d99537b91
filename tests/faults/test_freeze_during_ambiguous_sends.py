"""A freeze while three routers have sends in flight whose outcome is unknown (slow answers,
answers dropped after the venue took the order): once every router has confirmed the venue
flat, nothing is open there, and nothing lands later."""

from __future__ import annotations

import asyncio

import pytest

from libs.common import topology
from libs.common.redis_connect import redis_from_url
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, wait_for
from tests.faults.scenario import fault_stack, run_scenario

pytestmark = pytest.mark.e2e

ROUTERS = 3
AMBIGUOUS = {
    "latencyMs": 1200,
    "dropResponseNext": 6,
    "dropMode": "close",
    "paths": ["/v5/order/create", "/v5/order/create-batch"],
}
"""Answers that come just inside the request timeout, and some that never come."""


async def confirmed_flat(stack: E2EStack) -> int:
    """How many router instances confirmed the venue flat for the newest freeze."""
    client = redis_from_url(stack.redis_url)
    try:
        pattern = topology.freeze_flat_key("*", 0).removesuffix("0") + "*"
        keys = [k async for k in client.scan_iter(match=pattern)]
        return max([await client.hlen(k) for k in keys], default=0)
    finally:
        await client.aclose()


async def test_freeze_during_ambiguous_sends_leaves_nothing_at_the_venue(
    make_stack: StackFactory,
) -> None:
    stack = await fault_stack(make_stack, routers=ROUTERS)
    left: dict[str, int] = {}

    async def freeze_mid_send() -> None:
        await stack.sim.control("faults", AMBIGUOUS)
        await asyncio.sleep(0.6)  # sends under way on every router
        reply = await stack.gateway.post("/v1/risk/freeze", {"reason": "faults: mid-send"})
        assert reply.status_code == 200, reply.text

        async def all_flat() -> bool:
            return await confirmed_flat(stack) >= ROUTERS

        await wait_for(all_flat, what="every router confirmed flat", timeout_s=30)
        left["left_after_freeze"] = len(await stack.venue_open_orders())

    async def heal() -> None:
        await stack.sim.control("faults", {"clear": True})
        await asyncio.sleep(2.0)  # a late send would have landed by now

    await run_scenario(
        stack,
        "freeze during ambiguous sends, 3 routers",
        inject=freeze_mid_send,
        heal=heal,
        after_freeze=True,
        seen=lambda: left,
    )
