"""Binance USDⓈ-M market data and fee rates: tickers, the book's top levels, commissions.

The same calls as the Bybit adapter's (`tickers`, `order_book`, `fee_rates`), as functions
of the transport; `BinanceQueries` exposes them as methods.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from libs.common.venue.binance import wire
from libs.common.venue.binance.answer import Answer
from libs.common.venue.binance.errors import rejection
from libs.common.venue.binance.parse import parse_ticker
from libs.common.venue.binance.rest import BinanceRest
from libs.common.venue.models import FeeRates, OrderBook, Ticker
from libs.common.venue.wire import dec

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
"""The `limit`s `/fapi/v1/depth` accepts."""


def ok(answer: Answer, context: str) -> Answer:
    """`answer` if the venue accepted the request; else its code raised as a `VenueError`."""
    if not answer.ok:
        raise rejection(answer.code, answer.msg, context=context)
    return answer


def _listed(answer: Answer) -> list[dict[str, Any]]:
    """An answer that is one object for one symbol, a list for all."""
    return [answer.obj] if answer.obj else [d for d in answer.rows if isinstance(d, dict)]


async def tickers(rest: BinanceRest, symbol: str | None) -> list[Ticker]:
    """Best bid / ask (`bookTicker`) with the mark (`premiumIndex`) of one symbol or all."""
    params = {"symbol": symbol}
    book, premium = await asyncio.gather(
        rest.get(wire.BOOK_TICKER, params, security="none"),
        rest.get(wire.PREMIUM_INDEX, params, security="none"),
    )
    books = _listed(ok(book, wire.BOOK_TICKER))
    marks = {d["symbol"]: d for d in _listed(ok(premium, wire.PREMIUM_INDEX))}
    return [parse_ticker(d, marks.get(d["symbol"])) for d in books]


def _levels(rows: Any, depth: int) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((dec(price), dec(qty)) for price, qty, *_ in (rows or [])[:depth])


async def order_book(rest: BinanceRest, symbol: str, depth: int) -> OrderBook:
    """The top `depth` levels of each side (`/fapi/v1/depth`, asked for the smallest
    accepted `limit` that covers `depth`)."""
    if depth < 1:
        raise ValueError(f"order book depth {depth} is invalid: expected at least 1")
    limit = next((n for n in DEPTH_LIMITS if n >= depth), DEPTH_LIMITS[-1])
    params = {"symbol": symbol, "limit": limit}
    book = ok(await rest.get(wire.DEPTH, params, security="none"), wire.DEPTH).obj
    return OrderBook(
        symbol=symbol,
        bids=_levels(book.get("bids"), depth),
        asks=_levels(book.get("asks"), depth),
        ts_ms=int(book.get("T") or book.get("E") or rest.clock.now_ms()),
    )


async def fee_rates(rest: BinanceRest, symbol: str) -> FeeRates:
    """The account's maker and taker rates on `symbol` (`/fapi/v1/commissionRate`)."""
    answer = ok(await rest.get(wire.COMMISSION_RATE, {"symbol": symbol}), wire.COMMISSION_RATE)
    data = answer.obj
    return FeeRates(
        symbol=symbol,
        maker=dec(data.get("makerCommissionRate")),
        taker=dec(data.get("takerCommissionRate")),
    )
