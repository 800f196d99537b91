"""Evidence 2: a strategy reports edge below the threshold; trading freezes, every resting
order is cancelled at the venue, a new order is denied, and the freeze is counted once across
every service's /metrics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

RESTING = (("BTCUSDT", "Buy", "0.001", "59000"), ("ETHUSDT", "Sell", "0.01", "3050"),
           ("SOLUSDT", "Buy", "0.1", "148"))  # fmt: skip


async def test_edge_below_threshold_freezes_cancels_all_and_denies_new_orders(
    stack: E2EStack,
) -> None:
    for symbol, mid in (("BTCUSDT", "60000"), ("ETHUSDT", "3000"), ("SOLUSDT", "150")):
        await stack.set_mid(symbol, mid)
    for symbol, side, qty, price in RESTING:
        placed = await stack.gateway.place(symbol=symbol, side=side, qty=qty, price=price)
        assert placed["outcome"] == "accepted", placed
    assert len(await stack.venue_open_orders()) == 3
    threshold = (await stack.gateway.risk())["limits"]["edgeFreezeThresholdBps"]

    reply = await stack.gateway.post(
        "/v1/risk/edge", {"symbol": "BTCUSDT", "edgeBps": "150", "source": "e2e"}
    )
    assert reply.status_code == 202, reply.text
    assert threshold == "200"

    async def frozen() -> dict[str, Any] | None:
        trading = (await stack.gateway.risk())["trading"]
        return trading if trading["state"] == "FROZEN" else None

    trading = await wait_for(frozen, what="trading FROZEN")
    assert "edge" in str(trading["reason"]).lower()
    await wait_for(lambda: _none_open(stack), what="zero open orders at the venue", timeout_s=15)

    denied = await stack.gateway.place(symbol="BTCUSDT", side="Buy", qty="0.001", price="59000")
    assert denied["outcome"] == "denied", denied
    assert "FROZEN" in denied["reason"] or "frozen" in denied["reason"]
    assert await stack.venue_open_orders() == []
    assert await stack.metric_total("freeze_triggered_total", reason="edge_collapse") == 1


async def _none_open(stack: E2EStack) -> bool:
    return await stack.venue_open_orders() == []
