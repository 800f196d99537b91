"""Public market endpoints: server time, instruments, tickers, order book.

Every Bybit category is answered: `inverse` and `option` list nothing (empty lists), and
naming a symbol in them is the invalid-symbol error of any unlisted symbol.
"""

from __future__ import annotations

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors, validate
from services.venue_sim.engine.model import MarketState
from services.venue_sim.engine.queries import integer
from services.venue_sim.gate import Call, Reply
from services.venue_sim.market_data import book_levels, instrument_item, levels_json, ticker_item

ORDERBOOK_LIMITS = {Category.LINEAR: (25, 500), Category.SPOT: (1, 200)}
"""category -> (default, max) of the orderbook `limit`."""


def server_time(call: Call) -> Reply:
    """GET /v5/market/time."""
    now = call.state.now()
    return Reply({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})


def listed_market(call: Call, category: Category | None, symbol: str) -> MarketState:
    """The market of `symbol`, or the invalid-symbol error (always, in an unlisted category)."""
    if category is None:
        raise errors.params(f"params error: symbol invalid: {symbol!r} is not listed")
    return call.state.exchange.market(category, symbol)


def instruments(call: Call) -> Reply:
    """GET /v5/market/instruments-info?category=..[&symbol=..][&baseCoin=..]."""
    name, category = validate.any_category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol")
    base = validate.text(call.params, "baseCoin")
    items = [
        instrument_item(spec)
        for spec in call.state.specs
        if spec.category is category
        and (not symbol or spec.symbol == symbol)
        and (not base or spec.rules.base_coin == base)
    ]
    return Reply({"category": name, "list": items, "nextPageCursor": ""})


def tickers(call: Call) -> Reply:
    """GET /v5/market/tickers?category=..[&symbol=..]."""
    name, category = validate.any_category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol")
    ex, now = call.state.exchange, call.state.now()
    if symbol:
        listed_market(call, category, symbol)
    items = [
        ticker_item(ex, key, now)
        for key in ex.markets
        if key[0] is category and (not symbol or key[1] == symbol)
    ]
    return Reply({"category": name, "list": items})


def orderbook(call: Call) -> Reply:
    """GET /v5/market/orderbook?category=..&symbol=..[&limit=..]."""
    _, listed = validate.any_category(call.params.get("category"))
    symbol = validate.text(call.params, "symbol", required=True)
    category = listed_market(call, listed, symbol).spec.category
    ex, now = call.state.exchange, call.state.now()
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
