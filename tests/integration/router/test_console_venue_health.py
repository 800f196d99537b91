"""What the router writes to Redis for the console's venue health, against the real
simulator: the venue's rate-limit headroom per endpoint from its `X-Bapi-Limit*` headers,
and the drift each order reconciliation found per symbol."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import OrderStatus
from libs.common.venue import BybitVenue, PlaceOrder
from services.router.headroom import TTL_MS
from tests.integration.router.conftest import Desk, StartRouter, bid, venue_config, wait_until
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
CREATE = "/v5/order/create"


async def _headroom(redis: aioredis.Redis, path: str) -> dict[str, Any] | None:
    value = await redis.hget(topology.VENUE_HEADROOM_KEY, path)
    return None if value is None else dict(json.loads(value))


async def test_an_order_sent_leaves_the_venues_headroom_of_its_endpoint_in_redis(
    start_router: StartRouter, desk: Desk, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    await venue_sim.control("limits", {"tradePerSecond": 7})
    await start_router()
    before_ms = time.time_ns() // 1_000_000

    await desk.approve(bid("headroom-1"))
    await wait_until(lambda: desk.status_is("headroom-1", OrderStatus.NEW))
    await wait_until(lambda: _headroom(redis, CREATE), what="the headroom of order/create")

    created = await _headroom(redis, CREATE)
    assert created is not None
    assert (created["group"], created["limit"]) == ("trade", 7)  # the venue's figure
    assert 0 <= created["remaining"] < 7
    assert before_ms <= created["updated_ms"] <= time.time_ns() // 1_000_000
    assert created["reset_ms"] >= before_ms
    assert 0 < await redis.pttl(topology.VENUE_HEADROOM_KEY) <= TTL_MS


async def test_each_reconciliation_pass_writes_the_order_drift_it_found_per_symbol(
    start_router: StartRouter, redis: aioredis.Redis, venue_sim: SimProcess
) -> None:
    router = await start_router()  # BTCUSDT, ETHUSDT and SOLUSDT
    await wait_until(lambda: router.reconciler.passes >= 1, what="the start-up pass")
    async with BybitVenue(venue_config(venue_sim)) as manual:  # behind the engine's back
        stray = PlaceOrder(
            category=Category.LINEAR,
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty=bid("x").qty,
            price=bid("x").price,
            client_order_id=ClientOrderId("by-hand-drift"),
        )
        await manual.place(stray)
    before_ms = time.time_ns() // 1_000_000

    await router.reconciler.run_once()
    found = await redis.hgetall(topology.ORDER_DRIFT_KEY)
    await router.reconciler.run_once()  # adopted: nothing differs any more
    again = await redis.hgetall(topology.ORDER_DRIFT_KEY)

    drift = {k.decode(): json.loads(v) for k, v in found.items()}
    assert {s: (d["open_orders"], d["executions"]) for s, d in drift.items()} == {
        "BTCUSDT": (1, 0),
        "ETHUSDT": (0, 0),
        "SOLUSDT": (0, 0),
    }
    assert drift["BTCUSDT"]["checked_ms"] >= before_ms
    assert [json.loads(v)["open_orders"] for v in again.values()] == [0, 0, 0]
