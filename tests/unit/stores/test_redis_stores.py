"""Redis-only behaviour the contract suites cannot state: script reload, TTLs, key layout."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

import pytest
import redis.asyncio as aioredis

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId, Symbol, VenueOrderId
from libs.common.domain.orders import Order, apply_ack, apply_cancel
from libs.common.domain.positions import Fill
from libs.common.domain.risk_checks import FreezeClass
from libs.common.stores import (
    RedisLeaseStore,
    RedisOrderStore,
    RedisPositionStore,
    RedisRiskStateStore,
)
from libs.common.topology import (
    FREEZE_KEY,
    keys_of,
)

pytestmark = pytest.mark.integration

BTC = Symbol("BTCUSDT")
DAY_MS = 24 * 3600 * 1000


def make_order(cid: str) -> Order:
    return Order(
        client_order_id=ClientOrderId(cid), symbol=BTC, side=Side.SELL,
        order_type=OrderType.LIMIT, qty=Decimal(1), price=Decimal(100),
        created_ts_ns=1, updated_ts_ns=1,
    )  # fmt: skip


async def test_stores_reload_their_scripts_after_the_server_forgets_them(
    redis: aioredis.Redis,
) -> None:
    orders, leases = RedisOrderStore(redis), RedisLeaseStore(redis)
    await orders.create(make_order("a"))
    await orders.create(make_order("b"))

    await redis.script_flush()  # as after a restart
    results = await orders.update_many(
        [(ClientOrderId(c), partial(apply_ack, venue_order_id=None, ts_ns=2)) for c in "ab"]
    )
    await redis.script_flush()

    assert all(isinstance(r, Order) and r.version == 1 for r in results)
    assert await leases.acquire("l", "me", 1000) is True


async def test_terminal_order_expires_after_retention_and_open_order_does_not(
    redis: aioredis.Redis,
) -> None:
    orders = RedisOrderStore(redis, terminal_retention_s=3600)
    await orders.create(make_order("a"))
    await orders.update(
        ClientOrderId("a"), partial(apply_ack, venue_order_id=VenueOrderId("v"), ts_ns=2)
    )
    assert await redis.pttl(keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("a"))) == -1

    await orders.update(ClientOrderId("a"), partial(apply_cancel, ts_ns=3))

    assert 0 < await redis.pttl(keys_of(DEFAULT_ACCOUNT).order(ClientOrderId("a"))) <= 3600_000
    assert 0 < await redis.pttl(keys_of(DEFAULT_ACCOUNT).venue_order(VenueOrderId("v"))) <= 3600_000


async def test_order_record_is_the_orders_pydantic_json(redis: aioredis.Redis) -> None:
    order = make_order("a")
    await RedisOrderStore(redis).create(order)

    raw = await redis.get(keys_of(DEFAULT_ACCOUNT).order(order.client_order_id))

    assert raw is not None and Order.model_validate_json(raw) == order
    assert b'"qty":"1"' in raw  # Decimals as exact strings


async def test_applied_fill_is_remembered_for_seven_days(redis: aioredis.Redis) -> None:
    fill = Fill(
        exec_id=ExecId("e1"), symbol=BTC, side=Side.BUY, qty=Decimal(1), price=Decimal(1), ts_ns=1
    )
    await RedisPositionStore(redis).apply_fill(fill)

    ttl = await redis.pttl(keys_of(DEFAULT_ACCOUNT).exec_seen(fill.exec_id))

    assert 7 * DAY_MS - 60_000 < ttl <= 7 * DAY_MS


async def test_freeze_state_is_a_hash_routers_can_read(redis: aioredis.Redis) -> None:
    await RedisRiskStateStore(redis).freeze("edge", "risk", 123, code="edge_collapse")

    fields = await redis.hgetall(FREEZE_KEY)

    generation = fields.pop(b"generation")
    assert fields == {
        b"state": b"FROZEN", b"reason": b"edge", b"actor": b"risk", b"epoch": b"1",
        b"since_ns": b"123", b"code": b"edge_collapse", b"class": b"hard",
    }  # fmt: skip
    assert len(generation) == 16


async def test_a_freeze_key_lost_with_the_data_comes_back_in_a_new_generation(
    redis: aioredis.Redis,
) -> None:
    store = RedisRiskStateStore(redis)
    await store.freeze("edge", "risk-1", 1)
    before = await store.trading_state()
    await redis.delete(FREEZE_KEY)  # as after FLUSHALL, or a restart without the AOF

    await store.freeze("edge", "risk-1", 2)

    after = await store.trading_state()
    assert (after.epoch, before.epoch) == (1, 1)
    assert after.generation != before.generation


async def test_a_freeze_key_written_before_classes_is_hard_and_not_taken_over(
    redis: aioredis.Redis,
) -> None:
    legacy = {"state": "FROZEN", "reason": "venue_circuit: old", "actor": "router",
              "epoch": "4", "since_ns": "1000", "generation": "g1"}  # fmt: skip
    await redis.hset(FREEZE_KEY, mapping=legacy)
    store = RedisRiskStateStore(redis)

    taken = await store.freeze("manual", "op", 1001, code="manual")

    status = await store.trading_state()
    assert (status.code, status.freeze_class, status.epoch) == ("", FreezeClass.HARD, 4)
    assert taken == (4, False)
