"""A batch handler sees each read batch in one call, yet fails and retries per message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import redis.asyncio as aioredis

from libs.common.bus import Bus, Delivery, read_dead_letters
from libs.common.bus_pel import ensure_group
from tests.integration.bus.conftest import Start
from tests.integration.bus.helpers import pending_count, wait_until
from tests.integration.bus.test_consumer import GROUP, STREAM, spec


class BatchRecorder:
    """Records each call's batch; returns an error for `refuse`, raises on `explode`."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    async def __call__(self, batch: Sequence[Delivery[bytes]]) -> list[BaseException | None]:
        messages = [d.message for d in batch]
        self.calls.append(messages)
        if b"explode" in messages:
            raise RuntimeError("the batch write failed")
        return [ValueError("refused") if m == b"refuse" else None for m in messages]

    def handled(self) -> Counter[bytes]:
        return Counter(m for call in self.calls for m in call)


async def test_batch_handler_gets_the_read_batch_in_one_call(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = BatchRecorder()
    await ensure_group(redis, STREAM.name, GROUP, "0")
    await bus.publish_many(STREAM, [b"m%d" % i for i in range(30)])
    consumer = bus.batch_consumer(spec(max_records=20), handler)

    assert await consumer.poll() == 20
    assert await consumer.poll() == 10

    assert [len(call) for call in handler.calls] == [20, 10]
    assert await pending_count(redis, STREAM.name, GROUP) == 10  # acked with the next read
    assert await consumer.poll() == 0
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_a_failed_result_retries_only_that_message_then_dead_letters_it(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = BatchRecorder()
    consumer = await start(bus.batch_consumer(spec(max_deliveries=2), handler))
    await bus.publish_many(STREAM, [b"a", b"refuse", b"b"])

    await wait_until(lambda: consumer.stats.dead_lettered == 1)

    (dead,) = await read_dead_letters(redis, STREAM)
    assert (dead.data, dead.attempts) == (b"refuse", 2)
    assert handler.handled() == {b"a": 1, b"b": 1, b"refuse": 2}
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_a_raising_batch_is_split_so_neighbours_are_not_charged(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    handler = BatchRecorder()
    consumer = await start(bus.batch_consumer(spec(max_deliveries=2), handler))
    await bus.publish_many(STREAM, [b"a", b"explode", b"b"])

    await wait_until(lambda: consumer.stats.dead_lettered == 1)

    (dead,) = await read_dead_letters(redis, STREAM)
    assert dead.data == b"explode"
    assert dead.error == "RuntimeError: the batch write failed"
    assert handler.calls[0] == [b"a", b"explode", b"b"]
    # After the split, a and b were each handled alone once and acked: no retry charged.
    assert [call for call in handler.calls[1:] if call != [b"explode"]] == [[b"a"], [b"b"]]
    assert consumer.stats.retried == 1  # only `explode` went round again
    assert await pending_count(redis, STREAM.name, GROUP) == 0


async def test_stopping_acks_the_last_batch_it_handled(
    bus: Bus[bytes], start: Start, redis: aioredis.Redis
) -> None:
    await ensure_group(redis, STREAM.name, GROUP, "0")
    await bus.publish_many(STREAM, [b"a", b"b"])
    consumer = bus.batch_consumer(spec(max_records=20), BatchRecorder())
    assert await consumer.poll() == 2
    assert await pending_count(redis, STREAM.name, GROUP) == 2

    await consumer.stop()

    assert await pending_count(redis, STREAM.name, GROUP) == 0
