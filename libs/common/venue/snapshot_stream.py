"""`SnapshotStream`: what both venues' private streams share to deliver every fill once.

On every (re)connect the subclass's handshake starts buffering pushes; once the reader
runs, a REST snapshot (open orders, fills since the last seen fill time minus an overlap,
positions) is taken and emitted as one `PrivateSnapshot`, then the buffered pushes, then
live pushes. Fills are deduped by exec id and order updates by (order id, updated time,
filled quantity, status), both in bounded LRU sets, so every fill is emitted exactly once
even when it arrives both by push and by snapshot.

`PrivateStream` (Bybit) and `BinancePrivateStream` say how to log in (`_handshake`), how
to take the snapshot (`_snapshot`) and how a push becomes events (`_dispatch`, which hands
each event to `_push`).
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import aiohttp

from libs.common.domain.enums import Category
from libs.common.venue.config import AdapterSettings
from libs.common.venue.errors import AuthenticationFailed
from libs.common.venue.http import HttpClientBase
from libs.common.venue.models import (
    Execution,
    PrivateEvent,
    PrivateSnapshot,
    VenueOrder,
    VenuePosition,
)
from libs.common.venue.ws import ReconnectingStream

log = logging.getLogger(__name__)

PrivateUpdate = VenueOrder | Execution | VenuePosition
Snapshot = tuple[list[VenueOrder], list[Execution], list[VenuePosition]]
"""(open orders, fills oldest first, positions) as REST reads them on a (re)connect."""

_MAX_AUTH_FAILURES = 3


class LruSet:
    """A bounded set that forgets the oldest keys first."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Add `key`; False if it was already there."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.maxlen:
            self._keys.popitem(last=False)
        return True

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


def order_key(order: VenueOrder) -> Hashable:
    return (order.venue_order_id, order.updated_ms, order.cum_exec_qty, order.status)


class StreamVenue(Protocol):
    """What a private stream reads of its venue (`BybitVenue` and `BinanceVenue` are ones)."""

    @property
    def config(self) -> AdapterSettings: ...

    @property
    def rest(self) -> HttpClientBase[Any]: ...


V = TypeVar("V", bound=StreamVenue)


class SnapshotStream(ReconnectingStream[PrivateEvent], Generic[V]):
    """Order, fill and position updates for the account of `venue`'s API key; see the
    module docstring. `since_ms` is where the first fill snapshot starts (default: the
    venue's clock at the first connection)."""

    name: ClassVar[str] = "private stream"
    """How log lines name the stream."""

    def __init__(
        self,
        url: str,
        venue: V,
        *,
        categories: Sequence[Category],
        topics: Sequence[str],
        since_ms: int | None,
    ) -> None:
        super().__init__(url, venue.config)
        self.venue = venue
        self.categories = tuple(categories)
        self.topics = list(topics)
        self.foreign_pushes = 0
        """Pushes of categories not in `categories`, dropped (always 0 on Binance: a USDⓈ-M
        key pushes linear contracts only)."""
        self._exec_cursor_ms = since_ms
        self._execs = LruSet(venue.config.ws_dedupe_size)
        self._orders = LruSet(venue.config.ws_dedupe_size)
        self._buffer: list[PrivateUpdate] | None = None
        self._auth_failures = 0
        self._connections = 0

    def _session(self) -> aiohttp.ClientSession:
        return self.venue.rest.session

    @property
    def exec_cursor_ms(self) -> int | None:
        """The latest fill time emitted (or the start point); the next snapshot's anchor."""
        return self._exec_cursor_ms

    async def _before_connect(self) -> None:
        banned_s = self.venue.rest.banned_for_s
        if banned_s > 0:
            log.warning("%s: IP banned, waiting %.0f s before reconnecting", self.name, banned_s)
            await asyncio.sleep(banned_s)

    def _on_error(self, exc: Exception) -> bool:
        if isinstance(exc, AuthenticationFailed):
            # A missing key is fatal at once; a refused one after a few attempts.
            has_key = self.venue.config.key is not None
            return has_key and self._auth_failures < _MAX_AUTH_FAILURES
        return True

    @abstractmethod
    async def _snapshot(self, since_ms: int) -> Snapshot:
        """Open orders, fills since `since_ms` (oldest first) and positions, from REST."""

    async def _after_open(self) -> None:
        connection = self._connections
        self._connections += 1
        clock = self.venue.rest.clock
        if self._exec_cursor_ms is None:
            self._exec_cursor_ms = clock.now_ms()
        since = self._exec_cursor_ms - self.venue.config.ws_exec_overlap_ms
        taken_ms = clock.now_ms()
        orders, fills, positions = await self._snapshot(since)
        fresh = [e for e in fills if self._new_exec(e)]
        for order in orders:
            self._orders.add(order_key(order))
        # No await from here on: the snapshot and the buffer are emitted atomically.
        self._put(
            PrivateSnapshot(
                connection=connection,
                taken_ms=taken_ms,
                open_orders=tuple(orders),
                executions=tuple(fresh),
                positions=tuple(positions),
            )
        )
        buffered, self._buffer = self._buffer or [], None
        for event in buffered:
            self._emit(event)

    def _new_exec(self, fill: Execution) -> bool:
        if not self._execs.add(fill.exec_id):
            return False
        self._exec_cursor_ms = max(self._exec_cursor_ms or 0, fill.exec_time_ms)
        return True

    def _emit(self, event: PrivateUpdate) -> None:
        if isinstance(event, Execution) and not self._new_exec(event):
            return
        if isinstance(event, VenueOrder) and not self._orders.add(order_key(event)):
            return
        self._put(event)

    def _push(self, event: PrivateUpdate) -> None:
        """One event of a push: held back while the snapshot is taken, else emitted."""
        if self._buffer is not None:
            self._buffer.append(event)
        else:
            self._emit(event)
