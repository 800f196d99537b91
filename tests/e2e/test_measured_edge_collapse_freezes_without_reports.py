"""Evidence 6: the demo quoter runs as a process; the market runs through its quotes again
and again (each step of the simulator's mid fills its resting bid), and risk's edge measured
from those fills against the mid at fill time falls below the threshold: trading freezes
with nobody reporting edge, and the demo's orders are cancelled at the venue.

Measured at fill time, a maker fill's edge is the distance from its quote to the last mid
(a few bps here): the desk's default threshold (200 bps, the prototype's) is above it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import StackFactory
from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

RISK_ENV = {"MMX_RISK_EDGE_MIN_FILLS": "3", "MMX_RISK_EDGE_WINDOW_FILLS": "10"}


async def _demo_bid(stack: E2EStack) -> dict[str, Any] | None:
    bids = [
        o
        for o in await stack.venue_open_orders("BTCUSDT")
        if o["orderLinkId"].startswith("demo-") and o["side"] == "Buy"
    ]
    return bids[0] if bids else None


async def _frozen(stack: E2EStack) -> dict[str, Any] | None:
    trading: dict[str, Any] = (await stack.gateway.risk())["trading"]
    return trading if trading["state"] == "FROZEN" else None


async def test_market_running_through_demo_quotes_freezes_on_measured_edge(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(env={"risk": RISK_ENV})
    await stack.set_mid("BTCUSDT", "60000")
    demo = stack.spawn_demo("--symbols", "BTCUSDT:0.001", "--edge-every", "0", "--interval", "0.2")

    async def next_bid() -> dict[str, Any] | None:
        return await _frozen(stack) or await _demo_bid(stack)

    for step in range(10):  # each step runs the mid through the demo's bid: it fills
        bid = await wait_for(next_bid, what=f"the demo's bid (step {step})")
        if bid.get("state") == "FROZEN":
            break
        below = Decimal(bid["price"]) * Decimal("0.9995")
        await stack.sim.control("mid", {"symbol": "BTCUSDT", "price": str(below)})
    trading = await wait_for(lambda: _frozen(stack), what="a freeze on measured edge")

    assert "measured edge" in trading["reason"], trading
    assert await stack.metric_total("freeze_triggered_total", reason="edge_collapse") == 1
    assert await stack.metric_samples("edge_bps", source="reported") == []
    measured = await stack.metric_samples("edge_bps", symbol="BTCUSDT", source="measured")
    assert measured and all(v < 200 for _, _, v in measured), measured
    await wait_for(lambda: _none_open(stack), what="no open order at the venue", timeout_s=15)
    fills = [o for o in await stack.sim.orders() if o["orderStatus"] == "Filled"]
    assert len(fills) >= 3
    assert all(o["orderLinkId"].startswith("demo-") and o["side"] == "Buy" for o in fills)
    assert demo.alive, "the demo keeps running, its orders denied while frozen"


async def _none_open(stack: E2EStack) -> bool:
    return await stack.venue_open_orders() == []
