"""Parse and check request parameters the way Bybit does, raising SimError with its codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce
from libs.common.domain.ids import CLIENT_ORDER_ID_MAX_LEN
from services.venue_sim.engine import errors
from services.venue_sim.engine.catalog import InstrumentSpec

_LINK_ID_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{CLIENT_ORDER_ID_MAX_LEN}}}")
_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_TIFS = {t.value: t for t in TimeInForce}
_CATEGORIES = {c.value: c for c in Category}
UNLISTED_CATEGORIES = ("inverse", "option")
"""Bybit's other categories: the simulator lists no instrument in them."""
_UNSUPPORTED = ("triggerPrice", "takeProfit", "stopLoss", "tpslMode")
Params = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A create request that passed the parameter checks (not yet the instrument rules)."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce
    link_id: str
    reduce_only: bool
    close_on_trigger: bool
    market_unit: str


@dataclass(frozen=True, slots=True)
class Amend:
    """An amend request: which order, and the new qty and/or price."""

    symbol: str
    order_id: str
    link_id: str
    qty: Decimal | None
    price: Decimal | None


def category(value: Any) -> Category:
    """The `category` parameter of an operation on listed instruments: linear or spot (see
    `any_category` for the queries that also take Bybit's other categories)."""
    if value is None or value == "":
        raise errors.params("params error: category is required")
    found = _CATEGORIES.get(value) if isinstance(value, str) else None
    if found is None:
        listed = " or ".join(_CATEGORIES)
        raise errors.params(f"Illegal category: {value!r}, the simulator lists {listed}")
    return found


def any_category(value: Any) -> tuple[str, Category | None]:
    """A `category` of Bybit's: (its name, the listed Category, or None for one the
    simulator lists nothing in: `inverse`, `option`). 10001 for any other value."""
    if isinstance(value, str) and value in UNLISTED_CATEGORIES:
        return value, None
    found = category(value)
    return found.value, found


