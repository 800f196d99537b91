"""Public market history: klines (of trades, mark and index price) and recent public trades,
from what each market printed since the simulator started (see `engine.candles`).

The simulator's mark and index prices are both the mid, so the mark and index klines are
the same series.
"""

from __future__ import annotations

from itertools import islice

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors, validate
from services.venue_sim.engine.candles import INTERVALS, Candle
from services.venue_sim.engine.queries import integer
from services.venue_sim.gate import Call, Reply
from services.venue_sim.rest_market import listed_market
from services.venue_sim.wire import fmt, num

KLINE_LIMIT_DEFAULT, KLINE_LIMIT_MAX = 200, 1000
RECENT_TRADE_LIMITS = {Category.SPOT: (60, 60), Category.LINEAR: (500, 1000)}
"""category -> (default, max) of recent-trade's `limit`."""
LATEST = 2**63 - 1


def _optional_ms(call: Call, name: str) -> int | None:
    value = call.params.get(name)
    return None if value in (None, "") else integer(call.params, name, 0, 0, LATEST)


def _candles(call: Call, *, mark: bool) -> tuple[str, str, list[Candle]]:
    """(category, symbol, candles newest first) of a kline request."""
    name, category = validate.any_category(call.params.get("category") or "linear")
    symbol = validate.text(call.params, "symbol", required=True)
    interval = validate.text(call.params, "interval", required=True)
    if interval not in INTERVALS:
        raise errors.params(
            f"params error: interval {interval!r} is invalid, expected one of "
            f"{', '.join(INTERVALS)}"
        )
    if mark and category is Category.SPOT:
        raise errors.params("params error: category spot has no mark or index price")
    market = listed_market(call, category, symbol)
    series = market.marks if mark else market.candles
    candles = series.query(
        interval,
        start=_optional_ms(call, "start"),
        end=_optional_ms(call, "end"),
        limit=integer(call.params, "limit", KLINE_LIMIT_DEFAULT, 1, KLINE_LIMIT_MAX),
        now=call.state.now(),
        fallback=market.mid if mark else market.last_price,
    )
    return name, symbol, candles


def kline(call: Call) -> Reply:
    """GET /v5/market/kline: `[startTime, open, high, low, close, volume, turnover]` rows."""
    name, symbol, candles = _candles(call, mark=False)
    rows = [
        [
            str(c.start),
            fmt(c.open),
            fmt(c.high),
            fmt(c.low),
            fmt(c.close),
            fmt(c.volume),
            num(c.turnover),
        ]
        for c in candles
    ]
    return Reply({"category": name, "symbol": symbol, "list": rows})


def price_kline(call: Call) -> Reply:
    """GET /v5/market/mark-price-kline and /v5/market/index-price-kline:
    `[startTime, open, high, low, close]` rows of the mid."""
    name, symbol, candles = _candles(call, mark=True)
    rows = [[str(c.start), fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close)] for c in candles]
    return Reply({"category": name, "symbol": symbol, "list": rows})


def recent_trades(call: Call) -> Reply:
    """GET /v5/market/recent-trade?category=..&symbol=..[&limit=..]: newest first."""
    name, category = validate.any_category(call.params.get("category"))
    if name == "option" and not call.params.get("symbol"):  # option's symbol is optional
        return Reply({"category": name, "list": []})
    symbol = validate.text(call.params, "symbol", required=True)
    market = listed_market(call, category, symbol)
    default, maximum = RECENT_TRADE_LIMITS[market.spec.category]
    limit = integer(call.params, "limit", default, 1, maximum)
    newest_first = islice(reversed(market.tape), limit)  # no copy of the whole tape
    items = [
        {
            "execId": t.trade_id,
            "symbol": t.symbol,
            "price": fmt(t.price),
            "size": fmt(t.qty),
            "side": t.side.value,
            "time": str(t.time),
            "isBlockTrade": False,
            "isRPITrade": False,
            "seq": str(t.seq),
        }
        for t in newest_first
    ]
    return Reply({"category": name, "list": items})
