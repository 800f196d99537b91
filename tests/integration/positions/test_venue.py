"""Positions against the real simulator: marks from its public tickers, reconciliation."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.ids import ClientOrderId
from libs.common.stores import RedisLeaseStore, RedisPositionStore
from libs.common.stores.marks import RedisMarkStore
from libs.common.venue import BybitVenue, PlaceOrder
from services.positions.app import MARKS_LEASE
from tests.integration.bus.helpers import wait_until
from tests.integration.positions.helpers import (
    BTC,
    filled,
    from_execution,
    parts,
    publish,
    running_positions,
    sim_venue,
    updates,
)
from tests.simulator import SimProcess

pytestmark = pytest.mark.integration
D = Decimal


async def test_simulator_tickers_reach_the_mark_store_through_one_lease_holder(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    marks = RedisMarkStore(redis)
    venue = sim_venue(venue_sim)

    async with (
        running_positions(redis_url, venue) as first,
        running_positions(redis_url, venue) as second,
    ):
        await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "61234.5"})
        await wait_until(lambda: _mark_is(marks, D("61234.5")))
        holders = [parts(r).marks_lease.holding for r in (first, second)]
        lease_holder = await RedisLeaseStore(redis).holder(MARKS_LEASE)

    mark = await marks.get(BTC)
    assert mark is not None
    assert mark.bid is not None and mark.ask is not None
    assert mark.bid < D("61234.5") < mark.ask and mark.mid == (mark.bid + mark.ask) / 2
    assert time.time_ns() - mark.seen_ns < 5 * 10**9
    assert sorted(holders) == [False, True]
    assert lease_holder is not None


async def test_mark_move_publishes_the_position_with_its_new_unrealized_pnl(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
    await RedisPositionStore(redis).apply_fill(filled("e1", Side.BUY, "0.5", "60000").to_fill())

    async with running_positions(redis_url, sim_venue(venue_sim)):
        await wait_until(lambda: _mark_is(RedisMarkStore(redis), D(60000)))
        await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "60300"})
        await wait_until(lambda: _update_marked_at(redis, D(60300)))

    update = next(u for _, u in await updates(redis) if u.mark == D(60300))
    assert (update.qty, update.unrealized_pnl) == (D("0.5"), D(150))


async def test_reconciliation_reports_zero_drift_after_fills_at_the_simulator(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    await venue_sim.control("mid", {"symbol": "BTCUSDT", "price": "60000"})
    venue = sim_venue(venue_sim)
    async with BybitVenue(venue) as client:
        for i, (side, qty) in enumerate([(Side.BUY, "0.004"), (Side.SELL, "0.001")]):
            order = PlaceOrder(
                category=Category.LINEAR,
                symbol=BTC,
                side=side,
                order_type=OrderType.MARKET,
                qty=D(qty),
                client_order_id=ClientOrderId(f"rec-{i}"),
            )
            await client.place(order)
        executions = await client.executions(Category.LINEAR, BTC)

    async with running_positions(redis_url, venue) as positions:
        for execution in executions:  # as the router publishes them
            await publish(redis, from_execution(execution))
        reconciler = parts(positions).reconciler
        await wait_until(lambda: _position_is(redis, D("0.003")))
        await wait_until(lambda: reconciler.last.get(BTC) == 0)
        gauge = positions.registry.get_sample_value(
            "reconciliation_drift",
            {"account": "default", "venue": "bybit", "kind": "position_qty", "symbol": BTC},
        )

    assert len(executions) >= 2
    assert gauge == 0


async def test_reconciliation_reports_drift_and_leaves_the_position_alone(
    redis: aioredis.Redis, redis_url: str, venue_sim: SimProcess
) -> None:
    store = RedisPositionStore(redis)
    await store.apply_fill(filled("local-only", Side.SELL, "0.25", "60000").to_fill())
    before = await store.get(BTC)

    async with running_positions(redis_url, sim_venue(venue_sim)) as positions:
        reconciler = parts(positions).reconciler
        await wait_until(lambda: reconciler.last.get(BTC) == D("0.25"))
        gauge = positions.registry.get_sample_value(
            "reconciliation_drift",
            {"account": "default", "venue": "bybit", "kind": "position_qty", "symbol": BTC},
        )

    assert gauge == 0.25
    assert await store.get(BTC) == before


async def _mark_is(marks: RedisMarkStore, price: Decimal) -> bool:
    mark = await marks.get(BTC)
    return mark is not None and mark.mark == price


async def _update_marked_at(redis: aioredis.Redis, price: Decimal) -> bool:
    return any(u.mark == price for _, u in await updates(redis))


async def _position_is(redis: aioredis.Redis, qty: Decimal) -> bool:
    position = await RedisPositionStore(redis).get(BTC)
    return position is not None and position.qty == qty
