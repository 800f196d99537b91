"""The demo strategy against the real stack: it quotes both sides around the mid of each
symbol, reports its edge, and on SIGINT cancels its orders and exits 0."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

MIDS = {"BTCUSDT": Decimal(60000), "ETHUSDT": Decimal(3000)}


async def _quotes(stack: E2EStack) -> dict[tuple[str, str], Decimal] | None:
    open_orders = [
        o for o in await stack.venue_open_orders() if o["orderLinkId"].startswith("demo-")
    ]
    quotes = {(o["symbol"], o["side"]): Decimal(o["price"]) for o in open_orders}
    return quotes if len(quotes) == 4 else None


async def test_demo_quotes_around_the_mid_reports_edge_and_cancels_on_sigint(
    stack: E2EStack,
) -> None:
    for symbol, mid in MIDS.items():
        await stack.set_mid(symbol, str(mid))
    await stack.set_limits(edgeFreezeThresholdBps="0")  # as `mmx up` does for the demo
    demo = stack.spawn_demo("--interval", "0.2", "--edge-every", "0.5")

    quotes = await wait_for(lambda: _quotes(stack), what="two-sided quotes on both symbols")
    for symbol, mid in MIDS.items():
        bid, ask = quotes[symbol, "Buy"], quotes[symbol, "Sell"]
        assert bid < mid < ask, (symbol, bid, ask)
        assert abs((ask - bid) / mid * 10_000 - 10) < 1, "5 bps either side of the mid"

    async def reported() -> list[Any] | None:
        samples = await stack.metric_samples("edge_bps", source="reported")
        return samples if {labels["symbol"] for _, labels, _ in samples} == set(MIDS) else None

    for _, _, value in await wait_for(reported, what="the demo's edge reports"):
        assert value == 5.0
    assert (await stack.gateway.risk())["trading"]["state"] == "ACTIVE"

    demo.proc.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(demo.proc.wait, 15) == 0
    assert [
        o for o in await stack.venue_open_orders() if o["orderLinkId"].startswith("demo-")
    ] == []
