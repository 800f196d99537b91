"""`PrivateStream`: the Bybit private WebSocket (order, execution, position) without gaps.

On every (re)connect: authenticate, subscribe, then take a REST snapshot (open orders,
executions since the last seen execTime minus an overlap, positions) while pushes are
buffered; emit the snapshot as one `PrivateSnapshot`, then the buffered pushes, then live
pushes. Executions are deduped by execId and order updates by
(orderId, updatedTime, cumExecQty, status), both in bounded LRU sets, so every fill is
emitted exactly once even when it arrives both by push and by snapshot (the machinery
both venues share: `libs.common.venue.snapshot_stream`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from libs.common.domain.enums import Category
from libs.common.venue.errors import AuthenticationFailed
from libs.common.venue.models import Execution, VenueOrder, VenuePosition
from libs.common.venue.signing import sign_ws_auth
from libs.common.venue.snapshot_stream import LruSet, PrivateUpdate, Snapshot, SnapshotStream
from libs.common.venue.wire import parse_execution, parse_order, parse_position
from libs.common.venue.ws import StreamClosed

if TYPE_CHECKING:
    from libs.common.venue.bybit import BybitVenue

__all__ = ["DEFAULT_TOPICS", "LruSet", "PrivateStream"]

log = logging.getLogger(__name__)

DEFAULT_TOPICS = ("order", "execution", "position")
_PARSERS: dict[str, Callable[[dict[str, Any], Category | None], PrivateUpdate]] = {
    "order": parse_order,
    "execution": parse_execution,
    "position": parse_position,
}


class PrivateStream(SnapshotStream["BybitVenue"]):
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
        super().__init__(
            venue.config.ws_private_url,
            venue,
            categories=categories,
            topics=topics,
            since_ms=since_ms,
        )

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        key, secret = self.venue.config.key, self.venue.config.secret
        if not key or not secret:
            raise AuthenticationFailed("private stream needs MMX_API_KEY and MMX_API_SECRET")
        self._buffer = []
        expires = self.venue.rest.clock.now_ms() + self.venue.config.ws_auth_headroom_ms
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

    async def _snapshot(self, since_ms: int) -> Snapshot:
        orders: list[VenueOrder] = []
        fills: list[Execution] = []
        positions: list[VenuePosition] = []
        for category in self.categories:
            o, f, p = await asyncio.gather(
                self.venue.open_orders(category),
                self.venue.executions(category, start_ms=since_ms),
                self.venue.positions(category),
            )
            orders += o
            fills += f
            positions += p
        fills.sort(key=lambda e: (e.exec_time_ms, e.exec_id))
        return orders, fills, positions

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
            self._push(event)
