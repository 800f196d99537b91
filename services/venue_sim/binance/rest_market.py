"""Binance's public market endpoints over the synthetic market (mark = index = the mid).

Klines are the engine's candles of the prints (`engine.candles`) in Binance's intervals
(8h and 3d are not kept: -1120); trade counts and taker volumes are not tracked ("0").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.binance import errors, params, rules
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.binance.gate import Call
from services.venue_sim.binance.order_params import TIFS
from services.venue_sim.binance.params import Params
from services.venue_sim.binance.ws_market import FUNDING_RATE
from services.venue_sim.engine.candles import bucket_end
from services.venue_sim.engine.model import MarketState
from services.venue_sim.market_data import FUNDING_INTERVAL_MS, book_levels, levels_json
from services.venue_sim.wire import fmt, num

Json = dict[str, Any]
DEPTH_LIMITS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
"""Allowed `limit` of `/fapi/v1/depth` -> its weight."""
INTERVALS = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
    "4h": "240", "6h": "360", "12h": "720", "1d": "D", "1w": "W", "1M": "M",
}  # fmt: skip
"""Binance's kline intervals -> the engine's."""
KLINE_LIMIT_DEFAULT, KLINE_LIMIT_MAX = 500, 1500


def depth_weight(p: Params) -> int:
    """`/fapi/v1/depth`'s weight: by its `limit`."""
    return DEPTH_LIMITS.get(params.integer(p, "limit", 500, 0, 10**6), 20)


def kline_weight(p: Params) -> int:
    """`/fapi/v1/klines`' weight: by its `limit`."""
    limit = params.integer(p, "limit", KLINE_LIMIT_DEFAULT, 0, 10**6)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def per_symbol(one: int, every: int) -> Callable[[Params], int]:
    """A weight of `one` with a symbol, `every` without."""
    return lambda p: one if p.get("symbol") else every


def ping(call: Call) -> Json:
    """GET /fapi/v1/ping."""
    return {}


def server_time(call: Call) -> Json:
    """GET /fapi/v1/time."""
    return {"serverTime": call.now}


def _symbol_info(call: Call, market: MarketState) -> Json:
    spec = market.spec
    rules_ = spec.rules
    return {
        "symbol": spec.symbol, "pair": spec.symbol, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": rules_.base_coin, "quoteAsset": rules_.quote_coin,
        "marginAsset": rules_.quote_coin, "pricePrecision": rules.price_precision(spec),
        "quantityPrecision": rules.quantity_precision(spec), "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": rules.filters_json(spec, call.state.exchange.max_active_orders),
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": list(TIFS),
    }  # fmt: skip


def exchange_info(call: Call) -> Json:
    """GET /fapi/v1/exchangeInfo: the listed contracts, their filters, the rate limits."""
    limits = call.state.limits
    rate_limits = [
        ("REQUEST_WEIGHT", "MINUTE", 1, limits.weight_per_minute),
        ("ORDERS", "MINUTE", 1, limits.orders_per_minute),
        ("ORDERS", "SECOND", 10, limits.orders_per_10s),
    ]
    markets = [m for (c, _), m in call.state.exchange.markets.items() if c is Category.LINEAR]
    return {
        "timezone": "UTC",
        "serverTime": call.now,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": kind, "interval": unit, "intervalNum": n, "limit": limit}
            for kind, unit, n, limit in rate_limits
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [_symbol_info(call, m) for m in markets],
    }


def depth(call: Call) -> Json:
    """GET /fapi/v1/depth?symbol&limit: `lastUpdateId` is the book's update id, which the
    `@depth` streams' `u` continue."""
    market = params.market(call.state.exchange, call.params)
    limit = params.integer(call.params, "limit", 500, 0, 10**6)
    if limit not in DEPTH_LIMITS:
        raise errors.invalid("limit", f"Expected one of {', '.join(map(str, DEPTH_LIMITS))}.")
    bids, asks = book_levels(call.state.exchange, (Category.LINEAR, market.spec.symbol), limit)
    return {
        "lastUpdateId": call.state.version(market.spec.symbol),
        "E": call.now,
        "T": call.now,
        "bids": levels_json(bids),
        "asks": levels_json(asks),
    }


