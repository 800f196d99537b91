"""`LeasedTask`: work that one instance does at a time, with failover, under a lease.

Every instance runs one. The holder renews every third of the TTL; the others try to take
the lease at the same pace, and one does once it lapses. The work gets an event, `release`:
it must return soon after it is set (the lease was lost, or the service is stopping). If it
has not returned within `grace_s` it is cancelled, and if even that does not end it, it is
abandoned with an error logged: stopping a service never hangs on it. If the work ends or
fails by itself, the lease is given up and taken again after `retry_s`, doubling (up to
`max_retry_s`) while it keeps failing.

A stalled holder may overlap its successor until its next renewal fails: work under a
lease stays idempotent (marks never roll back, reconciliation only reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from libs.common.stores import LeaseStore
from libs.common.tasks import wait_or_timeout

log = logging.getLogger(__name__)

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""The work: runs until its `release` event is set (or fails)."""


class LeasedTask:
    """Run `work` only while holding the lease `name`; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        leases: LeaseStore,
        owner: str,
        ttl_ms: int,
        work: Work,
        retry_s: float = 1.0,
        max_retry_s: float = 30.0,
        grace_s: float = 2.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.holding = False
        self.last_progress = time.monotonic()
        self._leases = leases
        self._owner = owner
        self._ttl_ms = ttl_ms
        self._work = work
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._grace_s = grace_s
        self._failures = 0
        self._on_lost = on_lost
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease:{self.name}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    @property
    def _beat_s(self) -> float:
        return self._ttl_ms / 3000

    async def _run(self) -> None:
        while not self._stop.is_set():
            pause = self._beat_s
            try:
                if await self._leases.acquire(self.name, self._owner, self._ttl_ms):
                    pause = await self._hold()
                self.last_progress = time.monotonic()
            except Exception:
                log.exception("lease %s: Redis failed; trying again", self.name)
            await self._sleep(pause)

    async def _hold(self) -> float:
        """Run the work while renewing; return how long to wait before the next acquire."""
        log.info("lease %s: held by %s", self.name, self._owner)
        self.holding = True
        release = asyncio.Event()
        work = asyncio.create_task(self._work(release), name=f"leased:{self.name}")
        pause = self._beat_s
        try:
            while not self._stop.is_set():
                await self._wait_beat(work)
                if work.done():
                    pause = self._after(work)
                    break
                if not self._stop.is_set() and not await self._renew():
                    log.warning("lease %s: lost by %s", self.name, self._owner)
                    break
                self.last_progress = time.monotonic()
        finally:
            release.set()
            await self._end(work)
            self.holding = False
            if self._on_lost is not None:
                self._on_lost()
            with contextlib.suppress(Exception):
                await self._leases.release(self.name, self._owner)
        return pause

    async def _wait_beat(self, work: asyncio.Task[None]) -> None:
        """Until the work ends, the service stops, or a renewal is due."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait(
                {work, stopping}, timeout=self._beat_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)

    async def _end(self, work: asyncio.Task[None]) -> None:
        """Let the work return; cancel it after the grace; abandon it if even that fails."""
        if not work.done():
            await asyncio.wait({work}, timeout=self._grace_s)
        if not work.done():
            work.cancel()
            await asyncio.wait({work}, timeout=self._grace_s)
        if not work.done():
            log.error("lease %s: work did not stop in %.1f s; abandoned", self.name, self._grace_s)
        elif not work.cancelled() and (error := work.exception()) is not None:
            log.debug("lease %s: work ended with %r", self.name, error)

    def _after(self, work: asyncio.Task[None]) -> float:
        """How long to wait after the work ended by itself (longer while it keeps failing)."""
        error = None if work.cancelled() else work.exception()
        if error is None:
            self._failures = 0
            return self._retry_s
        self._failures += 1
        pause = min(self._max_retry_s, self._retry_s * float(2 ** min(self._failures - 1, 16)))
        log.error("lease %s: work failed (%r); again in %.1f s", self.name, error, pause)
        return pause

    async def _renew(self) -> bool:
        try:
            return await self._leases.renew(self.name, self._owner, self._ttl_ms)
        except Exception:
            log.exception("lease %s: renewal failed", self.name)
            return False

    async def _sleep(self, seconds: float) -> None:
        await wait_or_timeout(self._stop, seconds)
