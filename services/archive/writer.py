"""The archive writer: the `archive` group's reader of every stream of the audit trail
(`topology.consumed(accounts)`: each account's and the desk's order streams and control, and
audit), which acknowledges an entry only once it is written off the box.

Each pass of its loop (`poll`):

1. Writes what is due: the entries held in memory once `max_batch` are held or the oldest
   has waited `flush_interval_s` (one object per hour of archive time in the batch, then its
   manifest, then CloudWatch Logs if set), and XACKs them; or, after a failed write, the same
   objects again once the backoff is over (from 1 s, doubling up to `retry_max_s`).
2. Every `CLAIM_INTERVAL_S`, claims the entries other archive consumers left pending longer
   than `claim_idle_ms` (a dead instance's); every `claim_idle_ms / 3`, keeps its own held
   entries from looking idle (one pipeline); every minute, deletes the consumers of crashed
   instances (idle, nothing pending).
3. Reads new entries of every stream, as long as fewer than `max_batch` are held: one
   pipeline of one XREADGROUP per hash tag (an account's streams share one, the desk's
   another, a stream without one is on its own: a Redis Cluster refuses a read across
   slots), without BLOCK. When nothing was new (or nothing may be read), it waits up to
   `BLOCK_MS`, less when a write is due sooner.

Why not `bus_consumer.StreamConsumer`: its handler settles each read batch before the next
read (ack, or retry and, past `max_deliveries`, dead-letter). The archive must hold entries
across many reads until one write covers them, and an outage of S3 must never dead-letter an
entry: here a failed write keeps every entry pending (unacknowledged in Redis, where
`stream_trim` keeps it) and is retried for as long as it takes. Only an entry that is not an
envelope at all is dead-lettered, as every group does.

Delivery is at least once: a crash after a write and before its XACK writes those entries
again (in another object); readers drop repeated event ids (`layout.dedupe`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from libs.common import bus_pel as pel
from libs.common import topology
from libs.common.bus import ensure_groups
from libs.common.bus_consumer import REAP_INTERVAL_S
from libs.common.bus_loop import poll_until_stopped, require_bytes_client
from libs.common.bus_types import DATA_FIELD, Ack, ConsumerSpec, PoisonMessage
from libs.common.messages import Envelope
from libs.common.metrics import ArchiveWrite, EngineMetrics
from libs.common.stream_trim import trim_acked
from libs.common.tasks import cancel_and_wait, wait_or_timeout
from libs.common.topology import hash_key
from services.archive.cloudwatch import CloudWatchLogsSink
from services.archive.layout import ArchivedEvent, ArchiveObject, build_object, by_partition
from services.archive.settings import ArchiveSettings
from services.archive.store import ObjectStore

log = logging.getLogger(__name__)

GROUP = topology.Group.ARCHIVE
READ_COUNT = 1_000
"""COUNT of each XREADGROUP, per stream."""
BLOCK_MS = 250
"""The longest a pass that read nothing new waits before the next."""
CLAIM_INTERVAL_S = 1.0
FIRST_RETRY_S = 1.0
STOP_FLUSH_TIMEOUT_S = 10.0
"""At stop, how long the last write may take; entries not written by then stay pending and
another instance (or the next start) claims them."""
_XCLAIM_CHUNK = 500


def consumer_name(instance: str) -> str:
    """This process's consumer (and object writer) name: the instance and a random tail."""
    return f"{instance}-{secrets.token_hex(3)}"


@dataclass(slots=True)
class Held:
    """An entry read and not yet acknowledged."""

    entry_id: bytes
    event: ArchivedEvent


@dataclass(slots=True)
class Chunk:
    """One object to write, built once: every attempt writes the same key and bytes."""

    obj: ArchiveObject
    held: list[Held]
    stored: bool = False
    """The object and its manifest are in the store."""
    logged: bool = False
    """The events are in CloudWatch Logs (or no log group is set)."""


@dataclass(slots=True)
class WriterStats:
    """Counters since start, for tests and logs."""

    read: int = 0
    claimed: int = 0
    objects: int = 0
    archived: int = 0
    failed_writes: int = 0
    dead_lettered: int = 0
    lost: int = 0
    """Pending entries found trimmed from their stream before they were archived."""


