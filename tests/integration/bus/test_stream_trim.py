"""Trimming against real Redis: acknowledged entries go, unacknowledged and unread stay."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from libs.common.stream_trim import trim_acked
from libs.common.topology import Stream

pytestmark = pytest.mark.integration


async def _fill(redis: aioredis.Redis, name: str, count: int) -> list[bytes]:
    return [await redis.xadd(name, {"n": str(i)}) for i in range(count)]


async def test_entries_every_group_acknowledged_are_trimmed_and_the_rest_kept(
    redis: aioredis.Redis,
) -> None:
    stream = Stream("trim.test", maxlen=None)
    await redis.xgroup_create(stream.name, "fast", id="0", mkstream=True)
    await redis.xgroup_create(stream.name, "slow", id="0")
    ids = await _fill(redis, stream.name, 300)
    fast = await redis.xreadgroup("fast", "c", {stream.name: ">"}, count=300)
    await redis.xack(stream.name, "fast", *[i for i, _ in fast[0][1]])
    await redis.xreadgroup("slow", "c", {stream.name: ">"}, count=200)  # 200 pending
    slow = await redis.xpending_range(stream.name, "slow", min="-", max="+", count=150)
    await redis.xack(stream.name, "slow", *[p["message_id"] for p in slow])  # 50 still pending

    await trim_acked(redis, keep_s=0, streams=[stream])

    left = await redis.xrange(stream.name)
    assert left[-1][0] == ids[-1]
    assert ids[150] in [i for i, _ in left]  # the slow group's oldest pending entry stays
    assert await redis.xlen(stream.name) >= 150


async def test_a_group_that_has_read_nothing_keeps_every_entry(redis: aioredis.Redis) -> None:
    stream = Stream("trim.unread", maxlen=None)
    await redis.xgroup_create(stream.name, "idle", id="0", mkstream=True)
    await _fill(redis, stream.name, 500)

    await trim_acked(redis, keep_s=0, streams=[stream])

    assert await redis.xlen(stream.name) == 500


async def test_a_fully_acknowledged_stream_is_trimmed_down_to_its_recent_window(
    redis: aioredis.Redis,
) -> None:
    stream = Stream("trim.done", maxlen=None)
    await redis.xgroup_create(stream.name, "all", id="0", mkstream=True)
    await _fill(redis, stream.name, 1000)
    read = await redis.xreadgroup("all", "c", {stream.name: ">"}, count=1000)
    await redis.xack(stream.name, "all", *[i for i, _ in read[0][1]])

    await trim_acked(redis, keep_s=3600, streams=[stream])
    assert await redis.xlen(stream.name) == 1000  # all within the last hour: kept
    await trim_acked(redis, keep_s=0, streams=[stream])
    assert await redis.xlen(stream.name) < 1000  # approximate: whole macro nodes go


async def test_a_kept_count_stays_once_acknowledged_and_nothing_unread_goes_past_it(
    redis: aioredis.Redis,
) -> None:
    stream = Stream("trim.audit", maxlen=None, keep=300)  # as audit: the archive's group
    await redis.xgroup_create(stream.name, "archive", id="0", mkstream=True)
    ids = await _fill(redis, stream.name, 1000)

    await trim_acked(redis, keep_s=0, streams=[stream])
    unread = await redis.xlen(stream.name)  # the archive is down: over the count, all kept
    read = await redis.xreadgroup("archive", "c", {stream.name: ">"}, count=1000)
    await redis.xack(stream.name, "archive", *[i for i, _ in read[0][1]])
    await trim_acked(redis, keep_s=0, streams=[stream])

    assert unread == 1000
    left = [i for i, _ in await redis.xrange(stream.name)]
    assert 300 <= len(left) < 1000  # approximate: whole macro nodes go
    assert left[-300:] == ids[-300:]
