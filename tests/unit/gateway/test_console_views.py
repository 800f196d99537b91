"""The console's overview readers against a real Redis: edge, audit, venue and stream health
(the venue circuits as `GET /v1/risk` reads them for the console)."""

from __future__ import annotations

import time
from decimal import Decimal

import redis.asyncio as aioredis

from libs.common import topology
from libs.common.bus import Bus, EnvelopeCodec, ensure_groups
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.messages import Envelope, FreezeTrading, OperatorAction
from services.gateway import circuits as venue_circuits
from services.gateway.console import views


async def test_edge_rows_pair_reported_and_measured_per_symbol(redis: aioredis.Redis) -> None:
    await redis.hset(
        topology.EDGE_KEY,
        mapping={"BTCUSDT|reported": "5", "BTCUSDT|measured": "4.25", "BTCUSDT|fills": "7"},
    )
    await redis.hset(topology.EDGE_KEY, "ETHUSDT|reported", "-1.5")

    rows = await views.read_edge(redis)

    assert [(r.symbol, r.reported, r.measured, r.measured_fills) for r in rows] == [
        ("BTCUSDT", Decimal(5), Decimal("4.25"), 7),
        ("ETHUSDT", Decimal("-1.5"), None, None),
    ]


async def test_audit_rows_are_newest_first_with_actor_reason_and_details(
    redis: aioredis.Redis,
) -> None:
    bus = Bus(redis, EnvelopeCodec())
    await bus.publish(topology.AUDIT, Envelope.wrap(FreezeTrading(reason="drill", actor="ann")))
    action = OperatorAction(
        action="cancel_all", actor="bob", reason="tidy", details={"symbol": "BTCUSDT"}
    )
    await bus.publish(topology.AUDIT, Envelope.wrap(action))

    rows = await views.read_audit(redis)

    assert [(r.type, r.actor, r.reason) for r in rows] == [
        ("OperatorAction", "bob", "tidy"),
        ("FreezeTrading", "ann", "drill"),
    ]
    assert '"symbol":"BTCUSDT"' in rows[0].details and "actor" not in rows[0].details
    assert abs(rows[0].time - time.time() * 1000) < 60_000


async def test_venue_health_reads_circuits_and_rate_limit_use_in_the_last_second(
    redis: aioredis.Redis,
) -> None:
    now_ns = time.time_ns()
    await redis.hset(
        topology.venue_circuit_key("router-1"),
        mapping={"state": "open", "failures": "5", "reason": "timeout", "updated_ns": now_ns},
    )
    await redis.zadd(topology.VENUE_CIRCUITS_KEY, {"router-1": now_ns // 1_000_000})
    await redis.zadd(topology.VENUE_CIRCUITS_KEY, {"router-gone": 1})  # its hash expired
    seconds, micros = await redis.time()
    now_us = seconds * 1_000_000 + micros
    bucket = topology.rate_limit_key("bybit:linear:trade")
    await redis.zadd(bucket, {"old": now_us - 5_000_000, "a": now_us - 1000, "b": now_us})
    until_ms = now_us // 1000 + 30_000
    await redis.set(topology.rate_limit_block_key("bybit:linear:trade"), str(until_ms))

    circuits = await venue_circuits.read_circuits(redis)
    rates = await views.read_rate_limits(redis)

    assert [(c.instance, c.state, c.failures, c.reason) for c in circuits] == [
        ("router-1", "open", 5, "timeout")
    ]
    assert circuits[0].updated_time == now_ns // 1_000_000
    assert [(r.bucket, r.used_last_second, r.blocked_until) for r in rates] == [
        ("bybit:linear:trade", 2, until_ms)
    ]


async def test_stream_health_shows_every_stream_of_the_desk_with_lag_pending_and_dead_letters(
    redis: aioredis.Redis,
) -> None:
    accounts = (DEFAULT_ACCOUNT, AccountId("alpha"))
    approved = topology.ORDERS_APPROVED.of(accounts[1])
    await ensure_groups(redis, topology.consumed(accounts))
    bus = Bus(redis, EnvelopeCodec())
    for _ in range(3):
        await bus.publish(approved, Envelope.wrap(FreezeTrading(reason="x", actor="t")))
    await redis.xreadgroup("router", "r1", {approved.name: ">"}, count=1)
    await redis.xadd(approved.dlq.name, {"x": "1"})
    await redis.xadd(topology.AUDIT.dlq.name, {"x": "1"})

    listed = await views.read_streams(redis, accounts)
    rows = {row.stream: row for row in listed}

    assert [row.stream for row in listed] == [s.name for s in topology.all_streams(accounts)]
    alphas = rows[approved.name]
    assert (alphas.length, alphas.dead_letters) == (3, 1)
    assert [(g.group, g.lag, g.pending) for g in alphas.groups] == [
        ("archive", 3, 0),
        ("router", 2, 1),
    ]
    assert rows[topology.ORDERS_APPROVED.of(DEFAULT_ACCOUNT).name].length == 0
    assert [g.group for g in rows[topology.AUDIT.name].groups] == ["archive"]
    assert rows[topology.AUDIT.name].dead_letters == 1  # `{audit}.dlq`, in audit's slot
    assert [g.group for g in rows[topology.CONTROL.desk.name].groups] == ["archive"]
    assert rows[topology.POSITIONS_UPDATES.name].groups == []
