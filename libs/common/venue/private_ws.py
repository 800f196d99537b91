"""`PrivateStream`: the Bybit private WebSocket (order, execution, position) without gaps.

On every (re)connect: authenticate, subscribe, then take a REST snapshot (open orders,
executions since the last seen execTime minus an overlap, positions) while pushes are
buffered; emit the snapshot as one `PrivateSnapshot`, then the buffered pushes, then live
pushes. Executions are deduped by execId and order updates by
(orderId, updatedTime, cumExecQty, status), both in bounded LRU sets, so every fill is
emitted exactly once even when it arrives both by push and by snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from libs.common.domain.enums import Category
from libs.common.venue.errors import AuthenticationFailed
from libs.common.venue.models import (
    Execution,
    PrivateEvent,
    PrivateSnapshot,
    VenueOrder,
    VenuePosition,
)
from libs.common.venue.signing import sign_ws_auth
from libs.common.venue.wire import parse_execution, parse_order, parse_position
from libs.common.venue.ws import ReconnectingStream, StreamClosed

if TYPE_CHECKING:
    from libs.common.venue.bybit import BybitVenue

log = logging.getLogger(__name__)

PrivateUpdate = VenueOrder | Execution | VenuePosition

DEFAULT_TOPICS = ("order", "execution", "position")
_PARSERS: dict[str, Callable[[dict[str, Any], Category | None], PrivateUpdate]] = {
    "order": parse_order,
    "execution": parse_execution,
    "position": parse_position,
}
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


class PrivateStream(ReconnectingStream[PrivateEvent]):
    """Order, execution and position updates for the account of `venue`'s API key.

    `async for event in stream` yields `PrivateSnapshot`, `VenueOrder`, `Execution` and
    `VenuePosition`. `since_ms` is where the first execution snapshot starts (default: the
    venue's clock at start). `topics` may add e.g. `dcp.future` to arm DCP (pushes of
    other topics are ignored).
    """

    def __init__(
        self,
        venue: BybitVenue,
        *,
        categories: Sequence[Category] = (Category.LINEAR,),
        topics: Sequence[str] = DEFAULT_TOPICS,
        since_ms: int | None = None,
    ) -> None:
        super().__init__(venue.config.ws_private_url, venue.config)
        self.venue = venue
        self.categories = tuple(categories)
        self.foreign_pushes = 0
        """Pushes of categories not in `categories`, dropped."""
        self.topics = list(topics)
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
        """The latest execTime emitted (or the start point); the next snapshot's anchor."""
        return self._exec_cursor_ms

    async def _before_connect(self) -> None:
        banned_s = self.venue.rest.banned_for_s
        if banned_s > 0:
            log.warning("private stream: IP banned, waiting %.0f s before reconnecting", banned_s)
            await asyncio.sleep(banned_s)

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        key, secret = self.venue.config.key, self.venue.config.secret
        if not key or not secret:
            raise AuthenticationFailed("private stream needs MMX_API_KEY and MMX_API_SECRET")
        self._buffer = []
        expires = self.venue.rest.clock.now_ms() + self.config.ws_auth_headroom_ms
        reply = await self._request(ws, "auth", [key, expires, sign_ws_auth(secret, expires)])
        if not reply.get("success"):
            self._auth_failures += 1
            await self.venue.rest.sync_clock()  # the usual cause is clock skew
            raise AuthenticationFailed(
                f"private stream auth refused: {reply.get('ret_msg')!r}; expected a valid key "
                f"and a clock within the expiry headroom (attempt {self._auth_failures})"
            )
        self._auth_failures = 0
        reply = await self._request(ws, "subscribe", self.topics)
        if reply.get("success") is False:
            raise StreamClosed(f"subscribe {self.topics} refused: {reply.get('ret_msg')!r}")

    def _on_error(self, exc: Exception) -> bool:
        if isinstance(exc, AuthenticationFailed):
            # A missing key is fatal at once; a refused auth after a few clock re-syncs.
            has_key = self.venue.config.key is not None
            return has_key and self._auth_failures < _MAX_AUTH_FAILURES
        return True

    async def _after_open(self) -> None:
        connection = self._connections
        self._connections += 1
        if self._exec_cursor_ms is None:
            self._exec_cursor_ms = self.venue.rest.clock.now_ms()
        since = self._exec_cursor_ms - self.config.ws_exec_overlap_ms
        taken_ms = self.venue.rest.clock.now_ms()
        orders: list[VenueOrder] = []
        fills: list[Execution] = []
        positions: list[VenuePosition] = []
        for category in self.categories:
            o, f, p = await asyncio.gather(
                self.venue.open_orders(category),
                self.venue.executions(category, start_ms=since),
                self.venue.positions(category),
            )
            orders += o
            fills += f
            positions += p
        fills.sort(key=lambda e: (e.exec_time_ms, e.exec_id))
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

    def _dispatch(self, msg: dict[str, Any]) -> None:
        topic = str(msg.get("topic") or "")
        if not topic:
            return  # pong and op replies
        base = topic.split(".", 1)[0]
        if base not in _PARSERS or topic == "execution.fast":
            return  # execution.fast lacks fields; dcp / wallet are not modelled
        for item in msg.get("data") or []:
            try:
                event = _PARSERS[base](item, None)
            except (KeyError, ValueError) as exc:
                log.error("private stream: unparseable %s push %r: %s", topic, item, exc)
                continue
            if event.category not in self.categories:
                # the topics carry every category of the account (spot on the same UID):
                # another category's fill must never fold into this one's position
                self.foreign_pushes += 1
                continue
            if self._buffer is not None:
                self._buffer.append(event)
            else:
                self._emit(event)
