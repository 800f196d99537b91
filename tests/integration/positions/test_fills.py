"""Positions fold fills from `orders.events` into Redis, once per execId, across instances."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common.accounts import PerAccount
from libs.common.batching import Incoming
from libs.common.bus import Bus
from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, DEFAULT_VENUE
from libs.common.messages import FundingSettled
from libs.common.metrics import EngineMetrics
from libs.common.service import EnvelopeCodec
from libs.common.stores import RedisPositionStore
from libs.common.stores.marks import Mark, RedisMarkStore
from libs.common.topology import keys_of
from services.positions.fills import FillsHandler
from tests.integration.bus.helpers import wait_until
from tests.integration.positions.helpers import (
    BTC,
    filled,
    parts,
    publish,
    running_positions,
    updates,
)

pytestmark = pytest.mark.integration
D = Decimal


async def test_fills_fold_into_the_position_exactly_as_computed_by_hand(
    redis: aioredis.Redis, redis_url: str
) -> None:
    now = time.time_ns()
    await RedisMarkStore(redis).put_many([Mark(symbol=BTC, mark=D(100), ts_ns=now, seen_ns=now)])
    fills = [
        filled("e1", Side.BUY, "2", "100", fee="0.1"),
        filled("e2", Side.BUY, "1", "103", fee="0.05"),  # 3 @ 101
        filled("e3", Side.SELL, "4", "105", fee="0.2"),  # realize 3 x 4 = 12; short 1 @ 105
        filled("e4", Side.BUY, "0.5", "104", fee="-0.01"),  # realize 0.5 x 1 = 0.5 (a rebate)
    ]

    async with running_positions(redis_url) as positions:
        sent = [await publish(redis, fill) for fill in fills]
        await wait_until(lambda: _updates_count(redis, 4))
        gauges = positions.registry.get_sample_value
        # realized 12.5 + unrealized 2.5 - fees 0.34, from Redis on the next refresh
        await wait_until(
            lambda: (
                gauges("position_pnl", {"account": "default", "venue": "bybit", "symbol": BTC})
                == 14.66
            )
        )
        qty_gauge = gauges("position_qty", {"account": "default", "venue": "bybit", "symbol": BTC})

    stored = await RedisPositionStore(redis).get(BTC)
    assert stored is not None
    assert (stored.qty, stored.avg_entry_price) == (D("-0.5"), D(105))
    assert (stored.realized_pnl, stored.fees_paid) == (D("12.5"), D("0.34"))
    caused = {e.correlation_id for e in sent}  # not the re-marks of the lease holder
    published = [u for e, u in await updates(redis) if e.correlation_id in caused]
    assert [u.qty for u in published] == [D(2), D(3), D(-1), D("-0.5")]
    assert [u.avg_entry_price for u in published] == [D(100), D(101), D(105), D(105)]
    last = published[-1]
    assert (last.mark, last.unrealized_pnl) == (D(100), D("2.5"))  # -0.5 x (100 - 105)
    assert qty_gauge == -0.5


async def test_funding_folds_into_net_pnl_once_and_is_published(
    redis: aioredis.Redis, redis_url: str
) -> None:
    now = time.time_ns()
    await RedisMarkStore(redis).put_many([Mark(symbol=BTC, mark=D(110), ts_ns=now, seen_ns=now)])
    funding = FundingSettled(
        symbol=BTC,
        exec_id="fund-1",
        amount=D("0.022"),
        rate=D("0.0001"),
        position_qty=D(2),
        mark_price=D(110),
        ts_event_ns=now,
    )

    async with running_positions(redis_url) as positions:
        await publish(redis, filled("e1", Side.BUY, "2", "100", fee="0.1"))
        sent = await publish(redis, funding)
        await publish(redis, funding)  # a replay: nothing more
        await wait_until(lambda: parts(positions).handled == 3)
        gauges = positions.registry.get_sample_value
        # unrealized 20 - fees 0.1 - funding 0.022
        await wait_until(
            lambda: (
                gauges("position_pnl", {"account": "default", "venue": "bybit", "symbol": BTC})
                == 19.878
            )
        )

    stored = await RedisPositionStore(redis).get(BTC)
    assert stored is not None
    assert (stored.qty, stored.avg_entry_price, stored.funding_paid) == (D(2), D(100), D("0.022"))
    published = [u for e, u in await updates(redis) if e.correlation_id == sent.correlation_id]
    assert [(u.qty, u.funding_paid, u.unrealized_pnl) for u in published] == [
        (D(2), D("0.022"), D(20))
    ]
    assert await redis.zcard(keys_of(DEFAULT_ACCOUNT).unfolded(BTC)) == 0


async def test_replayed_fill_changes_nothing_and_publishes_nothing(
    redis: aioredis.Redis, redis_url: str
) -> None:
    first = filled("e1", Side.BUY, "1", "100")

    async with running_positions(redis_url) as positions:
        await publish(redis, first)
        await wait_until(lambda: _updates_count(redis, 1))
        before = await RedisPositionStore(redis).get(BTC)
        await publish(redis, first)  # the same execution, published again
        await wait_until(lambda: parts(positions).handled == 2)

    assert await RedisPositionStore(redis).get(BTC) == before
    assert len(await updates(redis)) == 1


async def test_two_instances_on_one_stream_sum_every_fill_exactly_once(
    redis: aioredis.Redis, redis_url: str
) -> None:
    rng = random.Random(11)
    fills = [
        filled(
            f"e{i}",
            Side.BUY,
            f"{rng.randint(1, 999)}e-3",
            f"{rng.randint(90_000, 110_000)}e-3",
            fee=f"{rng.randint(0, 50)}e-4",
        )
        for i in range(120)
    ]

    async with (
        running_positions(redis_url, batch_size=1) as first,
        running_positions(redis_url, batch_size=1) as second,
    ):
        for fill in fills:
            await publish(redis, fill)
        await wait_until(lambda: _updates_count(redis, len(fills)), timeout_s=20)
        handled = [parts(r).handled for r in (first, second)]

    stored = await RedisPositionStore(redis).get(BTC)
    assert stored is not None
    assert stored.qty == sum(f.qty for f in fills)
    assert stored.fees_paid == sum(f.fee for f in fills)
    vwap = sum(f.qty * f.price for f in fills) / stored.qty
    assert stored.avg_entry_price is not None
    assert abs(stored.avg_entry_price - vwap) < D("1e-20")
    assert len(await updates(redis)) == len(fills)
    assert all(count > 0 for count in handled), f"both instances folded fills: {handled}"


async def test_redelivered_fill_republishes_the_position_under_the_same_event_id(
    redis: aioredis.Redis,
) -> None:
    handler = FillsHandler(
        positions=PerAccount(
            [DEFAULT_ACCOUNT], lambda a: {DEFAULT_VENUE: RedisPositionStore(redis, account=a)}
        ),
        marks=RedisMarkStore(redis),
        bus=Bus(redis, EnvelopeCodec()),
        metrics=EngineMetrics(CollectorRegistry()),
    )
    fill = filled("e1", Side.SELL, "2", "50")
    envelope = await publish(redis, fill)

    await handler([Incoming(envelope, fill, attempt=1)])
    await handler([Incoming(envelope, fill, attempt=1)])  # a duplicate: nothing
    await handler([Incoming(envelope, fill, attempt=2)])  # a redelivery: said again

    published = await updates(redis)
    assert len(published) == 2
    assert published[0][0].event_id == published[1][0].event_id
    assert published[0][1] == published[1][1]
    assert published[1][1].qty == D(-2)


async def _updates_count(redis: aioredis.Redis, n: int) -> bool:
    return len(await updates(redis)) >= n