def text(params: Params, name: str, *, required: bool = False) -> str:
    """A string parameter; "" when absent and not required."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.params(f"params error: {name} is required")
        return ""
    if not isinstance(value, str):
        raise errors.params(f"params error: {name} must be a string, was {value!r}")
    return value


def decimal(params: Params, name: str, *, required: bool = False) -> Decimal | None:
    """A number sent as a string (numbers are tolerated); None when absent."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.params(f"params error: {name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise errors.params(f"params error: {name} must be a decimal string, was {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise errors.params(f"params error: {name} {value!r} is not a number") from None
    if not number.is_finite():
        raise errors.params(f"params error: {name} {value!r} is not a number")
    return number


def flag(params: Params, name: str) -> bool:
    """A boolean parameter (true/false, or the strings "true"/"false")."""
    value = params.get(name)
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise errors.params(f"params error: {name} must be true or false, was {value!r}")


def link_id(params: Params) -> str:
    """`orderLinkId`: optional, at most 36 characters of [A-Za-z0-9_-]."""
    value = text(params, "orderLinkId")
    if value and not _LINK_ID_RE.fullmatch(value):
        raise errors.params(
            f"params error: orderLinkId {value!r} is invalid: expected 1-"
            f"{CLIENT_ORDER_ID_MAX_LEN} characters of [A-Za-z0-9_-]"
        )
    return value


def order_ref(params: Params) -> tuple[str, str]:
    """(orderId, orderLinkId) of a cancel or amend; one of them is required."""
    order_id = text(params, "orderId")
    link = text(params, "orderLinkId")
    if not order_id and not link:
        raise errors.params("params error: OrderId or orderLinkId is required")
    return order_id, link


def _choice(params: Params, name: str, choices: dict[str, Any], default: str | None) -> Any:
    value = params.get(name, default) or default
    if value is None:
        raise errors.params(f"params error: {name} is required")
    found = choices.get(value) if isinstance(value, str) else None
    if found is None:
        expected = ", ".join(sorted(choices))
        raise errors.params(f"params error: {name} {value!r} is invalid, expected: {expected}")
    return found


def new_order(cat: Category, params: Params) -> NewOrder:
    """Check the parameters of a create request."""
    symbol = text(params, "symbol", required=True)
    side: Side = _choice(params, "side", _SIDES, None)
    order_type: OrderType = _choice(params, "orderType", _TYPES, None)
    qty = decimal(params, "qty", required=True)
    assert qty is not None
    if qty <= 0:
        raise errors.params(f"params error: qty {params['qty']!r} must be positive")
    price = decimal(params, "price")
    if order_type is OrderType.LIMIT:
        if price is None:
            raise errors.params("params error: price is required for a Limit order")
        if price <= 0:
            raise errors.params(f"params error: price {params['price']!r} must be positive")
    else:
        price = None
    tif: TimeInForce = _choice(params, "timeInForce", _TIFS, "GTC")
    if order_type is OrderType.MARKET:
        tif = TimeInForce.IOC
    position_idx = params.get("positionIdx", 0)
    if position_idx not in (0, "0", None):
        raise errors.params("position idx not match position mode")
    for name in _UNSUPPORTED:
        if params.get(name) not in (None, "", "0", 0):
            raise errors.params(f"params error: {name} is not supported by the simulator")
    reduce_only = flag(params, "reduceOnly")
    market_unit = text(params, "marketUnit")
    if cat is Category.SPOT:
        if reduce_only:
            raise errors.params("params error: reduceOnly is not supported for spot")
        if order_type is OrderType.MARKET:
            default_unit = "quoteCoin" if side is Side.BUY else "baseCoin"
            market_unit = market_unit or default_unit
            if market_unit not in ("baseCoin", "quoteCoin"):
                raise errors.params(f"params error: marketUnit {market_unit!r} is invalid")
        else:
            market_unit = ""
    return NewOrder(
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        tif=tif,
        link_id=link_id(params),
        reduce_only=reduce_only,
        close_on_trigger=flag(params, "closeOnTrigger"),
        market_unit=market_unit,
    )


def amend(params: Params) -> Amend:
    """Check the parameters of an amend request."""
    symbol = text(params, "symbol", required=True)
    order_id, link = order_ref(params)
    qty = decimal(params, "qty")
    price = decimal(params, "price")
    if qty is not None and qty <= 0:
        raise errors.params(f"params error: qty {params['qty']!r} must be positive")
    if price is not None and price <= 0:
        raise errors.params(f"params error: price {params['price']!r} must be positive")
    return Amend(symbol=symbol, order_id=order_id, link_id=link, qty=qty, price=price)


def check_price(spec: InstrumentSpec, price: Decimal) -> Decimal:
    """The price on the tick grid and inside the band, quantized to the tick's scale."""
    rules, cat = spec.rules, spec.category
    if price % rules.tick_size:
        raise errors.price_off_tick(cat, price, rules.tick_size)
    if not rules.min_price <= price <= rules.max_price:
        raise errors.price_out_of_range(cat, price, rules.min_price, rules.max_price)
    return price.quantize(rules.tick_size)


def check_qty(spec: InstrumentSpec, qty: Decimal, order_type: OrderType) -> Decimal:
    """The base quantity on the step grid and inside [min, max]."""
    rules, cat = spec.rules, spec.category
    if qty % rules.qty_step:
        raise errors.qty_off_step(cat, qty, rules.qty_step)
    if qty < rules.min_qty:
        raise errors.qty_below_min(cat, qty, rules.min_qty)
    maximum = rules.max_qty_for(order_type)
    if qty > maximum:
        raise errors.qty_above_max(cat, qty, maximum)
    return qty.quantize(rules.qty_step)


def check_notional(spec: InstrumentSpec, notional: Decimal) -> None:
    """qty x price at least the instrument's minimum order value."""
    rules = spec.rules
    if notional < rules.min_notional:
        raise errors.below_min_notional(spec.category, rules.min_notional, rules.quote_coin)
