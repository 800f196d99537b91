"""The venue's private stream, owned by exactly one router instance at a time.

Every instance tries to take the lease `PRIVATE_STREAM_LEASE`; the holder opens the private
WebSocket, renews the lease every third of its TTL and stops the stream the moment a
renewal fails (another instance may hold it by then). When the holder stops it releases the
lease; when it dies the lease lapses after its TTL; either way another instance takes over.

The holder turns every push into record transitions and events through `VenueSync` (order
pushes: acknowledged, cancelled, rejected, amended; executions: `OrderFilled`, once per
execId). It keeps the execTime up to which it has published fills in Redis, so the next
holder's reconnect snapshot starts there and no fill falls in the gap between two holders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from libs.common.metrics import WsChannel
from libs.common.tasks import cancel_and_wait, wait_or_timeout
from libs.common.topology import exec_cursor_key
from libs.common.venue import (
    BinancePrivateStream,
    BinanceVenue,
    Execution,
    LiveVenue,
    PrivateEvent,
    PrivateSnapshot,
    PrivateStream,
    VenueOrder,
)
from libs.common.venue.private_ws import DEFAULT_TOPICS
from services.router.context import RouterContext
from services.router.sync import VenueSync

log = logging.getLogger(__name__)

DCP_TOPIC, DCP_PRODUCT = "dcp.future", "DERIVATIVES"
"""The subscription that arms Bybit's disconnect-cancel for linear orders, and its product."""

PRIVATE_STREAM_LEASE = "venue-private"
"""Lease name (`lease_key`) of the private stream's owner."""
PUSHES_PER_BATCH = 200
"""Pushes already received that are applied together with the one awaited."""


def _batches(events: list[PrivateEvent]) -> list[list[PrivateEvent]]:
    """`events` in order, cut so that a reconnect snapshot is applied on its own (its
    fills start the cursor over): order pushes and executions around it batch together."""
    batches: list[list[PrivateEvent]] = []
    for event in events:
        if (
            isinstance(event, PrivateSnapshot)
            or not batches
            or isinstance(batches[-1][0], PrivateSnapshot)
        ):
            batches.append([event])
        else:
            batches[-1].append(event)
    return batches


