"""Instrument trading rules and the rounding that makes an order valid before it is sent.

Prices round to the tick *away from crossing* (a Buy rounds down, a Sell rounds up), so
rounding never makes a quote more aggressive than asked. Quantities round down to the step,
so rounding never makes an order bigger than asked.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from pydantic import BaseModel, ConfigDict

from libs.common.domain.enums import Category, OrderType, Side
from libs.common.domain.errors import InvalidOrder


class InstrumentRules(BaseModel):
    """What the venue accepts for one symbol (from `/v5/market/instruments-info`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    category: Category = Category.LINEAR
    status: str = "Trading"
    base_coin: str
    quote_coin: str = "USDT"
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    """Largest Limit / PostOnly quantity."""
    max_mkt_qty: Decimal
    """Largest Market quantity."""
    min_notional: Decimal
    """Smallest qty * price (linear `minNotionalValue`, spot `minOrderAmt`)."""

    def max_qty_for(self, order_type: OrderType) -> Decimal:
        return self.max_mkt_qty if order_type is OrderType.MARKET else self.max_qty


def round_to_step(value: Decimal, step: Decimal, *, up: bool) -> Decimal:
    """Round `value` to a multiple of `step`, up or down, keeping the step's exponent."""
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * step).quantize(step)


def round_price(rules: InstrumentRules, side: Side, price: Decimal) -> Decimal:
    """Round a limit price to the tick, never towards crossing the spread."""
    return round_to_step(price, rules.tick_size, up=side is Side.SELL)


def round_qty(rules: InstrumentRules, qty: Decimal) -> Decimal:
    """Round a quantity down to the step."""
    return round_to_step(qty, rules.qty_step, up=False)


def normalize_order(
    rules: InstrumentRules,
    *,
    side: Side,
    order_type: OrderType,
    qty: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None = None,
) -> tuple[Decimal, Decimal | None]:
    """Return (qty, price) rounded to the instrument, or raise InvalidOrder saying why not.

    A Market order has no price; its notional is checked against `reference_price`
    (the mark or mid) when one is given.
    """
    where = f"{rules.symbol} {side} {order_type}"
    if rules.status != "Trading":
        raise InvalidOrder(f"{rules.symbol} is not trading (status {rules.status!r})")
    if not qty.is_finite() or qty <= 0:
        raise InvalidOrder(f"{where}: qty {qty} is invalid: expected a positive number")
    if order_type is OrderType.LIMIT:
        if price is None:
            raise InvalidOrder(f"{where}: a Limit order needs a price")
        if not price.is_finite() or price <= 0:
            raise InvalidOrder(f"{where}: price {price} is invalid: expected a positive number")
    rounded_qty = round_qty(rules, qty)
    if rounded_qty < rules.min_qty:
        raise InvalidOrder(
            f"{where}: qty {qty} rounds to {rounded_qty}, below the minimum {rules.min_qty} "
            f"(step {rules.qty_step})"
        )
    max_qty = rules.max_qty_for(order_type)
    if rounded_qty > max_qty:
        raise InvalidOrder(f"{where}: qty {rounded_qty} is above the maximum {max_qty}")
    rounded_price: Decimal | None = None
    if order_type is OrderType.LIMIT:
        assert price is not None
        rounded_price = round_price(rules, side, price)
        if not rules.min_price <= rounded_price <= rules.max_price:
            raise InvalidOrder(
                f"{where}: price {rounded_price} is outside [{rules.min_price}, {rules.max_price}]"
            )
    notional_price = rounded_price if rounded_price is not None else reference_price
    if notional_price is not None and rounded_qty * notional_price < rules.min_notional:
        raise InvalidOrder(
            f"{where}: notional {rounded_qty * notional_price} is below the minimum "
            f"{rules.min_notional} {rules.quote_coin}"
        )
    return rounded_qty, rounded_price
