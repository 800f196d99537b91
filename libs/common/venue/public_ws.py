"""`PublicStream`: Bybit `tickers.{symbol}` marks, snapshot + delta merged per symbol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from libs.common.domain.enums import Category
from libs.common.venue.config import VenueConfig
from libs.common.venue.models import Ticker
from libs.common.venue.wire import parse_ticker
from libs.common.venue.ws import ReconnectingStream, StreamClosed


class PublicStream(ReconnectingStream[Ticker]):
    """Tickers of `symbols`: `async for ticker in stream`, or read `latest[symbol]`.

    Uses `session` when given (e.g. `venue.rest.session`), else owns one. The queue keeps
    the newest `max_queue` tickers if the consumer falls behind; `latest` is always current.
    """

    def __init__(
        self,
        config: VenueConfig,
        symbols: Sequence[str],
        *,
        category: Category = Category.LINEAR,
        session: aiohttp.ClientSession | None = None,
        max_queue: int = 10_000,
    ) -> None:
        super().__init__(config.ws_public_url(category), config, max_queue=max_queue)
        self.category = category
        self.symbols = list(symbols)
        self.latest: dict[str, Ticker] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._given_session = session
        self._own_session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._given_session is not None:
            return self._given_session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession()
        return self._own_session

    async def close(self) -> None:
        await super().close()
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._state.clear()
        reply = await self._request(ws, "subscribe", [f"tickers.{s}" for s in self.symbols])
        if reply.get("success") is False:
            refused = reply.get("ret_msg")
            raise StreamClosed(f"subscribe tickers {self.symbols} refused: {refused!r}")

    def _dispatch(self, msg: dict[str, Any]) -> None:
        topic = str(msg.get("topic") or "")
        data = msg.get("data")
        if not topic.startswith("tickers.") or not isinstance(data, dict):
            return
        symbol = str(data.get("symbol") or topic.removeprefix("tickers."))
        if msg.get("type") == "snapshot" or symbol not in self._state:
            self._state[symbol] = {}
        state = self._state[symbol]
        state.update({k: v for k, v in data.items() if v not in (None, "")})
        state["symbol"] = symbol
        ticker = parse_ticker(state, self.category, int(msg.get("ts") or 0))
        self.latest[symbol] = ticker
        self._put(ticker)