class ArchiveWriter:
    """Reads the audit trail as consumer `consumer` of group `archive` and writes it to
    `store` (and `logs`). Use `start()` / `stop()`; `poll()` runs one pass, for tests."""

    def __init__(
        self,
        redis: Redis,
        store: ObjectStore,
        *,
        settings: ArchiveSettings,
        metrics: EngineMetrics,
        consumer: str,
        logs: CloudWatchLogsSink | None = None,
    ) -> None:
        require_bytes_client(redis)
        self.consumer = consumer
        self.stats = WriterStats()
        self.last_poll = time.monotonic()
        self._redis = redis
        self._store = store
        self._logs = logs
        self._settings = settings
        self._metrics = metrics
        self.streams = topology.consumed(settings.accounts)[GROUP]
        """Every stream the writer reads: the archive group's, for the settings' accounts."""
        self._specs = {
            s.name: ConsumerSpec(
                stream=s,
                group=GROUP,
                ack=Ack.BATCH,
                consumer=consumer,
                max_records=READ_COUNT,
                claim_idle_ms=settings.claim_idle_ms,
            )
            for s in self.streams
        }
        self._read_keys = _by_hash_tag(self._specs)
        self._buffer: list[Held] = []
        self._buffer_since = 0.0
        self._chunks: list[Chunk] = []
        self._held_ids: set[tuple[str, bytes]] = set()
        self._seq = 0
        self._failures = 0
        self._retry_at = 0.0
        self._next_claim = 0.0
        self._next_touch = 0.0
        self._next_reap = 0.0
        self._claim_cursors = dict.fromkeys(self._specs, b"0-0")
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for outcome in ArchiveWrite:
            metrics.audit_archive_writes.labels(outcome=outcome.value)
        for name in self._specs:
            metrics.audit_archive_events.labels(stream=name)

    @property
    def held(self) -> int:
        """Entries read and not yet acknowledged (buffered, or in objects not yet written)."""
        return len(self._held_ids)

    async def start(self) -> None:
        await self._ensure_groups()
        self._task = asyncio.create_task(self._run(), name=f"archive:{self.consumer}")

    async def stop(self) -> None:
        """Stop reading, write what is held (up to STOP_FLUSH_TIMEOUT_S), leave the group."""
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except TimeoutError:
                await cancel_and_wait(task)
        try:
            async with asyncio.timeout(STOP_FLUSH_TIMEOUT_S):
                await self.flush(force=True)
        except Exception as error:
            log.warning("archive: %d entries left pending at stop: %r", self.held, error)
        for name in self._specs:
            try:
                await pel.release_consumer(self._redis, name, GROUP, self.consumer)
            except Exception:
                log.warning("archive: could not leave the group on %s", name, exc_info=True)

    async def poll(self) -> None:
        """One pass: write what is due, claim and touch if due, read if there is room."""
        now = self.last_poll = time.monotonic()
        if self._due(now):
            await self.flush()
        if now >= self._next_claim:
            self._next_claim = now + CLAIM_INTERVAL_S
            await self._claim()
        if now >= self._next_reap:
            self._next_reap = now + REAP_INTERVAL_S
            await self._reap()
        if now >= self._next_touch:
            self._next_touch = now + self._settings.claim_idle_ms / 3000
            await self._touch()
        room = self._settings.max_batch - self.held
        if room > 0 and not self._stop.is_set():
            per_stream = max(1, min(READ_COUNT, room // len(self._specs)))  # COUNT is per stream
            if await self._read(per_stream):
                return
        await wait_or_timeout(self._stop, min(BLOCK_MS / 1000, self._wait_s(now)))

    def _due(self, now: float) -> bool:
        if self._chunks:
            return now >= self._retry_at
        if not self._buffer:
            return False
        full = self.held >= self._settings.max_batch
        return full or now - self._buffer_since >= self._settings.flush_interval_s

    def _wait_s(self, now: float) -> float:
        if self._chunks:
            return max(0.0, self._retry_at - now)
        if self._buffer:
            return max(0.0, self._buffer_since + self._settings.flush_interval_s - now)
        return BLOCK_MS / 1000

    async def flush(self, *, force: bool = False) -> bool:
        """Write every object due (the buffer's, when due or `force`); True if all written.
        A failure keeps them all for the next attempt, after a backoff."""
        now = time.monotonic()
        if self._buffer and (force or not self._chunks or now >= self._retry_at):
            self._cut_chunks()
        while self._chunks:
            chunk = self._chunks[0]
            try:
                await self._write(chunk)
            except Exception as error:
                self._failed(chunk, error)
                return False
            self._chunks.pop(0)
            for held in chunk.held:
                self._held_ids.discard((held.event.stream, held.entry_id))
            self._written(chunk)
        self._failures = 0
        return True

    def _cut_chunks(self) -> None:
        events = {id(h.event): h for h in self._buffer}
        for _, hour in by_partition(h.event for h in self._buffer):
            self._seq += 1
            obj = build_object(
                hour,
                prefix=self._settings.location.prefix,
                writer=self.consumer,
                seq=self._seq,
                written_ms=time.time_ns() // 1_000_000,
            )
            self._chunks.append(Chunk(obj, [events[id(e)] for e in hour]))
        self._buffer = []

    async def _write(self, chunk: Chunk) -> None:
        obj = chunk.obj
        if not chunk.stored:
            await self._store.put(
                obj.key,
                obj.body,
                content_type="application/gzip",
                metadata={"sha256": obj.manifest.sha256, "count": str(obj.manifest.count)},
            )
            await self._store.put(
                obj.manifest.key, obj.manifest_json(), content_type="application/json"
            )
            chunk.stored = True
        if self._logs is not None and not chunk.logged:
            await self._logs.put([h.event for h in chunk.held])
        chunk.logged = True
        by_stream: dict[str, list[bytes]] = {}
        for held in chunk.held:
            by_stream.setdefault(held.event.stream, []).append(held.entry_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, ids in by_stream.items():
                pipe.xack(stream, GROUP, *ids)
            await pipe.execute()

    def _written(self, chunk: Chunk) -> None:
        self.stats.objects += 1
        self.stats.archived += len(chunk.held)
        self._metrics.audit_archive_writes.labels(outcome=ArchiveWrite.WRITTEN.value).inc()
        counts: dict[str, int] = {}
        for held in chunk.held:
            counts[held.event.stream] = counts.get(held.event.stream, 0) + 1
        for stream, count in counts.items():
            self._metrics.audit_archive_events.labels(stream=stream).inc(count)
        log.info("archive: wrote %s (%d events)", chunk.obj.key, len(chunk.held))

    def _failed(self, chunk: Chunk, error: Exception) -> None:
        self._failures += 1
        self.stats.failed_writes += 1
        self._metrics.audit_archive_writes.labels(outcome=ArchiveWrite.FAILED.value).inc()
        delay = min(self._settings.retry_max_s, FIRST_RETRY_S * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay
        log.warning(
            "archive: writing %s failed (attempt %d; %d entries held, none acknowledged); "
            "retrying in %.0f s: %s: %s",
            chunk.obj.key,
            self._failures,
            self.held,
            delay,
            type(error).__name__,
            error,
        )

    async def _read(self, count: int) -> int:
        """Read up to `count` new entries of each stream (one XREADGROUP per hash tag, in one
        pipeline); the entries read."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for names in self._read_keys:
                streams: dict[Any, Any] = dict.fromkeys(names, ">")
                pipe.xreadgroup(GROUP, self.consumer, streams, count=count)
            replies = await pipe.execute()
        read = 0
        for reply in replies:
            for stream, entries in _per_stream(reply):
                read += len(entries)
                self.stats.read += len(entries)
                await self._take(stream, entries)
        return read

    async def _take(self, stream: str, entries: Sequence[pel.Entry]) -> None:
        """Hold each entry of `stream` (once), dead-lettering those that are no envelope."""
        poison: list[pel.Failure] = []
        for entry_id, fields in entries:
            if (stream, entry_id) in self._held_ids:
                continue  # already held: claimed back after a slow touch
            try:
                event = _archived(stream, entry_id, fields)
            except PoisonMessage as error:
                poison.append(pel.Failure(entry_id, pel.fields_as_data(fields), error, True))
                continue
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.append(Held(entry_id, event))
            self._held_ids.add((stream, entry_id))
        if poison:
            outcomes = await pel.settle_failures(self._redis, self._specs[stream], poison)
            self.stats.dead_lettered += sum(1 for outcome in outcomes if outcome < 0)
            for failure in poison:
                log.error(
                    "archive: %s entry %s is no envelope; dead-lettered: %s",
                    stream,
                    failure.entry_id.decode(),
                    pel.describe_error(failure.error),
                )

    async def _claim(self) -> None:
        """Take over the entries dead archive consumers left pending."""
        for name, spec in self._specs.items():
            room = self._settings.max_batch - self.held
            if room <= 0:
                return
            cursor, entries, trimmed = await pel.autoclaim(
                self._redis, spec, self._claim_cursors[name]
            )
            self._claim_cursors[name] = cursor
            if trimmed:
                self.stats.lost += len(trimmed)
                log.error(
                    "archive: %d pending entries of %s were trimmed before they were archived",
                    len(trimmed),
                    name,
                )
            fresh = [(i, f) for i, f in entries if (name, i) not in self._held_ids]
            self.stats.claimed += len(fresh)
            await self._take(name, fresh)

    async def _reap(self) -> None:
        """Delete the archive consumers idle long with nothing pending (crashed instances:
        each name is new per process), as every `StreamConsumer` does for its group."""
        for name, spec in self._specs.items():
            if spec.reap_idle_ms:
                reaped = await pel.reap_idle_consumers(self._redis, name, GROUP, spec.reap_idle_ms)
                if reaped:
                    log.info("archive: deleted idle consumers of %s: %s", name, reaped)

    async def _touch(self) -> None:
        """Reset the idle time of the entries held here (XCLAIM JUSTID to this consumer), so
        that no other archive instance claims them while a write is being retried."""
        ids: dict[str, list[Any]] = {}
        for stream, entry_id in self._held_ids:
            ids.setdefault(stream, []).append(entry_id)
        if not ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip
            for stream, held in ids.items():
                for start in range(0, len(held), _XCLAIM_CHUNK):
                    pipe.xclaim(
                        stream,
                        GROUP,
                        self.consumer,
                        min_idle_time=0,
                        message_ids=held[start : start + _XCLAIM_CHUNK],
                        justid=True,
                    )
            await pipe.execute()

    async def _ensure_groups(self) -> None:
        await ensure_groups(self._redis, {GROUP: self.streams})

    async def _recover(self, error: Exception) -> bool:
        if not pel.is_nogroup(error):
            return False
        log.error("archive: a group is gone; creating it again")
        try:
            await self._ensure_groups()
        except Exception:
            return False
        return True

    async def _run(self) -> None:
        await poll_until_stopped(self.poll, self._stop, "archive", self._recover)


def _archived(stream: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> ArchivedEvent:
    data = fields.get(DATA_FIELD)
    if data is None:
        raise PoisonMessage(f"entry has no {DATA_FIELD.decode()} field")
    try:
        envelope = Envelope.from_json(data)
    except ValueError as error:
        raise PoisonMessage(f"not an envelope: {error}") from error
    return ArchivedEvent(stream=stream, entry_id=entry_id.decode(), envelope=envelope)


def _by_hash_tag(names: Iterable[str]) -> list[list[str]]:
    """`names` grouped by their Redis Cluster hash tag (a name without one by itself): the
    streams one XREADGROUP may read together, in one slot."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(hash_key(name), []).append(name)
    return list(groups.values())


def _per_stream(reply: Any) -> list[tuple[str, list[pel.Entry]]]:
    """An XREADGROUP reply over several streams (RESP2 list or RESP3 map), per stream."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    found = []
    for name, entries in pairs:
        stream = name.decode() if isinstance(name, bytes) else str(name)
        if isinstance(entries, list) and entries and isinstance(entries[0], list):
            entries = entries[0]  # RESP3 wraps each stream's entries once more
        found.append((stream, [(i, f) for i, f in entries if f is not None]))
    return found


@dataclass(slots=True)
class BacklogGauges:
    """`audit_archive_backlog` and `audit_archive_oldest_unarchived_seconds` per stream, and
    the stream gauges of the archive group (`stream_lag`, `stream_pending`,
    `stream_length`, `dead_letter_length`, `subscriber_last_poll_timestamp_seconds`), read
    from Redis: every instance reports the same values. Then, from the same replies, it
    trims the streams below what every group acknowledged (`libs.common.stream_trim`), as
    every service's stream health does for the streams it reads: `control` and `audit` have
    no other reader with a group, so the archive is the one that trims them."""

    redis: Redis
    metrics: EngineMetrics
    writer: ArchiveWriter
    keep_s: float = 60.0
    """`stream_keep_s`: the recent window a trim keeps."""
    lag_cap: int = 100_001
    last_values: dict[str, tuple[int, float]] = field(default_factory=dict)
    """stream -> (backlog, oldest age s) as last set, for tests."""

    async def refresh(self) -> None:
        streams = self.writer.streams
        names = [s.name for s in streams]
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xinfo_groups(stream.name)
                pipe.xpending(stream.name, GROUP)
                pipe.xlen(stream.name)
                pipe.xlen(stream.dlq.name)
            replies = await pipe.execute(raise_on_error=False)
        now_ms = time.time_ns() // 1_000_000
        wall = time.time() - time.monotonic() + self.writer.last_poll
        for index, name in enumerate(names):
            infos, pending_summary, length, dead = replies[4 * index : 4 * index + 4]
            info = _group_info(infos)
            if info is None:
                continue
            pending = int(info.get("pending") or 0)
            lag, oldest_ms = await self._unread(name, info)
            if pending and isinstance(pending_summary, dict) and pending_summary.get("min"):
                oldest_ms = _ms(pending_summary["min"])
            backlog = lag + pending
            age = max(0.0, (now_ms - oldest_ms) / 1000) if backlog and oldest_ms else 0.0
            self.metrics.audit_archive_backlog.labels(stream=name).set(backlog)
            self.metrics.audit_archive_oldest.labels(stream=name).set(age)
            labels = {"stream": name, "group": str(GROUP)}
            self.metrics.stream_lag.labels(**labels).set(lag)
            self.metrics.stream_pending.labels(**labels).set(pending)
            self.metrics.subscriber_last_poll.labels(**labels).set(wall)
            if isinstance(length, int):
                self.metrics.stream_length.labels(stream=name).set(length)
            if isinstance(dead, int):
                self.metrics.dead_letter_length.labels(stream=name).set(dead)
            self.last_values[name] = (backlog, age)
        trimmed = [
            (stream, replies[4 * index], replies[4 * index + 2])
            for index, stream in enumerate(streams)
            if stream.maxlen is None and isinstance(replies[4 * index], list)
        ]
        if trimmed:
            await trim_acked(
                self.redis,
                self.keep_s,
                [stream for stream, _, _ in trimmed],
                infos=[infos for _, infos, _ in trimmed],
                lengths={s.name: n for s, _, n in trimmed if isinstance(n, int)},
            )

    async def _unread(self, stream: str, info: Mapping[str, Any]) -> tuple[int, int]:
        """(entries not yet delivered to the group, the ms of the oldest of them or 0)."""
        after = _text(info.get("last-delivered-id") or "0-0")
        lag = info.get("lag")
        if lag is not None and int(lag) == 0:
            return 0, 0
        count = 1 if lag is not None else self.lag_cap
        entries: Any = await self.redis.xrange(stream, min=f"({after}", count=count)
        oldest = _ms(entries[0][0]) if entries else 0
        return (int(lag) if lag is not None else len(entries)), oldest


def _group_info(infos: Any) -> dict[str, Any] | None:
    if not isinstance(infos, list):
        return None
    for info in infos:
        decoded = {_text(k): v for k, v in info.items()}
        if _text(decoded.get("name")) == str(GROUP):
            return decoded
    return None


def _ms(entry_id: Any) -> int:
    return int(_text(entry_id).split("-", 1)[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
