"""Public market endpoints: server time, instruments, tickers, order book."""

from __future__ import annotations

from libs.common.domain.enums import Category
from services.venue_sim.engine import validate
from services.venue_sim.engine.queries import integer
from services.venue_sim.gate import Call, Reply
from services.venue_sim.market_data import book_levels, instrument_item, levels_json, ticker_item

ORDERBOOK_LIMITS = {Category.LINEAR: (25, 500), Category.SPOT: (1, 200)}
"""category -> (default, max) of the orderbook `limit`."""


def server_time(call: Call) -> Reply:
    """GET /v5/market/time."""
    now = call.state.now()
    return Reply({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})


def instruments(call: Call) -> Reply:
    """GET /v5/market/instruments-info?category=..[&symbol=..]."""
    category = validate.category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol")
    items = [
        instrument_item(spec)
        for spec in call.state.specs
        if spec.category is category and (not symbol or spec.symbol == symbol)
    ]
    return Reply({"category": category.value, "list": items, "nextPageCursor": ""})


def tickers(call: Call) -> Reply:
    """GET /v5/market/tickers?category=..[&symbol=..]."""
    category = validate.category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol")
    ex, now = call.state.exchange, call.state.now()
    if symbol:
        ex.market(category, symbol)
    items = [
        ticker_item(ex, key, now)
        for key in ex.markets
        if key[0] is category and (not symbol or key[1] == symbol)
    ]
    return Reply({"category": category.value, "list": items})


def orderbook(call: Call) -> Reply:
    """GET /v5/market/orderbook?category=..&symbol=..[&limit=..]."""
    category = validate.category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol", required=True)
    ex, now = call.state.exchange, call.state.now()
    ex.market(category, symbol)
    default, maximum = ORDERBOOK_LIMITS[category]
    depth = integer(call.params, "limit", default, 1, maximum)
    bids, asks = book_levels(ex, (category, symbol), depth)
    return Reply(
        {
            "s": symbol,
            "b": levels_json(bids),
            "a": levels_json(asks),
            "ts": now,
            "u": now,
            "seq": now,
            "cts": now,
        }
    )
