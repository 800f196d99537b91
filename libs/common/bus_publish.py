"""Publishing to streams: one XADD per message, trimmed with `MAXLEN ~` from the topology."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any, Generic

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from libs.common.bus_types import DATA_FIELD, Codec, T
from libs.common.topology import Stream

PIPELINE_CHUNK = 500
"""Messages per pipeline round trip in `publish_many`."""


class Publisher(Generic[T]):
    """Encode messages with `codec` and append them to streams."""

    def __init__(self, redis: Redis, codec: Codec[T]) -> None:
        self._redis = redis
        self._codec = codec

    async def publish(self, stream: Stream, message: T) -> str:
        """Append one message to `stream`; return its entry id."""
        entry_id: Any = await self._redis.xadd(stream.name, **self._xadd(stream, message))
        return str(entry_id.decode())

    async def publish_many(self, stream: Stream, messages: Iterable[T]) -> list[str]:
        """Append messages in order, pipelined (not atomic); return their entry ids."""
        ids: list[str] = []
        pending = iter(messages)
        while chunk := list(islice(pending, PIPELINE_CHUNK)):
            async with self._redis.pipeline(transaction=False) as pipe:
                for message in chunk:
                    self.add(pipe, stream, message)
                ids.extend(entry_id.decode() for entry_id in await pipe.execute())
        return ids

    def add(self, pipe: Pipeline, stream: Stream, message: T) -> None:
        """Queue the XADD of `message` on the caller's pipeline or MULTI (e.g. with a state
        change that must commit together with its event)."""
        pipe.xadd(stream.name, **self._xadd(stream, message))

    def _xadd(self, stream: Stream, message: T) -> dict[str, Any]:
        return {
            "fields": {DATA_FIELD: self._codec.encode(message)},
            "maxlen": stream.maxlen,
            "approximate": True,
        }
