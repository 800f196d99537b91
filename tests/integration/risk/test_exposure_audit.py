"""The exposure audit over real Redis: totals recomputed from the entries, each venue's share
included, and repaired where they drifted."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, Symbol, VenueId
from libs.common.domain.orders import Order, admit
from libs.common.metrics import ExposureDriftKind
from libs.common.stores import RedisOrderStore
from libs.common.stores.exposure_audit import Drift, audit_symbol
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.topology import keys_of

pytestmark = pytest.mark.integration
BTC, BINANCE = Symbol("BTCUSDT"), VenueId("binance-usdm")
USD = 1_000_000


def admitted(cid: str, venue: str) -> Order:
    order = Order(
        client_order_id=ClientOrderId(cid),
        symbol=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.1"),
        price=Decimal(50_000),
        created_ts_ns=1,
        updated_ts_ns=1,
        venue=VenueId(venue),
    )
    return admit(order, Decimal(50_000), ts_ns=2)


async def test_the_audit_repairs_a_venues_share_from_its_entries(redis: aioredis.Redis) -> None:
    orders = RedisOrderStore(redis)
    await orders.create(admitted("y1", "bybit"))
    await orders.create(admitted("n1", BINANCE))
    key = keys_of(DEFAULT_ACCOUNT).exposure(BTC)
    await redis.hset(key, mapping={"buy@binance-usdm": 1, "sell@binance-usdm": 7})  # drifted

    drifts = await audit_symbol(redis, DEFAULT_ACCOUNT, BTC)

    total = ExposureDriftKind.TOTAL
    assert sorted(drifts, key=lambda d: d.key) == [
        Drift(DEFAULT_ACCOUNT, BTC, total, "buy@binance-usdm", 1, 5_000 * USD),
        Drift(DEFAULT_ACCOUNT, BTC, total, "sell@binance-usdm", 7, 0),
    ]
    book = (await RedisExposureLedger(redis).books([BTC]))[BTC]
    assert (book.buy, book.at(BINANCE).buy, book.at(VenueId("bybit")).buy) == (
        10_000 * USD,
        5_000 * USD,
        5_000 * USD,
    )
    assert await audit_symbol(redis, DEFAULT_ACCOUNT, BTC) == []
