"""The venue's rate-limit headroom per endpoint, in Redis for the console (`VENUE_HEADROOM_KEY`).

The adapter keeps the `X-Bapi-Limit*` headers of the last answer on each path
(`RestClient.rate_limits`); `VenueHealth.on_request` hands them here after every exchange.
`observe` notes each answer's headers once (an answer without them leaves the adapter's old
ones in place: those are not noted again) and wakes the writer task, which writes the newest
per endpoint in one HSET, then rests `flush_interval_s`: whatever the request rate, a router
writes a few times a second at most. The key expires `TTL_MS` after the last write, so a
stopped desk leaves nothing behind; readers judge each endpoint by its `updated_ms`.

    {"/v5/order/create": {"group": "trade", "limit": 10, "remaining": 7,
                          "reset_ms": 1717000000123, "updated_ms": 1717000000045}}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from libs.common.tasks import cancel_and_wait
from libs.common.topology import VENUE_HEADROOM_KEY, VENUE_HEADROOM_TTL_MS
from libs.common.venue import RateLimitStatus

log = logging.getLogger(__name__)

TTL_MS = VENUE_HEADROOM_TTL_MS
"""The key is dropped this long after the last write (figures that old say nothing)."""
FLUSH_INTERVAL_S = 0.25
"""Least time between two writes of one router instance."""


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the venue said about one endpoint's quota in its latest answer."""

    group: str
    """The router's quota group of the endpoint (`services.router.gate.group_of`)."""
    limit: int
    """Requests the venue admits per window (`X-Bapi-Limit`)."""
    remaining: int
    """Requests left in the current window (`X-Bapi-Limit-Status`)."""
    reset_ms: int | None
    """Unix ms the window resets (`X-Bapi-Limit-Reset-Timestamp`), when the venue said."""
    updated_ms: int
    """Unix ms the answer was received."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class HeadroomBoard:
    """Notes the venue's rate-limit headers and writes them to Redis in the background."""

    def __init__(
        self,
        redis: Redis,
        *,
        group_of: Callable[[str], str],
        flush_interval_s: float = FLUSH_INTERVAL_S,
        key: str = VENUE_HEADROOM_KEY,
    ) -> None:
        self._redis = redis
        self._key = key
        """`VENUE_HEADROOM_KEY`, or an account's scoped name of it (the venue counts per
        account)."""
        self._group_of = group_of
        self._flush_interval_s = flush_interval_s
        self._noted: dict[str, RateLimitStatus] = {}
        self._pending: dict[str, Headroom] = {}
        self._wake = asyncio.Event()
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def observe(self, path: str, status: RateLimitStatus | None) -> None:
        """The adapter's last headers on `path`, right after an exchange on it."""
        if status is None or status is self._noted.get(path):
            return  # no headers yet, or this answer carried none: the old ones are written
        self._noted[path] = status
        if status.limit is None or status.remaining is None:
            return
        self._pending[path] = Headroom(
            group=self._group_of(path),
            limit=status.limit,
            remaining=status.remaining,
            reset_ms=status.reset_ms,
            updated_ms=time.time_ns() // 1_000_000,
        )
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router:headroom")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            try:
                await self.write(pending)
            except Exception as exc:  # Redis away: keep the newest figures for the next try
                if not self._failing:
                    log.warning("venue headroom not written (retrying): %s", exc)
                self._failing = True
                self._pending = pending | self._pending
                self._wake.set()
            else:
                self._failing = False
            await asyncio.sleep(self._flush_interval_s)

    async def write(self, rows: Mapping[str, Headroom]) -> None:
        """Write `rows` (by endpoint path) over the older ones and renew the key's TTL."""
        if not rows:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, mapping={p: h.to_json() for p, h in rows.items()})
            pipe.pexpire(self._key, TTL_MS)
            await pipe.execute()
