"""Publishing (trimming, pipelining) and group-less broadcast against real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from libs.common.bus import Bus, Delivery, Handler
from libs.common.topology import CONTROL, Group, Stream
from tests.integration.bus.conftest import Start
from tests.integration.bus.helpers import wait_until

pytestmark = pytest.mark.integration


async def test_publish_trims_the_stream_to_about_its_maxlen(
    bus: Bus[bytes], redis: aioredis.Redis
) -> None:
    stream = Stream("t.trimmed", maxlen=100)

    for i in range(500):
        await bus.publish(stream, b"%d" % i)
    await bus.publish_many(stream, (b"%d" % i for i in range(500, 2_000)))

    # `MAXLEN ~` trims whole radix-tree nodes (100 entries each by default), never below maxlen.
    assert 100 <= await redis.xlen(stream.name) < 200
    ((_, last_fields),) = await redis.xrevrange(stream.name, count=1)
    assert last_fields == {b"__data__": b"1999"}


async def test_publish_many_keeps_order_and_returns_the_entry_ids(
    bus: Bus[bytes], redis: aioredis.Redis
) -> None:
    stream = Stream("t.ordered", maxlen=10_000)
    sent = [b"%d" % i for i in range(1_234)]

    ids = await bus.publish_many(stream, sent)

    entries = await redis.xrange(stream.name)
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    assert [fields[b"__data__"] for _, fields in entries] == sent


async def test_add_publishes_inside_the_callers_transaction(
    bus: Bus[bytes], redis: aioredis.Redis
) -> None:
    stream = Stream("t.outbox", maxlen=10)
    async with redis.pipeline(transaction=True) as tx:
        tx.set("state", "v2")
        bus.add(tx, stream, b"state changed")
        await tx.execute()

    assert await redis.get("state") == b"v2"
    assert [f for _, f in await redis.xrange(stream.name)] == [{b"__data__": b"state changed"}]


async def test_broadcast_reaches_every_reader(bus: Bus[bytes], start: Start) -> None:
    await bus.publish(CONTROL.desk, b"before")
    seen: list[list[bytes]] = [[], [], []]

    def recorder(into: list[bytes]) -> Handler[bytes]:
        async def handle(delivery: Delivery[bytes]) -> None:
            into.append(delivery.message)

        return handle

    for into in seen:
        await start(bus.broadcast_reader(CONTROL.desk, recorder(into)))
    replay: list[bytes] = []
    await start(bus.broadcast_reader(CONTROL.desk, recorder(replay), from_start=True))

    for message in (b"freeze", b"unfreeze", b"freeze"):
        await bus.publish(CONTROL.desk, message)

    expected = [b"freeze", b"unfreeze", b"freeze"]
    await wait_until(lambda: all(s == expected for s in seen) and len(replay) == 4)
    assert replay == [b"before", *expected]


async def test_broadcast_reader_survives_a_failing_handler(bus: Bus[bytes], start: Start) -> None:
    seen: list[bytes] = []

    async def handle(delivery: Delivery[bytes]) -> None:
        if delivery.message == b"bad":
            raise ValueError("bad control message")
        seen.append(delivery.message)

    await start(bus.broadcast_reader(CONTROL.desk, handle))
    await bus.publish_many(CONTROL.desk, [b"bad", b"good"])

    await wait_until(lambda: seen == [b"good"])


async def test_ensure_groups_declares_every_group_at_the_start_of_its_stream(
    bus: Bus[bytes], redis: aioredis.Redis
) -> None:
    from libs.common.bus import ensure_groups

    stream = Stream("t.declared", maxlen=100)
    await bus.publish(stream, b"early")

    await ensure_groups(redis, {Group.RISK: (stream,), Group.ROUTER: (stream,)})
    await ensure_groups(redis, {Group.RISK: (stream,)})  # idempotent

    groups = await redis.xinfo_groups(stream.name)
    assert {g["name"] for g in groups} == {b"risk", b"router"}
    assert all(g["last-delivered-id"] == b"0-0" for g in groups)
