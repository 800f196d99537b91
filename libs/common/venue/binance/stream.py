"""`BinancePrivateStream`: the USDⓈ-M user-data stream (orders, fills, positions) without gaps.

Mirrors `libs.common.venue.private_ws.PrivateStream`. Before each (re)connect a listenKey is
taken (`POST /fapi/v1/listenKey`, which returns the API key's active one if any) and the
stream opens `BinanceConfig.user_stream_url` (per venue: the routed
`/private/ws?listenKey=<listenKey>` on mainnet, `/ws/<listenKey>` on testnet and sim); a
task extends the key every `listen_key_keepalive_s` (PUT; -1125 when it is gone → a new
one is POSTed and the stream reconnects to it), and `listenKeyExpired` reconnects with a
new key. The key is never DELETEd: every router instance of an API key shares it.

On every (re)connect, while pushes are buffered, a REST snapshot is taken (open orders,
positions, and fills since the last seen fill time minus an overlap, on every symbol the
venue covers: `BinanceQueries.account_symbols`) and emitted as one `PrivateSnapshot`, then
the buffered pushes, then live ones. An ORDER_TRADE_UPDATE yields its fill (`x` TRADE)
as an `Execution`, then the order as a `VenueOrder`; ACCOUNT_UPDATE yields its positions.
Fills are deduped by exec id and order updates by (orderId, time, filled, status): the
machinery both venues share, `libs.common.venue.snapshot_stream`.

The connection is watched with WebSocket ping frames (Binance answers them with pongs and
pushes nothing while the account is idle). While connected, the stream also renews the
venue's countdown dead man's switch when `set_dcp_window` armed it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from libs.common.domain.enums import Category
from libs.common.tasks import cancel_and_wait
from libs.common.venue.binance.errors import INVALID_LISTEN_KEY, rejection
from libs.common.venue.binance.parse import (
    parse_execution_push,
    parse_order_push,
    parse_position_push,
)
from libs.common.venue.binance.wire import LISTEN_KEY
from libs.common.venue.errors import AuthenticationFailed
from libs.common.venue.snapshot_stream import PrivateUpdate, Snapshot, SnapshotStream
from libs.common.venue.wire import dec
from libs.common.venue.ws import StreamClosed

if TYPE_CHECKING:
    from libs.common.venue.binance.venue import BinanceVenue

log = logging.getLogger(__name__)

LINEAR = Category.LINEAR
_RETRY_KEEPALIVE_S = 60.0


class BinancePrivateStream(SnapshotStream["BinanceVenue"]):
    """Order, fill and position updates for the account of `venue`'s API key.

    `async for event in stream` yields `PrivateSnapshot`, `VenueOrder`, `Execution` and
    `VenuePosition`, as `PrivateStream` does. `since_ms` is where the first fill snapshot
    starts (default: the venue's clock at start). `topics` is accepted for the same
    signature and ignored: the user-data stream carries every event of the key.
    """

    name = "user-data stream"

    def __init__(
        self,
        venue: BinanceVenue,
        *,
        categories: Sequence[Category] = (LINEAR,),
        topics: Sequence[str] = (),
        since_ms: int | None = None,
    ) -> None:
        super().__init__(
            venue.config.ws_base, venue, categories=categories, topics=topics, since_ms=since_ms
        )
        self.listen_key: str | None = None
        self.key_renewals = 0
        """listenKey extensions (PUT) that succeeded."""
        self._helpers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await super().start()
        if not self._helpers:
            self._helpers = [
                asyncio.create_task(self._keep_key_alive(), name="binance listenKey keepalive"),
                asyncio.create_task(self._heartbeat_dcp(), name="binance countdown heartbeat"),
            ]

    async def close(self) -> None:
        for task in self._helpers:
            await cancel_and_wait(task)
        self._helpers = []
        await super().close()

    # -- the listenKey ------------------------------------------------------------------------

    async def _new_key(self) -> str:
        answer = await self.venue.rest.send("POST", LISTEN_KEY, security="key")
        if not answer.ok:
            raise rejection(answer.code, answer.msg, context="POST listenKey")
        return str(answer.obj["listenKey"])

    async def renew_listen_key(self) -> None:
        """Extend the listenKey (PUT); when it is gone (-1125), take a new one and reconnect."""
        answer = await self.venue.rest.send("PUT", LISTEN_KEY, security="key")
        if answer.code == INVALID_LISTEN_KEY:
            log.warning("user-data stream: listenKey gone (-1125); taking a new one")
            self.listen_key = await self._new_key()
            await self.drop()
            return
        if not answer.ok:
            raise rejection(answer.code, answer.msg, context="PUT listenKey")
        self.key_renewals += 1
        renewed = answer.obj.get("listenKey")
        if renewed and self.listen_key is not None and renewed != self.listen_key:
            self.listen_key = str(renewed)
            await self.drop()

    async def _keep_key_alive(self) -> None:
        delay = self.venue.config.listen_key_keepalive_s
        while True:
            await asyncio.sleep(delay)
            delay = self.venue.config.listen_key_keepalive_s
            if self.listen_key is None:
                continue
            try:
                await self.renew_listen_key()
            except Exception as exc:
                delay = min(delay, _RETRY_KEEPALIVE_S)
                log.warning(
                    "user-data stream: listenKey not extended (%s); again in %.0f s", exc, delay
                )

    async def _heartbeat_dcp(self) -> None:
        while True:
            window_ms = self.venue.dcp_window_ms
            await asyncio.sleep(window_ms / 3000 if window_ms else 1.0)
            if window_ms is None or not self.connected.is_set():
                continue
            try:
                await self.venue.renew_dcp()
            except Exception as exc:
                log.error("countdownCancelAll not renewed: %s", exc)

    # -- the connection -------------------------------------------------------------------------

    async def _before_connect(self) -> None:
        await super()._before_connect()  # waits out an IP ban
        if self.listen_key is None:
            self.listen_key = await self._new_key()
        self._auth_failures = 0
        self.url = self.venue.config.user_stream_url(self.listen_key)

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._buffer = []  # no login: the listenKey in the URL is the credential

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.ws_ping_interval_s)
            await ws.ping()

    def _on_error(self, exc: Exception) -> bool:
        if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status == 400:
            self.listen_key = None  # -1125: the key is gone; the next attempt takes a new one
        if isinstance(exc, AuthenticationFailed):
            self._auth_failures += 1
        return super()._on_error(exc)

    async def _snapshot(self, since_ms: int) -> Snapshot:
        if LINEAR not in self.categories:
            return [], [], []
        orders, positions = await asyncio.gather(
            self.venue.open_orders(LINEAR), self.venue.positions(LINEAR)
        )  # both note their symbols: the fills below cover them
        fills = await self.venue.executions_of(sorted(self.venue.tracked_symbols), since_ms)
        return orders, fills, positions

    def _dispatch(self, msg: dict[str, Any]) -> None:
        data = msg.get("data")
        if isinstance(data, dict) and "stream" in msg:
            msg = data  # combined-stream framing
        kind = msg.get("e")
        if kind == "listenKeyExpired":
            if msg.get("listenKey") in (None, self.listen_key):
                self.listen_key = None
                raise StreamClosed("listenKeyExpired: reconnecting with a new listenKey")
            return
        try:
            updates = _updates(kind, msg)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("user-data stream: unparseable %s push %r: %s", kind, msg, exc)
            return
        for event in updates:
            self._push(event)


def _updates(kind: Any, msg: dict[str, Any]) -> list[PrivateUpdate]:
    """The events of one push: ORDER_TRADE_UPDATE → [fill,] order; ACCOUNT_UPDATE → positions."""
    event_ms = int(msg.get("E") or 0)
    if kind == "ORDER_TRADE_UPDATE":
        o = msg["o"]
        time_ms = int(o.get("T") or msg.get("T") or event_ms)
        order = parse_order_push(o, time_ms)
        if o.get("x") == "TRADE" and dec(o.get("l")) > 0:
            return [parse_execution_push(o, time_ms), order]
        return [order]
    if kind == "ACCOUNT_UPDATE":
        time_ms = int(msg.get("T") or event_ms)
        return [parse_position_push(p, time_ms) for p in (msg.get("a") or {}).get("P") or []]
    return []
