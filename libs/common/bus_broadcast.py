"""A group-less reader: every instance sees every entry of its streams (e.g. `control`).

There is no PEL and no ack: a handler that raises is logged and the entry is not retried,
and an instance that is down misses what was published meanwhile. Broadcasts therefore only
announce a durable state (such as the freeze key) that every reader also reads at start-up.

One reader follows several streams with one XREAD, so it holds one connection while it
blocks however many streams it follows. On a Redis Cluster an XREAD must stay in one slot:
`broadcast_groups` splits streams into the fewest readers the client allows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Generic

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from libs.common.bus_loop import poll_until_stopped, require_bytes_client
from libs.common.bus_types import DATA_FIELD, Codec, Delivery, Handler, T
from libs.common.topology import Stream

log = logging.getLogger(__name__)


def broadcast_groups(redis: Redis, streams: Sequence[Stream]) -> list[list[Stream]]:
    """`streams` in groups one XREAD can follow: all of them on one Redis; on a Redis
    Cluster, those of each hash slot (an account's streams share its slot)."""
    if not isinstance(redis, RedisCluster):
        return [list(streams)] if streams else []
    by_slot: dict[int, list[Stream]] = {}
    for stream in streams:
        by_slot.setdefault(redis.keyslot(stream.name), []).append(stream)
    return list(by_slot.values())


class BroadcastReader(Generic[T]):
    """Follow `streams` with XREAD from their ends at start-up (or their starts:
    `from_start=True`).

    Each end is resolved to a concrete id once at start-up and then followed entry by entry,
    so nothing published between two reads is skipped (reading `$` again on every call would).
    """

    def __init__(
        self,
        redis: Redis,
        streams: Sequence[Stream],
        codec: Codec[T],
        handler: Handler[T],
        *,
        from_start: bool = False,
        block_ms: int = 100,
        max_records: int = 100,
    ) -> None:
        require_bytes_client(redis)
        if not streams:
            raise ValueError("a broadcast reader needs at least one stream")
        self.streams = tuple(streams)
        self.last_ids: dict[str, bytes] = {s.name: b"0-0" for s in self.streams}
        self._redis = redis
        self._codec = codec
        self._handler = handler
        self._from_start = from_start
        self._block_ms = block_ms
        self._max_records = max_records
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._label = ",".join(s.name for s in self.streams)

    async def start(self) -> None:
        """Fix the starting ids, then follow the streams in a task."""
        if self._task is not None or self._stop.is_set():
            raise RuntimeError(f"broadcast reader of {self._label} was already started")
        if not self._from_start:
            for stream in self.streams:
                self.last_ids[stream.name] = await self._last_id(stream)
        self._task = asyncio.create_task(self._run(), name=f"bus:broadcast:{self._label}")

    async def stop(self) -> None:
        """Stop after the current read (at most `block_ms` plus handling)."""
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def __aenter__(self) -> BroadcastReader[T]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def poll(self) -> int:
        """Read and handle the entries after each stream's last id; return how many."""
        after: dict[Any, Any] = dict(self.last_ids)
        reply: Any = await self._redis.xread(after, count=self._max_records, block=self._block_ms)
        handled = 0
        for raw_name, entries in reply or ():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            for entry_id, fields in entries:
                self.last_ids[name] = entry_id
                if fields is None:  # deleted meanwhile
                    continue
                handled += 1
                try:
                    message = self._codec.decode(fields[DATA_FIELD])
                    await self._handler(Delivery(message, name, entry_id.decode(), 1))
                except Exception:
                    log.exception("%s: handler failed on entry %s", name, entry_id.decode())
        return handled

    async def _last_id(self, stream: Stream) -> bytes:
        try:
            info = await self._redis.xinfo_stream(stream.name)
        except ResponseError as exc:
            if "no such key" not in str(exc):
                raise
            return b"0-0"
        last: bytes = info["last-generated-id"]
        return last

    async def _run(self) -> None:
        await poll_until_stopped(self.poll, self._stop, f"broadcast {self._label}")
