"""Exposure stays within the limits while positions is down and orders fill.

A fill counts from the moment the router reports it until positions folds it: with the
positions service killed, filled orders still hold their exposure (as unfolded fills), so
an order that would pass the inventory limit is denied; once a fill has waited longer than
`maxPositionsLagS`, every order is denied (`positions_lag`) until positions catches up. On
today's main before the exposure ledger, a filled order freed its reservation at once and
the position counted only after the fold, so the third buy below was approved and the
venue's position passed the limit.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from libs.common.domain.exposure import from_units
from libs.common.domain.ids import Symbol
from libs.common.redis_connect import redis_from_url
from libs.common.stores.exposure_redis import RedisExposureLedger
from tests.e2e.harness import E2EStack, wait_for

pytestmark = pytest.mark.e2e
BTC = Symbol("BTCUSDT")


async def test_positions_down_while_orders_fill_keeps_exposure_within_limits(
    stack: E2EStack,
) -> None:
    await stack.set_mid("BTCUSDT", "60000")
    await stack.set_limits(maxInventoryUsd="1500", maxOrderNotional="1000", maxPositionsLagS="3")
    stack.service("positions").kill()
    client = redis_from_url(stack.redis_url)
    ledger = RedisExposureLedger(client)

    async def unfolded_usd() -> Decimal:
        return from_units((await ledger.books([BTC]))[BTC].unfolded_buy)

    try:
        for n in (1, 2):  # two taker buys of 0.01 BTC (about 600 USD each) fill at once
            taken = await stack.gateway.place(
                symbol="BTCUSDT", side="Buy", qty="0.01", price="60500", timeInForce="IOC"
            )
            assert taken["outcome"] == "accepted", taken

            async def counted(n: int = n) -> bool:
                return await unfolded_usd() > 590 * n

            await wait_for(counted, what=f"{n} fill(s) counted as not folded yet")

        third = await stack.gateway.place(
            symbol="BTCUSDT", side="Buy", qty="0.01", price="60500", timeInForce="IOC"
        )
        assert third["outcome"] == "denied", third
        assert third["reason"].startswith("inventory BTCUSDT Buy would be"), third["reason"]

        await asyncio.sleep(3.2)  # the first fill has now waited past maxPositionsLagS
        lagging = await stack.gateway.place(
            symbol="BTCUSDT", side="Sell", qty="0.001", price="61000"
        )
        assert lagging["outcome"] == "denied", lagging
        assert lagging["reason"].startswith("positions lag"), lagging["reason"]

        await stack.start_service("positions")
        await wait_for(
            lambda: _none_unfolded(ledger), what="positions folded the fills", timeout_s=15
        )
        after = await stack.gateway.place(symbol="BTCUSDT", side="Sell", qty="0.001", price="61000")
        assert after["outcome"] == "accepted", after
    finally:
        await client.aclose()

    listed = (await stack.sim.control("positions", method="GET"))["list"]
    venue = {p["symbol"]: Decimal(p["size"]) for p in listed}
    assert venue["BTCUSDT"] == Decimal("0.02")  # two fills, never the third
    denied = await stack.metric_samples("orders_denied_total", symbol="BTCUSDT")
    reasons = {labels["reason"]: value for _, labels, value in denied if value}
    assert reasons == {"inventory": 1, "positions_lag": 1}


async def _none_unfolded(ledger: RedisExposureLedger) -> bool:
    book = (await ledger.books([BTC]))[BTC]
    return book.unfolded_buy == 0 and book.unfolded_sell == 0
