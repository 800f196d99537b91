"""A group-less reader: every instance sees every entry of a stream (e.g. `control`).

There is no PEL and no ack: a handler that raises is logged and the entry is not retried,
and an instance that is down misses what was published meanwhile. Broadcasts therefore only
announce a durable state (such as the freeze key) that every reader also reads at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Generic

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from libs.common import bus_pel as pel
from libs.common.bus_loop import poll_until_stopped, require_bytes_client
from libs.common.bus_types import DATA_FIELD, Codec, Delivery, Handler, T
from libs.common.topology import Stream

log = logging.getLogger(__name__)


class BroadcastReader(Generic[T]):
    """Follow `stream` with XREAD from its end at start-up (or its start: `from_start=True`).

    The end is resolved to a concrete id once at start-up and then followed entry by entry,
    so nothing published between two reads is skipped (reading `$` again on every call would).
    """

    def __init__(
        self,
        redis: Redis,
        stream: Stream,
        codec: Codec[T],
        handler: Handler[T],
        *,
        from_start: bool = False,
        block_ms: int = 100,
        max_records: int = 100,
    ) -> None:
        require_bytes_client(redis)
        self.stream = stream
        self.last_id = b"0-0"
        self._redis = redis
        self._codec = codec
        self._handler = handler
        self._from_start = from_start
        self._block_ms = block_ms
        self._max_records = max_records
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fix the starting id, then follow the stream in a task."""
        if self._task is not None or self._stop.is_set():
            raise RuntimeError(f"broadcast reader of {self.stream} was already started")
        if not self._from_start:
            self.last_id = await self._last_id()
        self._task = asyncio.create_task(self._run(), name=f"bus:broadcast:{self.stream}")

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
        """Read and handle the entries after `last_id`; return how many."""
        reply = await self._redis.xread(
            {self.stream.name: self.last_id}, count=self._max_records, block=self._block_ms
        )
        entries = pel.parse_read(reply)
        for entry_id, fields in entries:
            self.last_id = entry_id
            try:
                message = self._codec.decode(fields[DATA_FIELD])
                await self._handler(Delivery(message, self.stream.name, entry_id.decode(), 1))
            except Exception:
                log.exception("%s: handler failed on entry %s", self.stream, entry_id.decode())
        return len(entries)

    async def _last_id(self) -> bytes:
        try:
            info = await self._redis.xinfo_stream(self.stream.name)
        except ResponseError as exc:
            if "no such key" not in str(exc):
                raise
            return b"0-0"
        last: bytes = info["last-generated-id"]
        return last

    async def _run(self) -> None:
        await poll_until_stopped(self.poll, self._stop, f"broadcast {self.stream}")
