"""`/v5/public/linear` and `/v5/public/spot`: tickers, order book and public trades.

Order books and tickers are published on a timer (every `public_interval_ms`) for the
instruments that changed: a snapshot on subscribe, then deltas (size "0" deletes a level;
`orderbook.1` is always a snapshot). Public trades are pushed as they print.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from libs.common.domain.enums import Category
from services.venue_sim.engine import Changes, Exchange
from services.venue_sim.engine.depth import Level
from services.venue_sim.engine.model import BookKey, PublicTrade
from services.venue_sim.market_data import book_levels, ticker_item
from services.venue_sim.wire import Json, fmt
from services.venue_sim.ws_common import Callbacks, WsConn

DEPTHS = (1, 50, 200, 1000)
Side = dict[str, str]
"""price -> size of one side of a published book."""
Topic = tuple[Category, str]


def _as_map(levels: list[Level]) -> Side:
    return {fmt(price): fmt(size) for price, size in levels}


def _as_list(side: Side) -> list[list[str]]:
    return [[price, size] for price, size in side.items()]


def _diff(old: Side, new: Side, *, descending: bool) -> list[list[str]]:
    changed = [(p, s) for p, s in new.items() if old.get(p) != s]
    changed += [(p, "0") for p in old if p not in new]
    changed.sort(key=lambda level: float(level[0]), reverse=descending)
    return [[p, s] for p, s in changed]


def trade_item(trade: PublicTrade, seq: int) -> Json:
    return {
        "T": trade.time,
        "s": trade.symbol,
        "S": trade.side.value,
        "v": fmt(trade.qty),
        "p": fmt(trade.price),
        "L": trade.tick_direction,
        "i": trade.trade_id,
        "BT": False,
        "RPI": False,
        "seq": seq,
    }


class PublicHub:
    """Public connections per category, their topics, and what was last published."""

    def __init__(self, exchange: Callable[[], Exchange], clock: Callable[[], int]) -> None:
        self.exchange = exchange
        self.clock = clock
        self.conns: dict[WsConn, Category] = {}
        self.subs: dict[Topic, set[WsConn]] = {}
        self.dirty: set[BookKey] = set()
        self._books: dict[tuple[BookKey, int], tuple[Side, Side, int]] = {}
        self._tickers: dict[BookKey, Json] = {}
        self.seq = 0

    # -- connection lifecycle ----------------------------------------------------------------

    def endpoint(self, category: Category) -> Callbacks:
        """(on_open, on_message, on_close) for the stream of `category`."""

        def on_open(conn: WsConn) -> None:
            self.conns[conn] = category

        def on_close(conn: WsConn) -> None:
            self.conns.pop(conn, None)
            for topic in list(self.subs):
                self._drop(topic, conn)

        def on_message(conn: WsConn, message: Any) -> None:
            self._on_message(conn, category, message)

        return on_open, on_message, on_close

    def _on_message(self, conn: WsConn, category: Category, message: Any) -> None:
        op = message.get("op") if isinstance(message, dict) else None
        req_id = message.get("req_id", "") if isinstance(message, dict) else ""
        reply: Json = {"success": True, "ret_msg": "", "conn_id": conn.conn_id, "req_id": req_id}
        if op == "ping":
            conn.send({**reply, "ret_msg": "pong", "op": "ping"})
            return
        if op not in ("subscribe", "unsubscribe"):
            conn.send({**reply, "success": False, "ret_msg": f"Invalid op: {op!r}", "op": op})
            return
        args = message.get("args")
        topics = args if isinstance(args, list) and args else [None]
        bad = [t for t in topics if not isinstance(t, str) or self._parse(category, t) is None]
        if bad:
            error = f"error:handler not found,topic:{bad[0]}"
            conn.send({**reply, "success": False, "ret_msg": error, "op": op}, ack=True)
            return
        conn.send({**reply, "ret_msg": op, "op": op}, ack=True)
        for topic in topics:
            assert isinstance(topic, str)
            if op == "unsubscribe":
                self._drop((category, topic), conn)
            else:
                self._subscribe(conn, category, topic)

    def _parse(self, category: Category, topic: str) -> tuple[str, int, str] | None:
        """(kind, depth, symbol) of a valid topic, else None."""
        parts = topic.split(".")
        ex = self.exchange()
        if len(parts) == 2 and parts[0] in ("tickers", "publicTrade"):
            kind, depth, symbol = parts[0], 0, parts[1]
        elif len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
            kind, depth, symbol = "orderbook", int(parts[1]), parts[2]
            if depth not in DEPTHS:
                return None
        else:
            return None
        return (kind, depth, symbol) if (category, symbol) in ex.markets else None

    def _subscribe(self, conn: WsConn, category: Category, topic: str) -> None:
        parsed = self._parse(category, topic)
        assert parsed is not None
        kind, depth, symbol = parsed
        key = (category, symbol)
        if kind == "orderbook":
            bids, asks, update_id = self._refresh_book(key, depth)
            snapshot = self._book_message(
                key, depth, "snapshot", _as_list(bids), _as_list(asks), update_id
            )
            conn.send(snapshot)
        elif kind == "tickers":
            self._refresh_ticker(key)
            conn.send(self._ticker_message(key, "snapshot", self._tickers[key]))
        self.subs.setdefault((category, topic), set()).add(conn)

    def _drop(self, topic: Topic, conn: WsConn) -> None:
        subscribers = self.subs.get(topic)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.subs[topic]

    def drop_all(self) -> int:
        """Close every public connection (server side); returns how many."""
        conns = list(self.conns)
        for conn in conns:
            conn.close()
        return len(conns)

    def reset(self) -> None:
        """After the exchange was rebuilt: republish every instrument on the next flush."""
        self.dirty = set(self.exchange().markets)

    # -- publishing --------------------------------------------------------------------------

    def dispatch(self, changes: Changes) -> None:
        """Note changed books; push public trades now."""
        if not self.subs:
            return
        self.dirty |= changes.books
        by_symbol: dict[Topic, list[Json]] = {}
        for trade in changes.trades:
            topic = (trade.category, f"publicTrade.{trade.symbol}")
            if topic in self.subs:
                self.seq += 1
                by_symbol.setdefault(topic, []).append(trade_item(trade, self.seq))
        now = self.clock()
        for topic, items in by_symbol.items():
            self._send(topic, {"topic": topic[1], "type": "snapshot", "ts": now, "data": items})

    def flush(self) -> None:
        """Publish book and ticker changes of the instruments touched since the last flush."""
        dirty, self.dirty = self.dirty, set()
        if not self.subs:
            return
        for key in dirty:
            for depth in DEPTHS:
                if (key[0], f"orderbook.{depth}.{key[1]}") in self.subs:
                    self._refresh_book(key, depth)
            if (key[0], f"tickers.{key[1]}") in self.subs:
                self._refresh_ticker(key)

    def _refresh_book(self, key: BookKey, depth: int) -> tuple[Side, Side, int]:
        """Recompute a book, publish the difference to its subscribers, return the new state."""
        bids_levels, asks_levels = book_levels(self.exchange(), key, depth)
        bids, asks = _as_map(bids_levels), _as_map(asks_levels)
        old = self._books.get((key, depth))
        if old is not None and old[0] == bids and old[1] == asks:
            return old
        update_id = (old[2] if old else 0) + 1
        self._books[(key, depth)] = (bids, asks, update_id)
        topic = (key[0], f"orderbook.{depth}.{key[1]}")
        if topic in self.subs:
            if depth == 1 or old is None:
                message = self._book_message(
                    key, depth, "snapshot", _as_list(bids), _as_list(asks), update_id
                )
            else:
                delta_bids = _diff(old[0], bids, descending=True)
                delta_asks = _diff(old[1], asks, descending=False)
                message = self._book_message(key, depth, "delta", delta_bids, delta_asks, update_id)
            self._send(topic, message)
        return bids, asks, update_id

    def _book_message(
        self,
        key: BookKey,
        depth: int,
        kind: str,
        bids: list[list[str]],
        asks: list[list[str]],
        update_id: int,
    ) -> Json:
        self.seq += 1
        now = self.clock()
        data = {"s": key[1], "b": bids, "a": asks, "u": update_id, "seq": self.seq}
        topic = f"orderbook.{depth}.{key[1]}"
        return {"topic": topic, "type": kind, "ts": now, "data": data, "cts": now}

    def _refresh_ticker(self, key: BookKey) -> None:
        item = ticker_item(self.exchange(), key, self.clock())
        old = self._tickers.get(key)
        if old == item:
            return
        self._tickers[key] = item
        topic = (key[0], f"tickers.{key[1]}")
        if old is not None and topic in self.subs:
            if key[0] is Category.SPOT:
                self._send(topic, self._ticker_message(key, "snapshot", item))
            else:
                delta = {k: v for k, v in item.items() if old.get(k) != v}
                delta["symbol"] = key[1]
                self._send(topic, self._ticker_message(key, "delta", delta))

    def _ticker_message(self, key: BookKey, kind: str, data: Json) -> Json:
        self.seq += 1
        return {
            "topic": f"tickers.{key[1]}",
            "type": kind,
            "data": data,
            "cs": self.seq,
            "ts": self.clock(),
        }

    def _send(self, topic: Topic, message: Json) -> None:
        encoded = orjson.dumps(message)
        for conn in self.subs.get(topic, ()):
            conn.send(encoded)
