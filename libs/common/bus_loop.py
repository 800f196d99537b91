"""The loop under the bus's long-running readers, and the client check they share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from libs.common.bus_types import BusConfigError
from libs.common.redis_connect import decodes_responses

log = logging.getLogger(__name__)

_MIN_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0


async def poll_until_stopped(
    poll: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    label: str,
    recover: Callable[[Exception], Awaitable[bool]] | None = None,
) -> None:
    """Call `poll` until `stop` is set. After an error `recover` does not handle, back off
    (50 ms, doubling up to 2 s) and go on: a Redis outage stalls the loop, never ends it."""
    backoff = _MIN_BACKOFF_S
    task = asyncio.current_task()
    while not stop.is_set():
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # someone below swallowed our cancellation
        try:
            await poll()
            backoff = _MIN_BACKOFF_S
        except Exception as exc:
            if recover is not None and await recover(exc):
                continue
            log.warning("%s: poll failed; retrying in %.2f s", label, backoff, exc_info=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)


def require_bytes_client(redis: Redis) -> None:
    """Refuse a client that decodes replies: entries carry bytes and ids are compared as bytes."""
    if decodes_responses(redis):
        raise BusConfigError("the bus needs a Redis client with decode_responses=False")
