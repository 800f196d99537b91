"""Binance's WebSocket streams on the REST port: market streams and user data.

Paths (any of them can carry any stream, subscribed in the URL or by a `SUBSCRIBE`):
`/ws[/<s1>/<s2>...]` raw (each message is the stream's data), `/stream[?streams=s1/s2]`
combined (`{"stream": <name>, "data": {...}}`), the same under `/market`, `/public` and
`/private` (the official SDK's three sockets), and `?listenKey=<key>[&events=E1/E2]` on
any of them. A stream name without `@` is a listen key: its account's user-data events.
Control messages: `{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": ..}`,
`LIST_SUBSCRIPTIONS`, `SET_PROPERTY` / `GET_PROPERTY` `combined`; each is answered
`{"result": ..., "id": ..}` or `{"error": {"code", "msg"}, "id": ..}`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from services.venue_sim.binance import ws_user
from services.venue_sim.binance.listen_keys import ListenKeys
from services.venue_sim.binance.ws_market import MarketFeed, StreamName, parse
from services.venue_sim.engine import Changes, Exchange
from services.venue_sim.faults import Faults
from services.venue_sim.ws_common import WsConn

Json = dict[str, Any]
BASES = ("market", "public", "private")


@dataclass(eq=False, slots=True)
class StreamConn:
    """One connection: its framing, its subscriptions, its user-event filter."""

    conn: WsConn
    combined: bool
    private: bool
    """Opened under `/private` (counted and dropped as a private connection)."""
    events: frozenset[str] | None = None
    streams: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Sources:
    """What the streams read from the running personality."""

    exchange: Callable[[], Exchange]
    clock: Callable[[], int]
    faults: Callable[[], Faults]
    listen_keys: ListenKeys
    version: Callable[[str], int]
    stp_of: Callable[[str], str]
    margin_type_of: ws_user.MarginTypeOf


class StreamHub:
    """Every stream connection of the Binance personality and what it subscribed."""

    def __init__(self, sources: Sources) -> None:
        self.src = sources
        self.conns: set[StreamConn] = set()
        self.market: dict[str, set[StreamConn]] = {}
        self.parsed: dict[str, StreamName] = {}
        self.users: dict[str, set[StreamConn]] = {}
        """listen key -> its subscribers."""
        self.feed = MarketFeed(sources.exchange, sources.clock, sources.version)

    # -- connections -------------------------------------------------------------------------

    def _listed(self) -> Collection[str]:
        return {symbol for _, symbol in self.src.exchange().markets}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one WebSocket connection of any stream path."""
        combined = request.path.rstrip("/").endswith("/stream")
        initial = request.match_info.get("streams", "") or request.query.get("streams", "")
        names = [name for name in initial.split("/") if name]
        if key := request.query.get("listenKey"):
            names.append(key)
        errors = [error for name in names if (error := self._check(name))]
        if errors:
            body = orjson.dumps(
                {"code": -1125 if "listenKey" in errors[0] else 2, "msg": errors[0]}
            )
            return web.Response(status=400, body=body, content_type="application/json")
        events = request.query.get("events")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = StreamConn(
            WsConn(ws),
            combined,
            request.match_info.get("base") == "private",
            frozenset(events.split("/")) if events else None,
        )
        self.conns.add(conn)
        for name in names:
            self._subscribe(conn, name)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self._closed(conn)
            conn.conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.conn.writer, timeout=1.0)
        return ws

    def _closed(self, conn: StreamConn) -> None:
        self.conns.discard(conn)
        for name in list(conn.streams):
            self._unsubscribe(conn, name)

    def _check(self, name: str) -> str:
        """Why `name` cannot be subscribed ("" when it can)."""
        if _is_market(name):
            listed = self._listed()
            return "" if parse(name, listed) else f"unknown stream {name!r}"
        if self.src.listen_keys.uid_of(name, self.src.clock()) is None:
            return f"listenKey {name!r} does not exist"
        return ""

    def _subscribe(self, conn: StreamConn, name: str) -> None:
        conn.streams.add(name)
        if not _is_market(name):
            self.users.setdefault(name, set()).add(conn)
            return
        stream = self.parsed.get(name) or parse(name, self._listed())
        assert stream is not None
        self.parsed[name] = stream
        self.market.setdefault(name, set()).add(conn)
        self.feed.subscribed(stream)

    def _unsubscribe(self, conn: StreamConn, name: str) -> None:
        conn.streams.discard(name)
        table = self.market if _is_market(name) else self.users
        subscribers = table.get(name)
        if subscribers is None:
            return
        subscribers.discard(conn)
        if not subscribers:
            del table[name]
            if table is self.market:
                self.parsed.pop(name, None)
                self.feed.forget(name)

    def _on_text(self, conn: StreamConn, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            conn.conn.send({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None})
            return
        if not isinstance(message, dict):
            conn.conn.send({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
            return
        conn.conn.send(self._control(conn, message))

    def _control(self, conn: StreamConn, message: Json) -> Json:
        method, params, req_id = message.get("method"), message.get("params"), message.get("id")
        result: Any = None
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return _error(req_id, "params must be a list of stream names")
            if method == "SUBSCRIBE":
                if errors := [e for name in params if (e := self._check(name))]:
                    return _error(req_id, errors[0])
                for name in params:
                    self._subscribe(conn, name)
            else:
                for name in params:
                    self._unsubscribe(conn, name)
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(conn.streams)
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not isinstance(params, list) or not params or params[0] != "combined":
                return _error(req_id, "unknown property: expected 'combined'")
            if method == "GET_PROPERTY":
                result = conn.combined
            elif len(params) == 2 and isinstance(params[1], bool):
                conn.combined = params[1]
            else:
                return _error(req_id, "SET_PROPERTY combined takes true or false")
        else:
            return _error(
                req_id,
                f"unknown method {method!r}: expected SUBSCRIBE, UNSUBSCRIBE, "
                "LIST_SUBSCRIPTIONS, SET_PROPERTY or GET_PROPERTY",
            )
        return {"result": result, "id": req_id}

    # -- pushes ------------------------------------------------------------------------------

    def _send(self, subscribers: Collection[StreamConn], name: str, data: Json) -> None:
        raw = framed = b""
        for conn in subscribers:
            if conn.combined:
                framed = framed or orjson.dumps({"stream": name, "data": data})
                conn.conn.send(framed)
            else:
                raw = raw or orjson.dumps(data)
                conn.conn.send(raw)

    def dispatch(
        self, changes: Changes, created: Collection[str], amended: Collection[str]
    ) -> None:
        """Push an operation's public prints and its user-data events."""
        now = self.src.clock()
        for trade in changes.trades:
            name = f"{trade.symbol.lower()}@aggTrade"
            if name in self.market:
                self._send(self.market[name], name, MarketFeed.trade(trade, now))
        if not self.users:
            return
        keys = self.src.listen_keys
        for uid in sorted(changes.uids()):
            subscribed = [k for k in keys.keys_of(uid) if k in self.users]
            if not subscribed:
                continue
            ex = self.src.exchange()
            events = ws_user.order_updates(ex, changes, uid, created, amended, self.src.stp_of, now)
            account = ws_user.account_update(ex, changes, uid, self.src.margin_type_of, now)
            for event in [*events, *([account] if account else [])]:
                self._user_event(subscribed, event)

    def _user_event(self, keys: list[str], event: Json) -> None:
        if self.src.faults().take("drop_private_next"):
            return
        for key in keys:
            wanted = [
                c for c in self.users.get(key, ()) if c.events is None or event["e"] in c.events
            ]
            self._send(wanted, key, event)

    def flush(self) -> None:
        """Push every timed market stream that is due and has news."""
        if self.market:
            for name, data in self.feed.updates(list(self.parsed.values())):
                self._send(self.market.get(name, ()), name, data)

    def expired(self, key: str) -> None:
        """Tell a key's subscribers it expired, and end their subscription of it."""
        subscribers = list(self.users.get(key, ()))
        now = self.src.clock()
        self._send(subscribers, key, {"e": "listenKeyExpired", "E": now, "listenKey": key})
        self.forget(key)

    def forget(self, key: str) -> None:
        """End every subscription of a listen key that is gone."""
        for conn in list(self.users.get(key, ())):
            self._unsubscribe(conn, key)

    # -- control -----------------------------------------------------------------------------

    def _is_private(self, conn: StreamConn) -> bool:
        return conn.private or any(not _is_market(name) for name in conn.streams)

    def drop(self, channel: str) -> int:
        """Close the private (user-data), public (market) or all connections; how many."""
        chosen = [
            c
            for c in self.conns
            if channel == "all" or self._is_private(c) == (channel == "private")
        ]
        for conn in chosen:
            conn.conn.close()
        return len(chosen)

    def counts(self) -> dict[str, int]:
        """Open connections: {"private": user-data ones, "public": the others}."""
        private = sum(1 for c in self.conns if self._is_private(c))
        return {"private": private, "public": len(self.conns) - private}

    def reset(self) -> None:
        """After the exchange was rebuilt: track the market streams afresh."""
        self.feed.reset(self.parsed.values())


def _is_market(name: str) -> bool:
    """Whether a stream name names market data (else it is a listen key)."""
    return "@" in name or name.startswith("!")


def _error(req_id: Any, msg: str) -> Json:
    return {"error": {"code": 2, "msg": f"Invalid request: {msg}"}, "id": req_id}
