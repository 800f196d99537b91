"""Dynamic limits end to end: with a scaling rule on volatility, an order passes while the
market is calm; the simulator's mid then swings a few percent a second, risk's estimate of
realised volatility rises above the reference, the order-notional limit falls to its floor,
and the same order is denied, with the limit in force in the reason. `GET /v1/risk`, the
metrics and the `audit` stream say why."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from libs.common import topology
from libs.common.bus import DATA_FIELD
from libs.common.messages import LimitsScaled
from libs.common.redis_connect import redis_from_url
from libs.common.service import EnvelopeCodec
from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e

RULE = {
    "volatility": {
        "limits": ["maxOrderNotional"],
        "referenceBps": "20",
        "floor": "0.25",
        "halfLifeS": 10,
    }
}
ORDER = {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.015", "price": "59000"}  # 885 USD


async def _btc_row(stack: E2EStack) -> dict[str, Any] | None:
    rows = (await stack.gateway.risk())["effectiveLimits"]
    return next((r for r in rows if r["symbol"] == "BTCUSDT"), None)


async def _scaled(stack: E2EStack) -> dict[str, Any] | None:
    row = await _btc_row(stack)
    return row if row is not None and row["factors"] else None


async def test_a_volatility_spike_tightens_the_limit_and_the_same_order_is_denied(
    stack: E2EStack,
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    configured = await stack.set_limits(maxOrderNotional="1000", scaling=RULE)
    calm = await stack.gateway.place(**ORDER)

    for price in ["61800", "59400", "61200"]:  # +3 %, -4 %, +3 %
        await stack.set_mid("BTCUSDT", price)
        await asyncio.sleep(1.2)  # a scaler tick (MMX_RISK_SCALING_INTERVAL_S, 1 s) sees it
    row = await wait_for(lambda: _scaled(stack), what="the limits scaled on volatility")
    spiky = await stack.gateway.place(**ORDER, clientOrderId="e2e-spiky")

    assert configured["scaling"]["volatility"]["referenceBps"] == "20"
    assert calm["outcome"] == "accepted", calm
    assert spiky["outcome"] == "denied", spiky
    assert spiky["reason"] == "order notional BTCUSDT 885 USD is above the limit 250 USD"
    assert (row["limits"]["max_order_notional"], row["factors"]) == (
        "250",
        {"max_order_notional": "0.25"},
    )
    assert row["reasons"] == ["volatility x0.25"]
    assert Decimal(row["volatilityBps"]) > 4 * 20
    assert (await stack.gateway.risk())["limits"]["maxOrderNotional"] == "1000"  # as configured
    gauges = await stack.metric_samples(
        "risk_limit", service="risk", limit="max_order_notional", symbol="BTCUSDT"
    )
    assert [value for _, _, value in gauges] == [250]
    assert await _announced(stack) == [("BTCUSDT", {"max_order_notional": Decimal("0.25")})]
    assert "e2e-spiky" not in {o["orderLinkId"] for o in await stack.sim.orders()}


async def _announced(stack: E2EStack) -> list[tuple[str, dict[str, Decimal]]]:
    client = redis_from_url(stack.redis_url)
    try:
        entries: Any = await client.xrange(topology.AUDIT.name)
    finally:
        await client.aclose()
    codec = EnvelopeCodec()
    found = []
    for _, fields in entries:
        envelope = codec.decode(fields[DATA_FIELD])
        if envelope.type == LimitsScaled.TYPE:
            event = envelope.open_as(LimitsScaled)
            found.append((event.symbol, event.factors))
    return found
