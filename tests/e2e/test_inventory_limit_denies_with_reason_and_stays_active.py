"""Evidence 3: an order that would take a symbol over max_inventory_usd is denied with the
reason; it never reaches the venue, and trading stays ACTIVE."""

from __future__ import annotations

import pytest

from tests.e2e.harness import E2EStack

pytestmark = pytest.mark.e2e


async def test_order_over_inventory_limit_is_denied_and_trading_stays_active(
    stack: E2EStack,
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_limits(maxInventoryUsd="1000", maxOrderNotional="5000")
    inside = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.01", price="59000")
    assert inside["outcome"] == "accepted", inside

    # 0.01 resting + 0.01 more, worst case 0.02 BTC * 60000 = 1200 USD > 1000.
    over = await stack.gateway.place(
        symbol="BTCUSDT", side="Buy", qty="0.01", price="59000", clientOrderId="e2e-over"
    )
    assert over["outcome"] == "denied", over
    assert "inventory" in over["reason"].lower(), over["reason"]
    assert over["order"]["status"] == "Rejected"
    assert "e2e-over" not in {o["orderLinkId"] for o in await stack.sim.orders()}
    assert (await stack.gateway.risk())["trading"]["state"] == "ACTIVE"
    samples = await stack.metric_samples("orders_denied_total", symbol="BTCUSDT")
    assert sum(v for _, _, v in samples) == 1
    assert [labels["reason"] for _, labels, v in samples if v] == ["inventory"]

    # The other side reduces the worst case: still allowed.
    sell = await stack.gateway.place(symbol="BTCUSDT", side="Sell", qty="0.01", price="61000")
    assert sell["outcome"] == "accepted", sell
