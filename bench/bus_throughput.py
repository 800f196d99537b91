"""Measure the bus: publishing, and consuming per message vs in batches, side by side.

Starts its own redis-server on a free port (never touches another Redis), pre-fills a stream
with N small JSON messages, then drains it with each consumer and prints msg/s (median of
`--runs`, with min-max). Every consumer validates each message into a pydantic model.

- bus per-message: `StreamConsumer`, `Ack.MESSAGE` (one XACK per message)
- bus batch:       `StreamConsumer`, `Ack.BATCH` (one XACK per batch of `max_records`)
- FastStream per-message / batch subscribers on the same entries, for reference.

    python -m bench.bus_throughput [--messages 20000] [--runs 3] [--max-records 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from pydantic import BaseModel

from libs.common.bus import Ack, Bus, ConsumerSpec, Delivery
from libs.common.bus_pel import ensure_group
from libs.common.redis_server import start_redis_server
from libs.common.topology import Stream

GROUP = "bench"


class Tick(BaseModel):
    sym: str
    px: str
    qty: str
    seq: int


class TickCodec:
    def encode(self, message: Tick, /) -> bytes:
        return message.model_dump_json().encode()

    def decode(self, data: bytes, /) -> Tick:
        return Tick.model_validate_json(data)


Drain = Callable[[str, Stream, int, int], Awaitable[float]]
"""(redis url, pre-filled stream, messages, max_records) -> seconds to consume them all."""


async def drain_bus(ack: Ack, url: str, stream: Stream, n: int, max_records: int) -> float:
    done = asyncio.Event()
    count = 0

    async def handle(delivery: Delivery[Tick]) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    async with aioredis.Redis.from_url(url) as redis:
        spec = ConsumerSpec(stream=stream, group=GROUP, ack=ack, max_records=max_records)
        consumer = Bus(redis, TickCodec()).consumer(spec, handle)
        started = time.perf_counter()
        async with consumer:
            await done.wait()
            return time.perf_counter() - started


async def drain_faststream(
    batch: bool, url: str, stream: Stream, n: int, max_records: int
) -> float:
    done = asyncio.Event()
    count = 0
    broker = RedisBroker(url, logger=None)  # type: ignore[arg-type]  # None: no logging
    sub = StreamSub(stream.name, group=GROUP, consumer="c1", batch=batch, max_records=max_records)

    async def handle_batch(ticks: list[Tick]) -> None:
        nonlocal count
        count += len(ticks)
        if count >= n:
            done.set()

    async def handle_one(tick: Tick) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    subscriber = broker.subscriber(stream=sub, ack_policy=AckPolicy.REJECT_ON_ERROR)
    subscriber(handle_batch if batch else handle_one)
    async with aioredis.Redis.from_url(url) as redis:
        # FastStream creates a missing group at `$` and would skip the pre-filled entries.
        await ensure_group(redis, stream.name, GROUP, "0")
    started = time.perf_counter()
    await broker.start()
    try:
        await done.wait()
        return time.perf_counter() - started
    finally:
        await broker.stop()


async def prefill(bus: Bus[Tick], stream: Stream, n: int) -> None:
    ticks = (Tick(sym="BTCUSDT", px="60000.5", qty="0.001", seq=i) for i in range(n))
    await bus.publish_many(stream, ticks)


async def bench_publish(bus: Bus[Tick], n: int) -> list[tuple[str, float]]:
    ticks = [Tick(sym="BTCUSDT", px="60000.5", qty="0.001", seq=i) for i in range(n)]
    one_by_one = Stream("bench.publish.single", maxlen=n)
    started = time.perf_counter()
    for tick in ticks:
        await bus.publish(one_by_one, tick)
    single = n / (time.perf_counter() - started)
    pipelined = Stream("bench.publish.pipelined", maxlen=n)
    started = time.perf_counter()
    await bus.publish_many(pipelined, ticks)
    return [
        ("publish, one XADD per await", single),
        ("publish_many, pipelined", n / (time.perf_counter() - started)),
    ]


def consumers() -> list[tuple[str, Drain]]:
    def bus(ack: Ack) -> Drain:
        return lambda *args: drain_bus(ack, *args)

    def faststream(batch: bool) -> Drain:
        return lambda *args: drain_faststream(batch, *args)

    return [
        ("bus per-message (Ack.MESSAGE)", bus(Ack.MESSAGE)),
        ("bus batch (Ack.BATCH)", bus(Ack.BATCH)),
        ("FastStream per-message subscriber", faststream(False)),
        ("FastStream batch subscriber", faststream(True)),
    ]


async def main(n: int, runs: int, max_records: int) -> None:
    server = start_redis_server()
    try:
        async with aioredis.Redis.from_url(server.url) as redis:
            bus = Bus(redis, TickCodec())
            rows = [(name, [rate]) for name, rate in await bench_publish(bus, n)]
            for name, drain in consumers():
                rates: list[float] = []
                for run in range(runs):
                    await redis.flushdb()
                    stream = Stream(f"bench.consume.{run}", maxlen=n)
                    await prefill(bus, stream, n)
                    rates.append(n / await drain(server.url, stream, n, max_records))
                rows.append((name, rates))
    finally:
        server.stop()
    print_table(rows, n, runs, max_records)


def print_table(rows: list[tuple[str, list[float]]], n: int, runs: int, max_records: int) -> None:
    print(f"\n{n} messages, median of {runs} runs, max_records={max_records}\n")
    print(f"{'path':<36} {'msg/s':>9}  {'min-max':>15}")
    for name, rates in rows:
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else ""
        print(f"{name:<36} {statistics.median(rates):>9,.0f}  {spread:>15}")


def parse_args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-records", type=int, default=50)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.messages, args.runs, args.max_records))
