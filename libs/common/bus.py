"""The message bus of mmx: Redis Streams with consumer groups, retries, dead letters, claims.

    bus = Bus(redis, EnvelopeCodec())             # redis: redis.asyncio.Redis, bytes replies
    await bus.publish(topology.ORDERS_REQUESTS.of(account), Envelope.wrap(command))
    risk = bus.consumer(ConsumerSpec(stream=topology.ORDERS_REQUESTS.of(account),
                                     group=topology.Group.RISK, ack=Ack.BATCH), handle)
    control = bus.broadcast_reader(topology.CONTROL.desk, on_control)
    attach(app, risk, control)                    # a FastStream app starts and stops them

The hot path drives XREADGROUP / XACK / XAUTOCLAIM with redis-py directly, under a FastStream
app's lifecycle, rather than through FastStream subscribers: FastStream acks or rejects a
batch as a whole, has no retry cap or dead-letter stream, claims one entry per round trip and
sleeps a fixed 5 s after any read error. Delivery semantics are in `libs.common.bus_consumer`;
`bench/bus_throughput.py` measures both paths. Entries carry one field, `__data__` (the
encoded message), the field FastStream reads, so a FastStream subscriber can read them too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from libs.common import topology
from libs.common.bus_broadcast import BroadcastReader, broadcast_groups
from libs.common.bus_consumer import ConsumerStats, StreamConsumer
from libs.common.bus_loop import require_bytes_client
from libs.common.bus_pel import DeadLetter, ensure_group
from libs.common.bus_publish import Publisher
from libs.common.bus_types import (
    DATA_FIELD,
    Ack,
    BatchHandler,
    BusConfigError,
    BusError,
    BytesCodec,
    Codec,
    ConsumerSpec,
    Delivery,
    Handler,
    PoisonMessage,
    T,
    default_consumer_name,
)
from libs.common.messages import Envelope

__all__ = [
    "DATA_FIELD",
    "Ack",
    "BatchHandler",
    "BroadcastReader",
    "Bus",
    "BusConfigError",
    "BusError",
    "BytesCodec",
    "Codec",
    "ConsumerSpec",
    "ConsumerStats",
    "DeadLetter",
    "Delivery",
    "EnvelopeCodec",
    "Handler",
    "PoisonMessage",
    "Publisher",
    "Runner",
    "StreamConsumer",
    "attach",
    "default_consumer_name",
    "ensure_groups",
    "read_dead_letters",
]


class EnvelopeCodec:
    """The codec of mmx streams: one `Envelope` as its JSON bytes.

    An entry that is not a valid envelope fails to decode and is dead-lettered at once; an
    envelope whose payload does not open is the handler's to refuse (`PoisonMessage`).
    """

    def encode(self, message: Envelope, /) -> bytes:
        return message.to_json()

    def decode(self, data: bytes, /) -> Envelope:
        return Envelope.from_json(data)


class Bus(Generic[T]):
    """One Redis client and one codec: publishes, and builds consumers and broadcast readers."""

    def __init__(self, redis: Redis, codec: Codec[T]) -> None:
        require_bytes_client(redis)
        self.redis = redis
        self.codec = codec
        self.publisher = Publisher(redis, codec)

    async def publish(self, stream: topology.Stream, message: T) -> str:
        """Append `message` to `stream` (trimmed `MAXLEN ~ stream.maxlen`); return its id."""
        return await self.publisher.publish(stream, message)

    async def publish_many(self, stream: topology.Stream, messages: Iterable[T]) -> list[str]:
        """Append `messages` in order through pipelines; return their ids."""
        return await self.publisher.publish_many(stream, messages)

    def add(self, pipe: Pipeline, stream: topology.Stream, message: T) -> None:
        """Queue the XADD of `message` on the caller's pipeline or MULTI transaction."""
        self.publisher.add(pipe, stream, message)

    def consumer(
        self, spec: ConsumerSpec, handler: Handler[T], *, graceful_timeout_s: float = 10.0
    ) -> StreamConsumer[T]:
        """Build (not start) a consumer of `spec.stream` in `spec.group`."""
        return StreamConsumer(
            self.redis, spec, self.codec, handler, graceful_timeout_s=graceful_timeout_s
        )

    def batch_consumer(
        self, spec: ConsumerSpec, handler: BatchHandler[T], *, graceful_timeout_s: float = 10.0
    ) -> StreamConsumer[T]:
        """Build (not start) a consumer whose handler takes each read batch in one call."""
        return StreamConsumer(
            self.redis,
            spec,
            self.codec,
            handler,
            graceful_timeout_s=graceful_timeout_s,
            batch=True,
        )

    def broadcast_reader(
        self, stream: topology.Stream, handler: Handler[T], *, from_start: bool = False
    ) -> BroadcastReader[T]:
        """Build (not start) a group-less reader that sees every entry of `stream`."""
        return BroadcastReader(self.redis, [stream], self.codec, handler, from_start=from_start)

    def broadcast_readers(
        self, streams: Sequence[topology.Stream], handler: Handler[T]
    ) -> list[BroadcastReader[T]]:
        """Build (not start) the fewest group-less readers that see every entry of `streams`
        (one on a single Redis; one per hash slot on a Redis Cluster): each holds one
        connection while it blocks."""
        return [
            BroadcastReader(self.redis, group, self.codec, handler)
            for group in broadcast_groups(self.redis, streams)
        ]


class Runner(Protocol):
    """Anything started after the broker connects and stopped before it disconnects."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _AppHooks(Protocol):
    def after_startup(self, func: Callable[[], Awaitable[None]], /) -> object: ...

    def on_shutdown(self, func: Callable[[], Awaitable[None]], /) -> object: ...


def attach(app: _AppHooks, *runners: Runner) -> None:
    """Run `runners` with a FastStream (or AsgiFastStream) app: start them after start-up,
    stop them at shutdown, before the broker disconnects. Stopping never raises, so the
    broker still stops (an exception in an `on_shutdown` hook would skip it)."""

    async def start_all() -> None:
        for runner in runners:
            await runner.start()

    async def stop_all() -> None:
        await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)

    app.after_startup(start_all)
    app.on_shutdown(stop_all)


async def ensure_groups(
    redis: Redis,
    consumes: Mapping[topology.Group, Iterable[topology.Stream]],
    *,
    start_id: str = "0",
) -> None:
    """Create every consumer group of `consumes` (and its stream) that does not exist yet:
    `topology.consumed(accounts)` for the whole desk.

    Run before the services start, so that nothing published before a group's first consumer
    starts is skipped, whatever the start order.
    """
    for group, streams in consumes.items():
        for stream in streams:
            await ensure_group(redis, stream.name, group, start_id)


async def read_dead_letters(
    redis: Redis, stream: topology.Stream, count: int = 100
) -> list[DeadLetter]:
    """Return the oldest `count` dead letters of `stream` (from `stream.dlq`)."""
    entries: Any = await redis.xrange(stream.dlq.name, count=count)
    return [DeadLetter.from_entry(entry) for entry in entries]
