"""`mmx migrate`: data written before accounts (layout 1) becomes the `default` account's,
the streams of layout 2 move into the slots of their account or of the desk (layout 3), and
no service starts on older data."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.enums import OrderType, Side
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId, Symbol
from libs.common.domain.orders import Order
from libs.common.domain.positions import Fill
from libs.common.migrations import (
    LAYOUT_VERSION,
    SCHEMA_KEY,
    LayoutOutdated,
    check_layout,
    layout_version,
)
from libs.common.stores import RedisOrderStore, RedisPositionStore
from libs.common.stores.exposure_redis import RedisExposureLedger
from libs.common.topology import POSITION_DRIFT_KEY, keys_of
from services.cli import main as _main

pytestmark = pytest.mark.integration
BTC = Symbol("BTCUSDT")


async def main(argv: list[str]) -> int:
    return await asyncio.to_thread(_main, argv)


async def _write_layout_1(redis: aioredis.Redis) -> None:
    """What an engine before accounts left: the same records under `mmx:` instead of
    `mmx:{default}:` (the stores wrote them, then they are renamed back)."""
    order = Order(
        client_order_id=ClientOrderId("c-1"),
        symbol=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.01"),
        price=Decimal("60000"),
        created_ts_ns=1,
        updated_ts_ns=1,
    )
    await RedisOrderStore(redis).create(order)
    fill = Fill(
        exec_id=ExecId("e-1"),
        symbol=BTC,
        side=Side.SELL,
        qty=Decimal("0.5"),
        price=Decimal("61000"),
        ts_ns=2,
    )
    await RedisPositionStore(redis).apply_fill(fill)
    await redis.hset(POSITION_DRIFT_KEY, "BTCUSDT", "{}")  # desk-wide: not moved
    new = keys_of(DEFAULT_ACCOUNT).prefix
    async for raw in redis.scan_iter(match="mmx:{default}:*"):
        key = raw.decode()
        await redis.rename(key, "mmx" + key[len(new) :])
    await redis.delete(SCHEMA_KEY)


async def test_layout_1_data_is_refused_until_migrated_then_is_the_default_accounts(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _write_layout_1(redis)
    assert await layout_version(redis) == 1
    with pytest.raises(LayoutOutdated, match="mmx migrate"):
        await check_layout(redis)
    seen_ttl = await redis.pttl("mmx:idem:exec:e-1")

    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await main(["migrate"]) == 0

    await check_layout(redis)
    assert await layout_version(redis) == LAYOUT_VERSION
    orders, positions = RedisOrderStore(redis), RedisPositionStore(redis)
    stored = await orders.get(ClientOrderId("c-1"))
    assert stored is not None and stored.account == DEFAULT_ACCOUNT
    assert [o.client_order_id for o in await orders.open_orders(BTC)] == ["c-1"]
    (position,) = await positions.all()
    assert (position.qty, position.account) == (Decimal("-0.5"), DEFAULT_ACCOUNT)
    assert BTC in await RedisExposureLedger(redis).symbols()
    assert 0 < await redis.pttl(keys_of(DEFAULT_ACCOUNT).exec_seen(ExecId("e-1"))) <= seen_ttl
    assert await redis.hget(POSITION_DRIFT_KEY, "BTCUSDT") == b"{}"
    assert [k async for k in redis.scan_iter(match="mmx:order:*")] == []


async def test_migrating_twice_moves_nothing_the_second_time(
    redis: aioredis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _write_layout_1(redis)
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await main(["migrate"]) == 0
    assert "layout 1 -> 3" in capsys.readouterr().out
    assert await main(["migrate"]) == 0
    assert "layout 3 -> 3: 0 key(s) moved" in capsys.readouterr().out


async def test_layout_2_streams_move_with_their_groups_and_pending_entries(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await redis.xgroup_create("orders.events", "positions", id="0", mkstream=True)
    await redis.xadd("orders.events", {"__data__": b"fill"})
    await redis.xreadgroup("positions", "p-1", {"orders.events": ">"})  # now pending
    await redis.xadd("orders.events.dlq", {"__data__": b"poison"})
    await redis.xadd("control", {"__data__": b"frozen"})
    await redis.hset("mmx:risk:freeze", mapping={"state": "FROZEN", "epoch": 3})
    await redis.hset("mmx:risk:limits", "max_total_notional", "1000")
    await redis.hset("mmx:apikey:k1", "role", "trader")
    await redis.sadd("mmx:apikeys", "k1")
    await redis.hset("mmx:mark:BTCUSDT", "mark", "60000")
    await redis.set(SCHEMA_KEY, 2)
    with pytest.raises(LayoutOutdated, match="layout 2"):
        await check_layout(redis)

    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await main(["migrate"]) == 0

    await check_layout(redis)
    events = topology.ORDERS_EVENTS.of(DEFAULT_ACCOUNT)
    pending = await redis.xpending(events.name, "positions")
    assert pending["pending"] == 1
    assert await redis.xlen(events.dlq.name) == 1
    assert await redis.xlen(topology.CONTROL.desk.name) == 1
    assert await redis.hget(topology.FREEZE_KEY, "state") == b"FROZEN"
    assert await redis.hget(topology.RISK_LIMITS_KEY, "max_total_notional") == b"1000"
    assert await redis.smembers(topology.API_KEYS_KEY) == {b"k1"}
    assert await redis.hget(topology.api_key_key("k1"), "role") == b"trader"
    assert await redis.hget(topology.mark_key(BTC), "mark") == b"60000"
    assert not await redis.exists("orders.events", "control", "mmx:risk:freeze", "mmx:apikeys")


async def test_a_redis_no_engine_wrote_to_gets_the_current_layout(redis: aioredis.Redis) -> None:
    await check_layout(redis)
    assert await redis.get(SCHEMA_KEY) == str(LAYOUT_VERSION).encode()