def klines(call: Call) -> list[list[Any]]:
    """GET /fapi/v1/klines: `[openTime, o, h, l, c, volume, closeTime, quoteVolume, trades,
    takerBuyBase, takerBuyQuote, "0"]`, oldest first."""
    p = call.params
    market = params.market(call.state.exchange, p)
    interval = params.text(p, "interval", required=True)
    if interval not in INTERVALS:
        raise BinanceError(
            errors.INVALID_INTERVAL, f"Invalid interval {interval!r}: the simulator keeps "
            f"{', '.join(INTERVALS)}."
        )  # fmt: skip
    start = params.integer(p, "startTime", -1)
    end = params.integer(p, "endTime", -1)
    candles = market.candles.query(
        INTERVALS[interval],
        start=start if start >= 0 else None,
        end=end if end >= 0 else None,
        limit=params.integer(p, "limit", KLINE_LIMIT_DEFAULT, 1, KLINE_LIMIT_MAX),
        now=call.now,
        fallback=market.last_price,
    )
    engine_interval = INTERVALS[interval]
    return [
        [
            c.start, fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close), fmt(c.volume),
            bucket_end(engine_interval, c.start), num(c.turnover), 0, "0", "0", "0",
        ]
        for c in reversed(candles)
    ]  # fmt: skip


def _markets(call: Call) -> list[MarketState]:
    """The named symbol's market, or every listed one."""
    if call.params.get("symbol"):
        return [params.market(call.state.exchange, call.params)]
    return [m for (c, _), m in call.state.exchange.markets.items() if c is Category.LINEAR]


def _one_or_all(call: Call, items: list[Json]) -> Json | list[Json]:
    return items[0] if call.params.get("symbol") else items


def ticker_price(call: Call) -> Json | list[Json]:
    """GET /fapi/v1/ticker/price and /fapi/v2/ticker/price: the last price."""
    items = [
        {"symbol": m.spec.symbol, "price": fmt(m.last_price), "time": call.now}
        for m in _markets(call)
    ]
    return _one_or_all(call, items)


def book_ticker(call: Call) -> Json | list[Json]:
    """GET /fapi/v1/ticker/bookTicker: the best bid and ask with their sizes."""
    items = []
    for m in _markets(call):
        key = (Category.LINEAR, m.spec.symbol)
        bids, asks = book_levels(call.state.exchange, key, 1)
        items.append(
            {
                "symbol": m.spec.symbol, "bidPrice": fmt(bids[0][0]), "bidQty": fmt(bids[0][1]),
                "askPrice": fmt(asks[0][0]), "askQty": fmt(asks[0][1]), "time": call.now,
                "lastUpdateId": call.state.version(m.spec.symbol),
            }
        )  # fmt: skip
    return _one_or_all(call, items)


def premium_index(call: Call) -> Json | list[Json]:
    """GET /fapi/v1/premiumIndex: mark, index and estimated settle price (all the mid)."""
    funding = (call.now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    items = [
        {
            "symbol": m.spec.symbol, "markPrice": fmt(m.mid), "indexPrice": fmt(m.mid),
            "estimatedSettlePrice": fmt(m.mid), "lastFundingRate": FUNDING_RATE,
            "interestRate": "0.00010000", "nextFundingTime": funding, "time": call.now,
        }
        for m in _markets(call)
    ]  # fmt: skip
    return _one_or_all(call, items)


def ticker_24hr(call: Call) -> Json | list[Json]:
    """GET /fapi/v1/ticker/24hr: statistics since the start (or the last reset)."""
    items = []
    for m in _markets(call):
        change = m.last_price - m.open_price
        items.append(
            {
                "symbol": m.spec.symbol, "priceChange": fmt(change),
                "priceChangePercent": num(change / m.open_price * 100),
                "weightedAvgPrice": num(m.turnover / m.volume) if m.volume else fmt(m.last_price),
                "lastPrice": fmt(m.last_price), "lastQty": fmt(m.tape[-1].qty) if m.tape else "0",
                "openPrice": fmt(m.open_price), "highPrice": fmt(m.high), "lowPrice": fmt(m.low),
                "volume": fmt(m.volume), "quoteVolume": num(m.turnover),
                "openTime": call.now - 86_400_000, "closeTime": call.now,
                "firstId": m.tape[0].seq if m.tape else 0, "lastId": m.trade_seq,
                "count": len(m.tape),
            }
        )  # fmt: skip
    return _one_or_all(call, items)


def recent_trades(call: Call) -> list[Json]:
    """GET /fapi/v1/trades: the latest public prints, oldest first."""
    market = params.market(call.state.exchange, call.params)
    limit = params.integer(call.params, "limit", 500, 1, 1000)
    tape = list(market.tape)[-limit:]
    return [
        {
            "id": t.seq, "price": fmt(t.price), "qty": fmt(t.qty), "quoteQty": num(t.price * t.qty),
            "time": t.time, "isBuyerMaker": t.side.value == "Sell",
        }
        for t in tape
    ]  # fmt: skip
