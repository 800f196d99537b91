"""Binance's symbol filters over the shared instrument catalogue: how `exchangeInfo` shows
them and how an order is checked against them, with Binance's codes and messages.

PRICE_FILTER / LOT_SIZE / MARKET_LOT_SIZE come from the catalogue's tick, step and limits
(precision = the tick's / step's decimals), MIN_NOTIONAL from its minimum order value,
MAX_NUM_ORDERS from the open-order cap, and PERCENT_PRICE is Binance's usual 5 % band
around the mark price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Side
from libs.common.domain.instruments import round_to_step
from services.venue_sim.binance import errors
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.engine.catalog import InstrumentSpec
from services.venue_sim.wire import fmt

MULTIPLIER_UP = Decimal("1.0500")
MULTIPLIER_DOWN = Decimal("0.9500")
MULTIPLIER_DECIMAL = 4
Json = dict[str, Any]


def places(value: Decimal) -> int:
    """Decimal places of a number, trailing zeros ignored ("0.0010" has 3)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def price_precision(spec: InstrumentSpec) -> int:
    """`pricePrecision`: the decimals of the tick size."""
    return places(spec.rules.tick_size)


def quantity_precision(spec: InstrumentSpec) -> int:
    """`quantityPrecision`: the decimals of the step size."""
    return places(spec.rules.qty_step)


def filters_json(spec: InstrumentSpec, max_orders: int) -> list[Json]:
    """The `filters` of a symbol in `exchangeInfo`."""
    rules = spec.rules
    lot = {"minQty": fmt(rules.min_qty), "stepSize": fmt(rules.qty_step)}
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt(rules.min_price),
            "maxPrice": fmt(rules.max_price),
            "tickSize": fmt(rules.tick_size),
        },
        {"filterType": "LOT_SIZE", "maxQty": fmt(rules.max_qty), **lot},
        {"filterType": "MARKET_LOT_SIZE", "maxQty": fmt(rules.max_mkt_qty), **lot},
        {"filterType": "MAX_NUM_ORDERS", "limit": max_orders},
        {"filterType": "MIN_NOTIONAL", "notional": fmt(rules.min_notional)},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": f"{MULTIPLIER_UP:.4f}",
            "multiplierDown": f"{MULTIPLIER_DOWN:.4f}",
            "multiplierDecimal": str(MULTIPLIER_DECIMAL),
        },
    ]


def _precision_error() -> BinanceError:
    return BinanceError(
        errors.BAD_PRECISION, "Precision is over the maximum defined for this asset."
    )


def check_price(spec: InstrumentSpec, price: Decimal) -> Decimal:
    """A limit price within PRICE_FILTER, quantized to the tick; raises BinanceError."""
    rules = spec.rules
    if price <= 0:
        raise BinanceError(errors.PRICE_LESS_THAN_ZERO, "Price less than or equal to 0.")
    if places(price) > price_precision(spec):
        raise _precision_error()
    if price < rules.min_price:
        raise BinanceError(errors.PRICE_LESS_THAN_MIN, "Price less than min price.")
    if price > rules.max_price:
        raise BinanceError(errors.PRICE_GREATER_THAN_MAX, "Price greater than max price.")
    if (price - rules.min_price) % rules.tick_size:
        raise BinanceError(errors.PRICE_NOT_BY_TICK, "Price not increased by tick size.")
    return price.quantize(rules.tick_size)


def check_percent_price(spec: InstrumentSpec, side: Side, price: Decimal, mark: Decimal) -> None:
    """PERCENT_PRICE: a Buy at most mark x 1.05, a Sell at least mark x 0.95."""
    tick = spec.rules.tick_size
    if side is Side.BUY:
        cap = round_to_step(mark * MULTIPLIER_UP, tick, up=False)
        if price > cap:
            raise BinanceError(
                errors.PRICE_ABOVE_MULTIPLIER_UP, f"Limit price can't be higher than {fmt(cap)}."
            )
    else:
        floor = round_to_step(mark * MULTIPLIER_DOWN, tick, up=True)
        if price < floor:
            raise BinanceError(
                errors.PRICE_BELOW_MULTIPLIER_DOWN, f"Limit price can't be lower than {fmt(floor)}."
            )


def check_qty(spec: InstrumentSpec, qty: Decimal, *, market: bool) -> Decimal:
    """A quantity within LOT_SIZE (MARKET_LOT_SIZE for a Market order), quantized."""
    rules = spec.rules
    if qty <= 0:
        raise BinanceError(errors.QTY_LESS_THAN_ZERO, "Quantity less than or equal to zero.")
    if places(qty) > quantity_precision(spec):
        raise _precision_error()
    if qty < rules.min_qty:
        raise BinanceError(errors.QTY_LESS_THAN_MIN, "Quantity less than min quantity.")
    if qty > (rules.max_mkt_qty if market else rules.max_qty):
        raise BinanceError(errors.QTY_GREATER_THAN_MAX, "Quantity greater than max quantity.")
    if (qty - rules.min_qty) % rules.qty_step:
        raise BinanceError(errors.QTY_NOT_BY_STEP, "Quantity not increased by step size.")
    return qty.quantize(rules.qty_step)


def check_notional(spec: InstrumentSpec, notional: Decimal, *, reduce_only: bool) -> None:
    """MIN_NOTIONAL: price x qty at least the minimum, unless the order is reduce-only."""
    minimum = spec.rules.min_notional
    if notional < minimum and not reduce_only:
        raise BinanceError(
            errors.MIN_NOTIONAL,
            f"Order's notional must be no smaller than {fmt(minimum)} "
            "(unless you choose reduce only).",
        )
