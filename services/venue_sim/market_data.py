"""Public market data in Bybit's shapes: instruments, tickers and order book levels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.catalog import CATALOG, InstrumentSpec
from services.venue_sim.engine.depth import Level, side_levels
from services.venue_sim.engine.model import BookKey
from services.venue_sim.engine.position_settings import LEVERAGE_STEP, MAX_LEVERAGE, MIN_LEVERAGE
from services.venue_sim.wire import fmt, num

Json = dict[str, Any]
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
FUNDING_CAP = "0.00375"
"""|funding rate| cap: the instruments' upper/lowerFundingRate, the tickers' fundingCap."""


def _symbol_id(spec: InstrumentSpec) -> int:
    """A stable id per (category, symbol): its place in the catalogue."""
    return list(CATALOG).index((spec.category, spec.symbol)) + 1


def instrument_item(spec: InstrumentSpec) -> Json:
    """One entry of `/v5/market/instruments-info`."""
    rules = spec.rules
    if spec.category is Category.SPOT:
        return {
            "symbolId": _symbol_id(spec),
            "symbol": rules.symbol,
            "baseCoin": rules.base_coin,
            "quoteCoin": rules.quote_coin,
            "innovation": "0",
            "status": rules.status,
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": fmt(rules.qty_step),
                "quotePrecision": "0.00000001",
                "minOrderQty": fmt(rules.min_qty),
                "maxOrderQty": fmt(rules.max_qty),
                "minOrderAmt": fmt(rules.min_notional),
                "maxOrderAmt": "2000000",
                "maxLimitOrderQty": fmt(rules.max_qty),
                "maxMarketOrderQty": fmt(rules.max_mkt_qty),
                "postOnlyMaxLimitOrderSize": fmt(rules.max_qty * 5),
            },
            "priceFilter": {"tickSize": fmt(rules.tick_size)},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
            "symbolType": "",
            "xstockMultiplier": "1",
        }
    return {
        "symbol": rules.symbol,
        "symbolId": _symbol_id(spec),
        "contractType": "LinearPerpetual",
        "status": rules.status,
        "baseCoin": rules.base_coin,
        "quoteCoin": rules.quote_coin,
        "settleCoin": rules.quote_coin,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(len(fmt(rules.tick_size).partition(".")[2])),
        "leverageFilter": {
            "minLeverage": fmt(MIN_LEVERAGE),
            "maxLeverage": f"{MAX_LEVERAGE:.2f}",
            "leverageStep": fmt(LEVERAGE_STEP),
        },
        "priceFilter": {
            "minPrice": fmt(rules.min_price),
            "maxPrice": fmt(rules.max_price),
            "tickSize": fmt(rules.tick_size),
        },
        "lotSizeFilter": {
            "maxOrderQty": fmt(rules.max_qty),
            "minOrderQty": fmt(rules.min_qty),
            "qtyStep": fmt(rules.qty_step),
            "postOnlyMaxOrderQty": fmt(rules.max_qty),
            "maxMktOrderQty": fmt(rules.max_mkt_qty),
            "minNotionalValue": fmt(rules.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "copyTrading": "both",
        "upperFundingRate": FUNDING_CAP,
        "lowerFundingRate": f"-{FUNDING_CAP}",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
        "forbidUplWithdrawal": False,
        "symbolType": "",
    }


def book_levels(ex: Exchange, key: BookKey, depth: int) -> tuple[list[Level], list[Level]]:
    """(bids best first, asks best first) of the public book, `depth` levels each."""
    market, book = ex.markets[key], ex.books[key]
    return (
        side_levels(market, book.bids, depth, bids=True),
        side_levels(market, book.asks, depth, bids=False),
    )


def levels_json(levels: list[Level]) -> list[list[str]]:
    return [[fmt(price), fmt(size)] for price, size in levels]


def ticker_item(ex: Exchange, key: BookKey, now: int) -> Json:
    """One entry of `/v5/market/tickers` (also the `tickers.{symbol}` topic's data)."""
    market = ex.markets[key]
    bids, asks = book_levels(ex, key, 1)
    change = (market.last_price - market.open_price) / market.open_price
    item: Json = {
        "symbol": key[1],
        "lastPrice": fmt(market.last_price),
        "prevPrice24h": fmt(market.open_price),
        "price24hPcnt": num(change.quantize(Decimal("0.000001"))),
        "highPrice24h": fmt(market.high),
        "lowPrice24h": fmt(market.low),
        "turnover24h": num(market.turnover),
        "volume24h": fmt(market.volume),
        "bid1Price": fmt(bids[0][0]),
        "bid1Size": fmt(bids[0][1]),
        "ask1Price": fmt(asks[0][0]),
        "ask1Size": fmt(asks[0][1]),
    }
    if key[0] is Category.SPOT:
        item["usdIndexPrice"] = fmt(market.mid)
        return item
    item.update(
        {
            "tickDirection": "ZeroPlusTick",
            "indexPrice": fmt(market.mid),
            "markPrice": fmt(market.mid),
            "prevPrice1h": fmt(market.open_price),
            "openInterest": "0",
            "openInterestValue": "0",
            "singleOpenInterest": "0",
            "singleOpenInterestValue": "0",
            "fundingRate": "0.0001",
            "fundingIntervalHour": str(FUNDING_INTERVAL_MS // 3_600_000),
            "fundingCap": FUNDING_CAP,
            "nextFundingTime": str((now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "basis": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "basisRateYear": "",
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
        }
    )
    return item
