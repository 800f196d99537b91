"""The positions service down while orders fill: fills count against the inventory limit
until positions folds them, so the venue's position never passes the limit; once positions
is back every fill is folded exactly once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from libs.common.tasks import wait_or_timeout
from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack
from tests.faults.flow import MIDS
from tests.faults.scenario import fault_stack, run_scenario

pytestmark = pytest.mark.e2e

MAX_INVENTORY_USD = Decimal(150)
"""Two or three taker fills of either symbol (60 and 30 USD each) reach it."""


async def breaches(stack: E2EStack, seen: set[str], stop: asyncio.Event) -> None:
    """Add to `seen` every symbol whose venue position passes the limit, until `stop`."""
    while not stop.is_set():
        for p in (await stack.sim.control("positions", method="GET"))["list"]:
            if Decimal(p["size"]) * MIDS.get(p["symbol"], Decimal(0)) > MAX_INVENTORY_USD:
                seen.add(p["symbol"])
        await wait_or_timeout(stop, 0.1)


async def test_positions_down_while_orders_fill_stays_within_the_inventory_limit(
    make_stack: StackFactory,
) -> None:
    stack = await fault_stack(make_stack)
    await stack.set_limits(maxInventoryUsd=str(MAX_INVENTORY_USD), maxPositionsLagS="2")
    breached: set[str] = set()
    stop = asyncio.Event()
    watcher = asyncio.create_task(breaches(stack, breached, stop))

    async def positions_down_for_a_while() -> None:
        stack.service("positions").kill()
        await asyncio.sleep(3.0)
        await stack.start_service("positions")

    try:
        await run_scenario(
            stack,
            "positions down while orders fill",
            inject=positions_down_for_a_while,
            seen=lambda: {"limit_breaches": len(breached)},
        )
    finally:
        stop.set()
        await watcher
    denied = await stack.metric_samples("orders_denied_total", service="risk")
    reasons = {labels["reason"] for _, labels, value in denied if value}
    assert "inventory" in reasons, f"the limit was never met: denials {reasons}"
