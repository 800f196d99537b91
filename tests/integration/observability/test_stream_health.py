"""The service kit's stream health, against a real Redis: lag, pending, dead letters and last
poll of the groups a service reads, and `/ready` failing while a consumer loop is stuck."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from libs.common import topology
from libs.common.bus import DATA_FIELD, Ack, Bus, BytesCodec, ConsumerSpec, StreamConsumer
from libs.common.bus_types import Delivery
from libs.common.domain.ids import DEFAULT_ACCOUNT
from libs.common.service import Runner, ServiceRuntime, ServiceSettings, service_app

pytestmark = pytest.mark.integration

STREAM = topology.ORDERS_REQUESTS.of(DEFAULT_ACCOUNT)
GROUP = topology.Group.RISK


class Settings(ServiceSettings):
    port: int = 0


class Wrapper:
    """A runner that starts a consumer itself, as the router's InOrder does."""

    def __init__(self, inner: Runner) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()


def _consumer(runtime: ServiceRuntime, gate: asyncio.Event) -> StreamConsumer[bytes]:
    async def handle(delivery: Delivery[bytes]) -> None:
        await gate.wait()

    spec = ConsumerSpec(stream=STREAM, group=GROUP, ack=Ack.MESSAGE, max_records=1, block_ms=10)
    return Bus(runtime.redis, BytesCodec()).consumer(spec, handle, graceful_timeout_s=0.1)


def one_consumer(gate: asyncio.Event) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """The wiring of a service whose one consumer handles each message once `gate` is set."""

    async def wire(runtime: ServiceRuntime) -> None:
        runtime.add_runner(_consumer(runtime, gate))

    return wire


@asynccontextmanager
async def service(
    redis_url: str, wire: Callable[[ServiceRuntime], Awaitable[None]]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(redis_url=redis_url, stall_after_s=0.5, stream_health_interval_s=0.05)
    app = service_app("probe", settings, build=wire)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield app, http


async def _samples(http: httpx.AsyncClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = (await http.get("/metrics")).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def _eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 5.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def seeded(redis: aioredis.Redis) -> aioredis.Redis:
    """Three entries waiting in orders.requests, two dead letters in its .dlq."""
    await redis.flushdb()
    for index in range(3):
        await redis.xadd(STREAM.name, {DATA_FIELD: f"m{index}".encode()})
    for index in range(2):
        await redis.xadd(STREAM.dlq.name, {DATA_FIELD: f"dead{index}".encode()})
    return redis


async def test_gauges_show_lag_pending_dead_letters_and_last_poll_of_the_groups_read(
    redis_url: str, seeded: aioredis.Redis
) -> None:
    gate = asyncio.Event()

    key = (("group", GROUP.value), ("stream", STREAM.name))
    async with service(redis_url, one_consumer(gate)) as (_, http):
        before = time.time()

        async def stuck_on_first() -> bool:
            pending = await _samples(http, "stream_pending")
            return pending.get(key) == 1 and (await _samples(http, "stream_lag")).get(key) == 2

        await _eventually(stuck_on_first, "one entry pending and two undelivered")
        dead = await _samples(http, "dead_letter_length")
        assert dead == {(("stream", STREAM.name),): 2}
        gate.set()

        async def drained() -> bool:
            pending = await _samples(http, "stream_pending")
            return pending.get(key) == 0 and (await _samples(http, "stream_lag")).get(key) == 0

        await _eventually(drained, "the group to catch up")
        polled = (await _samples(http, "subscriber_last_poll_timestamp_seconds"))[key]
        assert before - 1 <= polled <= time.time() + 1


async def test_ready_fails_while_a_consumer_loop_is_stuck_and_recovers_after(
    redis_url: str, seeded: aioredis.Redis
) -> None:
    gate = asyncio.Event()

    async with service(redis_url, one_consumer(gate)) as (_, http):
        assert (await http.get("/ready")).status_code == 200

        async def not_ready() -> bool:
            return (await http.get("/ready")).status_code == 503

        await _eventually(not_ready, "/ready to fail on the stuck handler")
        problems = (await http.get("/ready")).json()["problems"]
        assert list(problems) == ["subscribers"]
        assert f"{STREAM.name}/{GROUP.value}" in problems["subscribers"]
        gate.set()

        async def ready() -> bool:
            return (await http.get("/ready")).status_code == 200

        await _eventually(ready, "/ready to recover once the loop polls again")


async def test_a_consumer_inside_another_runner_is_reported_once_watched(
    redis_url: str, seeded: aioredis.Redis
) -> None:
    gate = asyncio.Event()
    gate.set()

    async def wire(runtime: ServiceRuntime) -> None:
        consumer = _consumer(runtime, gate)
        runtime.add_runner(Wrapper(consumer))
        runtime.watch(consumer)

    async with service(redis_url, wire) as (app, http):
        runtime: ServiceRuntime = app.state.runtime
        assert len(runtime.consumers()) == 1

        async def reported() -> bool:
            return bool(await _samples(http, "subscriber_last_poll_timestamp_seconds"))

        await _eventually(reported, "the watched consumer's last poll")


async def test_a_service_without_groups_exports_no_stream_series_and_is_ready(
    redis_url: str, seeded: aioredis.Redis
) -> None:
    async def wire(runtime: ServiceRuntime) -> None:
        return None

    async with service(redis_url, wire) as (_, http):
        await asyncio.sleep(0.2)
        assert (await http.get("/ready")).status_code == 200
        assert await _samples(http, "stream_lag") == {}


async def test_lag_is_counted_when_redis_cannot_tell_it_and_the_length_is_shown(
    redis_url: str, seeded: aioredis.Redis
) -> None:
    gate = asyncio.Event()

    key = (("group", GROUP.value), ("stream", STREAM.name))
    async with service(redis_url, one_consumer(gate)) as (_, http):

        async def stuck_on_first() -> bool:
            return (await _samples(http, "stream_lag")).get(key) == 2

        await _eventually(stuck_on_first, "two undelivered")
        entries = await seeded.xrange(STREAM.name)
        await seeded.xdel(STREAM.name, entries[1][0])  # Redis now answers lag nil
        infos = await seeded.xinfo_groups(STREAM.name)  # and the archive's group
        (info,) = [i for i in infos if i["name"] == GROUP.value.encode()]
        assert info["lag"] is None

        async def counted() -> bool:
            lag = (await _samples(http, "stream_lag")).get(key)
            length = (await _samples(http, "stream_length")).get((("stream", STREAM.name),))
            return lag == 1 and length == 2

        await _eventually(counted, "the one undelivered entry counted, two in the stream")
        gate.set()
