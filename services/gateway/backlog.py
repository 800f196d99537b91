"""Backpressure: how far behind risk and the router are, for the gateway's admission.

Every `backlog_poll_s` the gateway reads, with one XINFO GROUPS per stream, the entries of
`orders.requests` not yet handled by risk and of `orders.approved` not yet handled by the
router (lag plus pending). While their sum is above `max_engine_backlog`, `Admission` refuses
new places and amends with 429 before anything is written: a queue the engine cannot drain
only makes every order late (and its quote stale), and the CPU the gateway would spend
accepting it is what risk and the router need to catch up. Cancels are never refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis

from libs.common import topology
from services.gateway.admission import Admission

log = logging.getLogger(__name__)

WATCHED = (
    (topology.ORDERS_REQUESTS, topology.Group.RISK),
    (topology.ORDERS_APPROVED, topology.Group.ROUTER),
)
"""The queues in front of risk and the router."""


class BacklogWatch:
    """Keeps `admission.backlog` current (a Runner)."""

    def __init__(self, redis: Redis, admission: Admission, interval_s: float) -> None:
        self._redis = redis
        self._admission = admission
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway:backlog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def read(self) -> int:
        """Entries waiting for risk or the router (lag + pending of their groups)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, _ in WATCHED:
                pipe.xinfo_groups(stream.name)
            replies = await pipe.execute(raise_on_error=False)
        total = 0
        for (_, group), infos in zip(WATCHED, replies, strict=True):
            if isinstance(infos, Exception):
                continue  # no stream yet: nothing waits
            total += sum(_waiting(info) for info in infos if _text(info.get("name")) == group)
        return total

    async def _run(self) -> None:
        while True:
            try:
                self._admission.backlog = await self.read()
            except Exception as error:  # Redis away: the requests will say so themselves
                log.debug("backlog read failed: %r", error)
            await asyncio.sleep(self._interval_s)


def _waiting(info: dict[Any, Any]) -> int:
    lag = info.get("lag")
    return int(info.get("pending") or 0) + (int(lag) if lag is not None else 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
