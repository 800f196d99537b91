"""Consumer groups against real Redis: delivery, retries, dead letters, claims."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis

from libs.common.bus import (
    Ack,
    Bus,
    ConsumerSpec,
    Delivery,
    PoisonMessage,
    StreamConsumer,
    read_dead_letters,
)
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.topology import ORDERS_REQUESTS, Stream
from tests.integration.bus.conftest import Start
from tests.integration.bus.helpers import pending_count, wait_until

pytestmark = pytest.mark.integration

STREAM = ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)
GROUP = "risk"


def spec(**overrides: Any) -> ConsumerSpec:
    fields: dict[str, Any] = {
        "stream": STREAM,
        "group": GROUP,
        "ack": Ack.BATCH,
        "max_records": 20,
        "retry_backoff_ms": 20,
        "claim_idle_ms": 5_000,
        "block_ms": 20,
    }
    return ConsumerSpec(**(fields | overrides))


class Recorder:
    """A handler that records deliveries and fails on the messages it is told to."""

    def __init__(self, fail: dict[bytes, int] | None = None) -> None:
        self.seen: list[Delivery[bytes]] = []
        self.fail = fail or {}  # message -> how many deliveries fail (-1: all)

    async def __call__(self, delivery: Delivery[bytes]) -> None:
        self.seen.append(delivery)
        left = self.fail.get(delivery.message, 0)
        if left:
            self.fail[delivery.message] = left - 1
            raise ValueError(f"boom on {delivery.message.decode()}")

    def messages(self) -> list[bytes]:
        return [d.message for d in self.seen]


async def test_batch_consumers_in_one_group_handle_each_message_once(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handlers = [Recorder(), Recorder()]
    for h in handlers:
        await start(bus.consumer(spec(), h))
    sent = [f"m{i}".encode() for i in range(1_000)]

    await bus.publish_many(STREAM, sent)

    await wait_until(lambda: sum(len(h.seen) for h in handlers) >= len(sent))
    got = handlers[0].messages() + handlers[1].messages()
    assert sorted(got) == sorted(sent)
    assert all(h.seen for h in handlers), "both consumers took a share"
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_poison_message_is_dead_lettered_after_max_deliveries_and_neighbours_acked(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = Recorder(fail={b"poison": -1})
    consumer = await start(bus.consumer(spec(max_deliveries=3), handler))
    ids = await bus.publish_many(STREAM, [b"a", b"poison", b"b"])

    await wait_until(lambda: consumer.stats.dead_lettered == 1)

    (dead,) = await read_dead_letters(redis, STREAM)
    assert (dead.entry_id, dead.stream, dead.group, dead.data) == (
        ids[1],
        STREAM.name,
        GROUP,
        b"poison",
    )
    assert dead.attempts == 3
    assert dead.error == "ValueError: boom on poison"
    assert dead.consumer == consumer.spec.consumer
    assert Counter(handler.messages()) == {b"a": 1, b"b": 1, b"poison": 3}
    assert [d.attempt for d in handler.seen if d.message == b"poison"] == [1, 2, 3]
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_failed_message_is_retried_until_it_succeeds(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = Recorder(fail={b"flaky": 2})
    consumer = await start(bus.consumer(spec(max_deliveries=5), handler))

    await bus.publish(STREAM, b"flaky")

    await wait_until(lambda: consumer.stats.handled == 1)
    assert [d.attempt for d in handler.seen] == [1, 2, 3]
    assert consumer.stats.retried == 2
    assert await read_dead_letters(redis, STREAM) == []
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_poison_exception_and_undecodable_entries_are_dead_lettered_at_once(
    redis: aioredis.Redis, start: Start
) -> None:
    class JsonCodec:
        def encode(self, message: Any, /) -> bytes:
            return json.dumps(message).encode()

        def decode(self, data: bytes, /) -> Any:
            return json.loads(data)

    async def handle(delivery: Delivery[Any]) -> None:
        if delivery.message == "refuse":
            raise PoisonMessage("unknown instrument")

    bus = Bus(redis, JsonCodec())
    consumer = await start(bus.consumer(spec(), handle))
    await bus.publish(STREAM, "refuse")
    await redis.xadd(STREAM.name, {b"__data__": b"{not json"})
    await redis.xadd(STREAM.name, {b"foreign": b"field"})

    await wait_until(lambda: consumer.stats.dead_lettered == 3)

    dead = await read_dead_letters(redis, STREAM)
    assert [d.attempts for d in dead] == [1, 1, 1]
    assert dead[0].error == "PoisonMessage: unknown instrument"
    assert dead[1].error.startswith("PoisonMessage: undecodable entry (caused by JSONDecodeError")
    assert dead[1].data == b"{not json"
    assert dead[2].error == "PoisonMessage: entry has no __data__ field"
    assert b"foreign" in dead[2].data


async def test_pending_entries_of_a_dead_consumer_are_claimed_and_handled(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    await bus.publish_many(STREAM, [f"old{i}".encode() for i in range(30)])
    await redis.xgroup_create(STREAM.name, GROUP, id="0")
    # The dead consumer reads 30 entries and never acks them.
    await redis.xreadgroup(GROUP, "dead", {STREAM.name: ">"}, count=30)
    handler = Recorder()
    live = spec(claim_idle_ms=300, claim_interval_ms=50)
    consumer = await start(bus.consumer(live, handler))
    await bus.publish(STREAM, b"new")

    await wait_until(lambda: len(handler.seen) == 31)

    assert handler.seen[0].message == b"new", "new entries do not wait for the claim"
    assert {d.attempt for d in handler.seen[1:]} == {2}
    assert consumer.stats.claimed == 30
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_failed_entry_claimed_by_another_consumer_is_not_taken_back(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = Recorder(fail={b"x": -1})
    consumer = await start(bus.consumer(spec(retry_backoff_ms=200, claim_idle_ms=60_000), handler))
    (entry_id,) = await bus.publish_many(STREAM, [b"x"])
    await wait_until(lambda: consumer.stats.retried == 1)

    await redis.xclaim(STREAM.name, GROUP, "other", 0, [entry_id])
    await asyncio.sleep(0.6)  # three times the retry backoff

    assert len(handler.seen) == 1
    (pending,) = await redis.xpending_range(STREAM.name, GROUP, "-", "+", 10)
    assert pending["consumer"] == b"other"


async def test_claimed_entry_past_max_deliveries_is_dead_lettered_unhandled(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    await bus.publish(STREAM, b"crasher")
    await redis.xgroup_create(STREAM.name, GROUP, id="0")
    # Two consumers took it in turn and died while handling it.
    ((_, ((entry_id, _),)),) = await redis.xreadgroup(GROUP, "dead1", {STREAM.name: ">"})
    await redis.xclaim(STREAM.name, GROUP, "dead2", 0, [entry_id])
    handler = Recorder()
    live = spec(max_deliveries=2, claim_idle_ms=100, claim_interval_ms=20)
    consumer = await start(bus.consumer(live, handler))

    await wait_until(lambda: consumer.stats.dead_lettered == 1)

    (dead,) = await read_dead_letters(redis, STREAM)
    assert (dead.attempts, dead.data) == (3, b"crasher")
    assert dead.error == "RuntimeError: delivered 3 times without an outcome"
    assert handler.seen == []


async def test_per_message_ack_acks_each_message_before_the_next(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    pending_seen: list[int] = []

    async def handle(delivery: Delivery[bytes]) -> None:
        pending_seen.append(await pending_count(redis, STREAM.name, GROUP))

    await bus.publish_many(STREAM, [b"1", b"2", b"3", b"4"])
    consumer = await start(bus.consumer(spec(ack=Ack.MESSAGE), handle))

    await wait_until(lambda: consumer.stats.handled == 4)
    assert pending_seen == [4, 3, 2, 1]


async def test_stop_leaves_the_group_only_when_nothing_is_pending(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    failing = await start(bus.consumer(spec(retry_backoff_ms=1_000), Recorder({b"x": -1})))
    await bus.publish(STREAM, b"x")
    await wait_until(lambda: failing.stats.failed == 1)
    idle = await start(bus.consumer(spec(), Recorder()))

    await idle.stop()
    await failing.stop()

    names = {c["name"].decode() for c in await redis.xinfo_consumers(STREAM.name, GROUP)}
    assert names == {failing.spec.consumer}


async def test_consumer_recreates_its_group_when_it_vanishes(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = Recorder()
    await start(bus.consumer(spec(), handler))
    await redis.xgroup_destroy(STREAM.name, GROUP)

    await bus.publish(STREAM, b"after")

    await wait_until(lambda: handler.messages() == [b"after"])


async def test_new_group_reads_what_was_published_before_it_started(
    bus: Bus[bytes], start: Start
) -> None:
    stream = Stream("t.early", maxlen=1_000)
    await bus.publish(stream, b"early")
    handler = Recorder()

    await start(bus.consumer(spec(stream=stream), handler))

    await wait_until(lambda: handler.messages() == [b"early"])


async def test_consumer_runs_with_a_faststream_app(bus: Bus[bytes], redis_url: str) -> None:
    from faststream import FastStream
    from faststream.redis import RedisBroker

    from libs.common.bus import attach

    handler = Recorder()
    consumer = bus.consumer(spec(), handler)
    app = FastStream(RedisBroker(redis_url), logger=None)
    attach(app, consumer)

    async with app:
        assert consumer.running
        await bus.publish(STREAM, b"via app")
        await wait_until(lambda: handler.messages() == [b"via app"])
    assert not consumer.running


async def test_consumer_refuses_a_decoding_client(redis_url: str) -> None:
    from libs.common.bus import BusConfigError, BytesCodec

    async with aioredis.Redis.from_url(redis_url, decode_responses=True) as client:
        with pytest.raises(BusConfigError, match="decode_responses=False"):
            StreamConsumer(client, spec(), BytesCodec(), Recorder())


async def test_envelopes_round_trip_and_a_broken_envelope_is_dead_lettered(
    redis: aioredis.Redis, start: Start
) -> None:
    from libs.common.bus import EnvelopeCodec
    from libs.common.messages import CancelAllOrders, Envelope

    opened: list[object] = []

    async def handle(delivery: Delivery[Envelope]) -> None:
        opened.append(delivery.message.open())

    bus = Bus(redis, EnvelopeCodec())
    consumer = await start(bus.consumer(spec(), handle))
    command = CancelAllOrders(symbol="BTCUSDT")
    sent = Envelope.wrap(command)
    await bus.publish(STREAM, sent)
    await redis.xadd(STREAM.name, {b"__data__": b'{"type": "CancelAllOrders"}'})

    await wait_until(lambda: opened == [command] and consumer.stats.dead_lettered == 1)
    (dead,) = await read_dead_letters(redis, STREAM)
    assert "ValidationError" in dead.error


async def test_consumer_carries_on_after_its_connections_are_killed(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = Recorder()
    await start(bus.consumer(spec(), handler))
    await bus.publish(STREAM, b"before")
    await wait_until(lambda: handler.messages() == [b"before"])

    await redis.client_kill_filter(_type="normal", skipme=True)
    await bus.publish(STREAM, b"after")

    await wait_until(lambda: handler.messages() == [b"before", b"after"])
