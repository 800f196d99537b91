"""Binance's market streams of the synthetic market: what each stream pushes, and when.

Stream names (lower-case symbol): `<s>@bookTicker` (on change), `<s>@markPrice` (every 3 s;
`@markPrice@1s` every second), `<s>@depth5|10|20` partial book (on change, at most every
250 ms; `@100ms` / `@500ms` suffixes), `<s>@depth` diff book (same cadence, `U`/`u`/`pu`
chained to `GET /fapi/v1/depth`'s `lastUpdateId`) and `<s>@aggTrade` (each print). A
partial book, book ticker or diff stream sends its first message on the first flush after
it is subscribed (the first diff: the first change after that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from libs.common.domain.enums import Category, Side
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.model import PublicTrade
from services.venue_sim.market_data import FUNDING_INTERVAL_MS, book_levels, levels_json
from services.venue_sim.wire import fmt

Json = dict[str, Any]
Levels = list[list[str]]
DIFF_DEPTH = 1000
"""Levels a diff stream tracks (as many as `GET /fapi/v1/depth` serves)."""
FUNDING_RATE = "0.00010000"
_NAME = re.compile(
    r"(?P<symbol>[a-zA-Z0-9]+)@(?:(?P<ticker>bookTicker)|(?P<trade>aggTrade)"
    r"|(?P<mark>markPrice)(?:@(?P<mark_speed>1s|3s))?"
    r"|depth(?P<depth>5|10|20)?(?:@(?P<speed>100ms|250ms|500ms))?)"
)
_SPEEDS = {None: 250, "100ms": 100, "250ms": 250, "500ms": 500}


@dataclass(frozen=True, slots=True)
class StreamName:
    """A parsed market stream name."""

    name: str
    kind: str
    """bookTicker, markPrice, depth (partial), diff or aggTrade."""
    symbol: str
    depth: int = 0
    interval_ms: int = 0


def parse(name: str, listed: Collection[str]) -> StreamName | None:
    """The market stream `name` names, or None when it is no stream of a listed symbol."""
    match = _NAME.fullmatch(name)
    if match is None or match["symbol"].upper() not in listed:
        return None
    symbol = match["symbol"].upper()
    if match["ticker"]:
        return StreamName(name, "bookTicker", symbol)
    if match["trade"]:
        return StreamName(name, "aggTrade", symbol)
    if match["mark"]:
        return StreamName(
            name, "markPrice", symbol, 0, 1000 if match["mark_speed"] == "1s" else 3000
        )
    interval = _SPEEDS[match["speed"]]
    if match["depth"]:
        return StreamName(name, "depth", symbol, int(match["depth"]), interval)
    return StreamName(name, "diff", symbol, DIFF_DEPTH, interval)


def _diff(old: Levels, new: Levels) -> Levels:
    before = {level[0]: level[1] for level in old}
    after = {level[0]: level[1] for level in new}
    changed = [[p, q] for p, q in after.items() if before.get(p) != q]
    return changed + [[p, "0"] for p in before if p not in after]


class MarketFeed:
    """The state of every subscribed market stream: when it is due, what it last sent."""

    def __init__(
        self,
        exchange: Callable[[], Exchange],
        clock: Callable[[], int],
        version: Callable[[str], int],
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.version = version
        """Symbol -> its book's update id (bumped by every change of the book)."""
        self._due: dict[str, int] = {}
        self._last: dict[str, Any] = {}
        self._last_u: dict[str, int] = {}

    def subscribed(self, stream: StreamName) -> None:
        """Start tracking a stream that got its first subscriber."""
        if stream.name in self._due:
            return
        self._due[stream.name] = 0
        if stream.kind == "diff":
            self._last[stream.name] = self._book(stream)
            self._last_u[stream.name] = self.version(stream.symbol)

    def forget(self, name: str) -> None:
        """Stop tracking a stream nobody subscribes any more."""
        self._due.pop(name, None)
        self._last.pop(name, None)
        self._last_u.pop(name, None)

    def reset(self, streams: Iterable[StreamName]) -> None:
        """After the exchange was rebuilt: track the streams afresh."""
        self._due.clear()
        self._last.clear()
        self._last_u.clear()
        for stream in streams:
            self.subscribed(stream)

    def _book(self, stream: StreamName) -> tuple[Levels, Levels]:
        bids, asks = book_levels(self.exchange(), (Category.LINEAR, stream.symbol), stream.depth)
        return levels_json(bids), levels_json(asks)

    def updates(self, streams: Iterable[StreamName]) -> list[tuple[str, Json]]:
        """(stream name, data) of every timed stream that is due and has news."""
        now = self.clock()
        out: list[tuple[str, Json]] = []
        for stream in streams:
            if stream.kind == "aggTrade" or now < self._due.get(stream.name, 0):
                continue
            self._due[stream.name] = now + stream.interval_ms
            data = self._update(stream, now)
            if data is not None:
                out.append((stream.name, data))
        return out

    def _update(self, stream: StreamName, now: int) -> Json | None:
        symbol, u = stream.symbol, self.version(stream.symbol)
        if stream.kind == "markPrice":
            mid = fmt(self.exchange().mark(symbol))
            funding = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
            return {
                "e": "markPriceUpdate", "E": now, "s": symbol, "p": mid, "i": mid, "P": mid,
                "r": FUNDING_RATE, "T": funding,
            }  # fmt: skip
        if stream.kind == "bookTicker":
            bids, asks = book_levels(self.exchange(), (Category.LINEAR, symbol), 1)
            top = (fmt(bids[0][0]), fmt(bids[0][1]), fmt(asks[0][0]), fmt(asks[0][1]))
            if self._last.get(stream.name) == top:
                return None
            self._last[stream.name] = top
            b, bq, a, aq = top
            return {
                "e": "bookTicker", "u": u, "s": symbol, "b": b, "B": bq, "a": a, "A": aq,
                "T": now, "E": now,
            }  # fmt: skip
        book = self._book(stream)
        previous_u = self._last_u.get(stream.name, 0)
        if stream.kind == "depth":
            if self._last.get(stream.name) == book:
                return None
            sent_bids, sent_asks = book
        else:
            old_bids, old_asks = self._last[stream.name]
            sent_bids, sent_asks = _diff(old_bids, book[0]), _diff(old_asks, book[1])
            if not sent_bids and not sent_asks:
                return None
        self._last[stream.name] = book
        self._last_u[stream.name] = u
        first = u if stream.kind == "depth" else previous_u + 1
        return {
            "e": "depthUpdate", "E": now, "T": now, "s": symbol, "U": first, "u": u,
            "pu": previous_u, "b": sent_bids, "a": sent_asks,
        }  # fmt: skip

    @staticmethod
    def trade(trade: PublicTrade, now: int) -> Json:
        """An `aggTrade` message of one public print (each print its own aggregate)."""
        return {
            "e": "aggTrade", "E": now, "s": trade.symbol, "a": trade.seq, "p": fmt(trade.price),
            "q": fmt(trade.qty), "f": trade.seq, "l": trade.seq, "T": trade.time,
            "m": trade.side is Side.SELL,
        }  # fmt: skip