class PrivateStreamOwner:
    """Holds the private stream while it holds the lease (a Runner)."""

    def __init__(self, ctx: RouterContext, venue: LiveVenue, sync: VenueSync) -> None:
        self._ctx = ctx
        self._venue = venue
        self._sync = sync
        self._lease = ctx.scoped(PRIVATE_STREAM_LEASE)
        """One private stream per account (the venue's is per API key): one lease each."""
        self._cursor_key = exec_cursor_key(ctx.scoped(ctx.settings.category.value))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cursor_ms = 0
        self._stream: PrivateStream | BinancePrivateStream | None = None
        self.holding = False
        """True while this instance owns the private stream."""
        self.executions_seen = 0
        """Executions this instance applied from the stream (replays included)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router:private-stream")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    @property
    def connected(self) -> bool:
        """True while this instance holds the stream and it is connected and snapshotted."""
        return self._stream is not None and self._stream.connected.is_set()

    @property
    def _ttl_ms(self) -> int:
        return int(self._ctx.settings.lease_ttl_s * 1000)

    async def _run(self) -> None:
        period = self._ctx.settings.lease_ttl_s / 3
        leases, me = self._ctx.leases, self._ctx.instance
        try:
            while not self._stopping.is_set():
                try:
                    if await leases.acquire(self._lease, me, self._ttl_ms):
                        await self._hold(period)
                except Exception:
                    log.exception("private stream: lease or stream failed; trying again")
                await wait_or_timeout(self._stopping, period)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(leases.release(self._lease, me))

    async def _hold(self, period: float) -> None:
        """Own the stream until the lease is lost, the stream ends, or we stop."""
        self.holding = True
        since_ms = await self._start_cursor()
        log.info(
            "private stream: lease taken by %s; fills from %d ms", self._ctx.instance, since_ms
        )
        dcp_window_s = self._ctx.settings.dcp_window_s
        topics = (*DEFAULT_TOPICS, DCP_TOPIC) if dcp_window_s else DEFAULT_TOPICS
        categories = (self._ctx.settings.category,)
        stream: PrivateStream | BinancePrivateStream
        if isinstance(self._venue, BinanceVenue):  # its user-data stream (listenKey)
            stream = BinancePrivateStream(
                self._venue, categories=categories, topics=topics, since_ms=since_ms
            )
        else:
            stream = PrivateStream(
                self._venue, categories=categories, topics=topics, since_ms=since_ms
            )
        self._stream = stream
        try:
            async with stream:
                if dcp_window_s:
                    await self._arm_dcp(dcp_window_s)
                consume = asyncio.create_task(self._consume(stream), name="router:private-push")
                try:
                    await self._renew_while(consume, period)
                finally:
                    await cancel_and_wait(consume)
        finally:
            self.holding = False
            self._stream = None

    async def _arm_dcp(self, window_s: int) -> None:
        """Set the DCP window; the subscription of this stream is what arms it. A refusal
        (DCP not enabled for the account) is logged: the router's own Redis-loss cancel
        remains, the venue's switch does not."""
        try:
            await self._venue.set_dcp_window(window_s, DCP_PRODUCT)
        except Exception as exc:
            log.error("DCP not armed: the venue refused a %d s window: %s", window_s, exc)
            return
        log.info(
            "DCP armed: the venue cancels all derivatives orders %d s after we vanish", window_s
        )

    async def _renew_while(self, consume: asyncio.Task[None], period: float) -> None:
        leases, me = self._ctx.leases, self._ctx.instance
        while not self._stopping.is_set():
            await asyncio.wait([consume], timeout=period)
            if consume.done():
                log.error("private stream ended: %s", consume.exception())
                return
            if not await leases.renew(self._lease, me, self._ttl_ms):
                log.warning("private stream: lease lost by %s; stopping the stream", me)
                return

    async def _start_cursor(self) -> int:
        raw = await self._ctx.redis.get(self._cursor_key)
        lookback_ms = int(self._ctx.settings.exec_lookback_s * 1000)
        self._cursor_ms = int(raw) if raw is not None else int(time.time() * 1000) - lookback_ms
        return self._cursor_ms

    async def _consume(self, stream: PrivateStream | BinancePrivateStream) -> None:
        async for event in stream:
            # the pushes already received go with it, as one batch (one read, one write)
            for batch in _batches([event, *stream.ready(PUSHES_PER_BATCH)]):
                delay = 0.05
                while True:  # never skip a push: retry it until it is applied
                    try:
                        await self._apply(batch)
                        break
                    except Exception:
                        log.exception("private stream: applying %d push(es) failed", len(batch))
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 2.0)

    async def _apply(self, batch: list[PrivateEvent]) -> None:
        snaps: list[VenueOrder] = []
        fills: list[Execution] = []
        for event in batch:
            if isinstance(event, PrivateSnapshot):
                if event.connection > 0:
                    reconnects = self._ctx.metrics.venue_ws_reconnects
                    channel = WsChannel.PRIVATE.value
                    reconnects.labels(venue=self._ctx.venue, channel=channel).inc()
                snaps += event.open_orders
                fills += event.executions
            elif isinstance(event, VenueOrder):
                snaps.append(event)
            elif isinstance(event, Execution):
                fills.append(event)
            # positions: the positions service reconciles those
        if not snaps and not fills:
            return
        await self._sync.apply(snaps, fills)
        self.executions_seen += len(fills)
        latest = max((f.exec_time_ms for f in fills), default=0)
        if latest > self._cursor_ms:
            self._cursor_ms = latest
            await self._ctx.redis.set(self._cursor_key, latest)
