"""A consumer-group reader with bounded retries, a dead-letter stream and a claimer.

One `StreamConsumer` is one consumer of one group on one stream, run as one asyncio task.
Each pass of its loop (`poll`):

1. Redelivers its own failed messages whose backoff is over: XCLAIM to itself, which bumps
   their delivery count, of those it still owns (one Lua script: a failure another consumer
   claimed meanwhile is left to that consumer).
2. Every `claim_interval_ms`, claims entries idle longer than `claim_idle_ms` in any consumer
   of the group (XAUTOCLAIM): those of dead consumers, and failures nobody retried.
3. Reads up to `max_records` new entries (XREADGROUP `>`, BLOCK `block_ms`).

Every entry, whichever way it came, goes through the same per-message path: decode, call the
handler, and record success or failure for that entry alone. So a batch is a unit of reading
and acknowledging, never of failing: one poison message cannot block or dead-letter its
neighbours. Successes are XACKed (per message with `Ack.MESSAGE`; with `Ack.BATCH`, a
batch's acks go in the same round trip as the next read, and at stop: a crash before that
redelivers the batch, as a crash before any ack would). Each
failure is settled by one Lua script, atomically with the PEL: below `max_deliveries` it stays
pending and is redelivered after a backoff that doubles per delivery; at `max_deliveries` (at
once for `PoisonMessage` or an undecodable entry) it is copied to the stream's dead-letter
stream (`Stream.dlq`, in its slot) with the error, original id, stream, group, consumer and
delivery count, and acked. A claimed entry already
delivered more than `max_deliveries` times (its consumers died while handling it) is
dead-lettered without being handled again.

Delivery is at least once: handlers must be idempotent (dedupe on event id or client order id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, cast

from redis.asyncio import Redis

from libs.common import bus_pel as pel
from libs.common.bus_loop import poll_until_stopped, require_bytes_client
from libs.common.bus_types import (
    DATA_FIELD,
    Ack,
    BatchHandler,
    BusError,
    Codec,
    ConsumerSpec,
    Delivery,
    Handler,
    PoisonMessage,
    T,
)
from libs.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_MAX_CLAIM_PAGES = 10  # per claim pass, so that a huge PEL cannot starve new entries
REAP_INTERVAL_S = 60.0


@dataclass(slots=True)
class ConsumerStats:
    """Counters of one consumer since it started (for metrics and tests)."""

    handled: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    lost: int = 0
    """Pending entries found trimmed from the stream before anyone handled them."""
    last_poll: float = 0.0
    """`time.monotonic()` of the last pass of the loop: a stalled consumer shows here."""


class StreamConsumer(Generic[T]):
    """Read `spec.stream` as `spec.consumer` of `spec.group` and hand each message to `handler`.

    Use `start()` / `stop()` (or `async with`); `poll()` runs a single pass for tests.
    """

    def __init__(
        self,
        redis: Redis,
        spec: ConsumerSpec,
        codec: Codec[T],
        handler: Handler[T] | BatchHandler[T],
        *,
        graceful_timeout_s: float = 10.0,
        batch: bool = False,
    ) -> None:
        """`batch=True`: `handler` is a `BatchHandler` called once per read batch."""
        require_bytes_client(redis)
        self.spec = spec
        self.stats = ConsumerStats()
        self._redis = redis
        self._codec = codec
        self._handler = cast("Handler[T]", handler)
        self._batch_handler = cast("BatchHandler[T]", handler) if batch else None
        self._graceful_timeout_s = graceful_timeout_s
        self._retry_due: dict[bytes, float] = {}  # entry id -> monotonic time of its retry
        self._to_ack: list[bytes] = []  # handled, acked with the next read (Ack.BATCH)
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        self._next_reap = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Create the group if needed (failing fast if Redis is unreachable), then run."""
        if self._task is not None or self._stop.is_set():
            raise RuntimeError(f"{self._label} was already started; a consumer runs once")
        await self._ensure_group()
        self._task = asyncio.create_task(self._run(), name=f"bus:{self._label}")

    async def stop(self) -> None:
        """Finish the current pass (up to `graceful_timeout_s`), then leave the group if idle.

        Entries still pending here (failures awaiting retry, or a batch cut short by the
        timeout) stay in the PEL and are claimed by another consumer after `claim_idle_ms`.
        """
        self._stop.set()
        if self._task is None:
            await self._flush_acks()
            return
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), self._graceful_timeout_s)
        except TimeoutError:
            log.warning(
                "%s: not done after %.1f s; cancelling", self._label, self._graceful_timeout_s
            )
            await cancel_and_wait(task)
        try:
            await self._flush_acks()
            s = self.spec
            await pel.release_consumer(self._redis, s.stream.name, s.group, s.consumer)
        except Exception:
            log.warning("%s: could not leave the group", self._label, exc_info=True)

    async def __aenter__(self) -> StreamConsumer[T]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def poll(self) -> int:
        """Run one pass: due retries, a claim pass if due, one read. Return messages handled."""
        self.stats.last_poll = now = time.monotonic()
        handled = 0
        due = [entry_id for entry_id, at in self._retry_due.items() if at <= now]
        if due:
            handled += await self._redeliver(due)
        if now >= self._next_claim:
            handled += await self._claim_idle(now)
        s = self.spec
        async with self._redis.pipeline(transaction=False) as pipe:
            if self._to_ack:
                pipe.xack(s.stream.name, s.group, *self._to_ack)
            pipe.xreadgroup(
                s.group,
                s.consumer,
                {s.stream.name: ">"},
                count=s.max_records,
                block=self._block_ms(),
            )
            *_, reply = await pipe.execute()
        self._to_ack = []
        return handled + await self._handle(pel.parse_read(reply), attempts={})

    async def _flush_acks(self) -> None:
        """Ack what was handled and is waiting for the next read (at stop)."""
        if self._to_ack:
            await self._redis.xack(self.spec.stream.name, self.spec.group, *self._to_ack)
            self._to_ack = []

    @property
    def _label(self) -> str:
        return f"{self.spec.stream}/{self.spec.group}/{self.spec.consumer}"

    async def _run(self) -> None:
        await poll_until_stopped(self.poll, self._stop, self._label, self._recover)

    async def _recover(self, exc: Exception) -> bool:
        if not pel.is_nogroup(exc):
            return False
        # The group vanished (Redis lost its data, or someone deleted it): make it again.
        log.error("%s: the group is gone; creating it again", self._label)
        try:
            await self._ensure_group()
        except Exception:
            return False
        return True

    async def _ensure_group(self) -> None:
        s = self.spec
        await pel.ensure_group(self._redis, s.stream.name, s.group, s.start_id)

    def _block_ms(self) -> int:
        if not self._retry_due:
            return self.spec.block_ms
        wait_ms = int((min(self._retry_due.values()) - time.monotonic()) * 1000)
        return max(1, min(self.spec.block_ms, wait_ms))

    async def _redeliver(self, due: Sequence[bytes]) -> int:
        for entry_id in due:
            del self._retry_due[entry_id]
        entries, attempts = await pel.reclaim_own(self._redis, self.spec, due)
        return await self._handle_claimed(entries, attempts)

    async def _claim_idle(self, now: float) -> int:
        s = self.spec
        self._next_claim = now + s.claim_interval_ms / 1000
        handled = 0
        for _ in range(_MAX_CLAIM_PAGES):
            cursor, entries, trimmed = await pel.autoclaim(self._redis, s, self._claim_cursor)
            self._claim_cursor = cursor
            if trimmed:
                self.stats.lost += len(trimmed)
                log.error(
                    "%s: %d pending entries were trimmed unhandled", self._label, len(trimmed)
                )
            self.stats.claimed += len(entries)
            if entries:
                ids = [entry_id for entry_id, _ in entries]
                attempts = await pel.delivery_counts(self._redis, s.stream.name, s.group, ids)
                handled += await self._handle_claimed(entries, attempts)
            if cursor == b"0-0":
                break
        if s.reap_idle_ms and now >= self._next_reap:
            self._next_reap = now + REAP_INTERVAL_S
            reaped = await pel.reap_idle_consumers(
                self._redis, s.stream.name, s.group, s.reap_idle_ms
            )
            if reaped:
                log.info("%s: deleted idle consumers %s", self._label, reaped)
        return handled

    async def _handle_claimed(
        self, entries: Sequence[pel.Entry], attempts: Mapping[bytes, int]
    ) -> int:
        s = self.spec
        exhausted = [
            pel.Failure(
                entry_id,
                pel.fields_as_data(fields),
                RuntimeError(f"delivered {attempts[entry_id]} times without an outcome"),
                poison=False,
            )
            for entry_id, fields in entries
            if attempts.get(entry_id, 0) > s.max_deliveries
        ]
        if exhausted:
            await self._settle(exhausted)
        live = [(i, f) for i, f in entries if 0 < attempts.get(i, 0) <= s.max_deliveries]
        return await self._handle(live, attempts)

    async def _handle(self, entries: Sequence[pel.Entry], attempts: Mapping[bytes, int]) -> int:
        done: list[bytes] = []
        failures: list[pel.Failure] = []
        batch = await self._handle_batch(entries, attempts) if self._batch_handler else None
        for n, (entry_id, fields) in enumerate(entries):
            if batch is not None:
                failure = batch[n]
            else:  # handled, and with Ack.MESSAGE acked, before the next one starts
                failure = await self._handle_one(entry_id, fields, attempts.get(entry_id, 1))
            if failure is not None:
                failures.append(failure)
            elif self.spec.ack is Ack.MESSAGE:
                await self._redis.xack(self.spec.stream.name, self.spec.group, entry_id)
            else:
                done.append(entry_id)
        self._to_ack += done
        if failures:
            await self._settle(failures)
        self.stats.handled += len(entries) - len(failures)
        return len(entries)

    def _decode(self, entry_id: bytes, fields: Mapping[bytes, bytes], attempt: int) -> Delivery[T]:
        data = fields.get(DATA_FIELD)
        if data is None:
            raise PoisonMessage(f"entry has no {DATA_FIELD.decode()} field")
        try:
            message = self._codec.decode(data)
        except Exception as exc:
            raise PoisonMessage("undecodable entry") from exc
        return Delivery(message, self.spec.stream.name, entry_id.decode(), attempt)

    async def _handle_one(
        self, entry_id: bytes, fields: Mapping[bytes, bytes], attempt: int
    ) -> pel.Failure | None:
        try:
            await self._handler(self._decode(entry_id, fields, attempt))
        except Exception as exc:
            return _failure(entry_id, fields, exc)
        return None

    async def _handle_batch(
        self, entries: Sequence[pel.Entry], attempts: Mapping[bytes, int]
    ) -> list[pel.Failure | None]:
        """Decode every entry, hand the decodable ones to the batch handler in one call, and
        map its per-delivery results back; if the call raises, retry each message alone."""
        assert self._batch_handler is not None
        results: list[pel.Failure | None] = [None] * len(entries)
        deliveries: list[Delivery[T]] = []
        positions: list[int] = []
        for i, (entry_id, fields) in enumerate(entries):
            try:
                deliveries.append(self._decode(entry_id, fields, attempts.get(entry_id, 1)))
                positions.append(i)
            except PoisonMessage as exc:
                results[i] = _failure(entry_id, fields, exc)
        if not deliveries:
            return results
        try:
            outcomes = list(await self._batch_handler(deliveries))
            if len(outcomes) != len(deliveries):
                raise BusError(
                    f"batch handler returned {len(outcomes)} results for "
                    f"{len(deliveries)} deliveries: expected one per delivery"
                )
        except Exception as exc:
            # Split: find the message that breaks the batch, and settle the rest on their own.
            singles = len(deliveries) == 1
            outcomes = [exc] if singles else [await self._alone(d) for d in deliveries]
        for i, outcome in zip(positions, outcomes, strict=True):
            if outcome is not None:
                entry_id, fields = entries[i]
                results[i] = _failure(entry_id, fields, outcome)
        return results

    async def _alone(self, delivery: Delivery[T]) -> BaseException | None:
        assert self._batch_handler is not None
        try:
            (outcome,) = await self._batch_handler([delivery])
        except Exception as exc:
            return exc
        return outcome

    async def _settle(self, failures: Sequence[pel.Failure]) -> None:
        self.stats.failed += len(failures)
        outcomes = await pel.settle_failures(self._redis, self.spec, failures)
        now = time.monotonic()
        for failure, outcome in zip(failures, outcomes, strict=True):
            entry = f"{self._label} entry {failure.entry_id.decode()}"
            if outcome > 0:
                self.stats.retried += 1
                delay_ms = self.spec.retry_delay_ms(outcome)
                self._retry_due[failure.entry_id] = now + delay_ms / 1000
                log.warning(
                    "%s failed on delivery %d; retry in %d ms",
                    entry,
                    outcome,
                    delay_ms,
                    exc_info=failure.error,
                )
            elif outcome < 0:
                self.stats.dead_lettered += 1
                log.error(
                    "%s dead-lettered after %d deliveries: %s",
                    entry,
                    -outcome,
                    pel.describe_error(failure.error),
                    exc_info=failure.error,
                )


def _failure(entry_id: bytes, fields: Mapping[bytes, bytes], exc: BaseException) -> pel.Failure:
    poison = isinstance(exc, PoisonMessage)
    return pel.Failure(entry_id, pel.fields_as_data(fields), exc, poison)
