"""Service plumbing shared by the stream-consuming services: batches in, periodic tasks.

Handlers take each batch a consumer read (`Bus.batch_consumer`), opened (`Incoming`), and
return one result per message. A handler that raises has its batch handed over again one
message at a time by the bus; every effect is idempotent, so that repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from libs.common.bus import BatchHandler as BusBatchHandler
from libs.common.bus import Delivery, PoisonMessage
from libs.common.domain.ids import EventId
from libs.common.messages import Envelope, Message, MessageError
from libs.common.tasks import wait_or_timeout

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], int]
"""Wall-clock nanoseconds (`time.time_ns`)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message of a batch, opened."""

    envelope: Envelope
    message: Message
    attempt: int
    """1 on the first delivery; more when redelivered or claimed."""


Results = Sequence[BaseException | None]
"""One result per message of a batch, in order: None done, an exception to retry it."""
BatchHandler = Callable[[Sequence[Incoming]], Awaitable[Results]]


def batched(handle: BatchHandler) -> BusBatchHandler[Envelope]:
    """A bus batch handler that opens each delivery and hands the batch on in one call.

    A message that cannot be opened (unknown type, bad payload) is a poison message: it
    goes to the dead-letter stream at once, and its neighbours are handled without it. If
    `handle` raises, the bus hands each message over again alone.
    """

    async def run(deliveries: Sequence[Delivery[Envelope]]) -> Results:
        results: list[BaseException | None] = [None] * len(deliveries)
        opened: list[tuple[int, Incoming]] = []
        for index, delivery in enumerate(deliveries):
            envelope = delivery.message
            try:
                incoming = Incoming(envelope, envelope.open(), delivery.attempt)
            except (MessageError, ValidationError) as error:
                poison = PoisonMessage(f"{envelope.type} {envelope.event_id}: {error}")
                results[index] = poison
                continue
            opened.append((index, incoming))
        if opened:
            outcomes = await handle([incoming for _, incoming in opened])
            for (index, _), outcome in zip(opened, outcomes, strict=True):
                results[index] = outcome
        return results

    return run


def derive_event_id(event_id: EventId, tag: str) -> EventId:
    """A stable id for the event `tag` caused by `event_id`: a redelivery republishes it
    under the same id, so consumers that dedupe on event ids see it once."""
    return EventId(uuid.uuid5(uuid.NAMESPACE_URL, f"mmx:{event_id}:{tag}").hex)


async def gather_limited(awaitables: Iterable[Awaitable[T]], limit: int = 16) -> list[T]:
    """`asyncio.gather` with at most `limit` running at once: a service's Redis pool has a
    bounded number of connections, which a batch of 100 concurrent commands would exhaust."""
    semaphore = asyncio.Semaphore(limit)

    async def run(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    return list(await asyncio.gather(*(run(a) for a in awaitables)))


class Periodic:
    """Run `tick` every `interval_s` in a task until stopped; a failing tick is logged.

    `last_progress` (monotonic) is the end of the last tick that succeeded, for readiness.
    """

    def __init__(self, name: str, interval_s: float, tick: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.last_progress = time.monotonic()
        self._interval_s = interval_s
        self._tick = tick
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._tick()
                self.last_progress = time.monotonic()
            except Exception:
                log.exception("%s: tick failed", self.name)
            await wait_or_timeout(self._stop, self._interval_s)
