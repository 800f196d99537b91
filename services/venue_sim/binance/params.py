"""Request parameters as Binance reads them: every value a string of the query string or
form body, numbers as decimal strings (SDKs' `str(float)` such as `1e-05` or `10000.0`
included), booleans "true"/"false", lists as JSON (with or without spaces)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from libs.common.domain.enums import Category
from services.venue_sim.binance import errors
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.engine import Exchange
from services.venue_sim.engine.model import MarketState

Params = dict[str, str]
MAX_ID = 2**63 - 1
_DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"


def text(params: Params, name: str, *, required: bool = False) -> str:
    """A string parameter; "" when absent (-1102 when `required`)."""
    value = params.get(name, "")
    if not value and required:
        raise errors.mandatory(name)
    return value


def market(ex: Exchange, params: Params) -> MarketState:
    """The listed market of the required `symbol` (-1121 when it is not listed)."""
    found = ex.markets.get((Category.LINEAR, text(params, "symbol", required=True)))
    if found is None:
        raise errors.bad_symbol()
    return found


def decimal(params: Params, name: str, *, required: bool = False) -> Decimal | None:
    """A decimal parameter (exponent notation accepted); None when absent."""
    value = text(params, name, required=required)
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise BinanceError(
            errors.ILLEGAL_CHARS,
            f"Illegal characters found in parameter '{name}'; legal range is '{_DECIMAL_RANGE}'.",
        )
    return number


def integer(params: Params, name: str, default: int, low: int = 0, high: int = MAX_ID) -> int:
    """An integer parameter within [low, high]; `default` when absent."""
    value = text(params, name)
    if not value:
        return default
    if not re.fullmatch(r"-?[0-9]{1,20}", value):
        raise BinanceError(
            errors.ILLEGAL_CHARS,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    number = int(value)
    if not low <= number <= high:
        raise errors.invalid(name, f"Expected a value in [{low}, {high}], was {number}.")
    return number


def boolean(params: Params, name: str, default: bool = False) -> bool:
    """A "true"/"false" parameter (any case)."""
    value = text(params, name).lower()
    if not value:
        return default
    if value not in ("true", "false"):
        raise errors.invalid(name, f"Expected 'true' or 'false', was {params[name]!r}.")
    return value == "true"


def choice(params: Params, name: str, allowed: tuple[str, ...], default: str = "") -> str:
    """One of `allowed` (-1130 naming them otherwise); `default` when absent."""
    value = text(params, name) or default
    if not value:
        raise errors.mandatory(name)
    if value not in allowed:
        raise errors.invalid(name, f"Expected one of {', '.join(allowed)}, was {value!r}.")
    return value


def order_ref(params: Params) -> tuple[str, str]:
    """(orderId as the engine's id, origClientOrderId) of an order; one is required and
    orderId wins when both are sent."""
    order_id = integer(params, "orderId", -1)
    link = text(params, "origClientOrderId")
    if order_id < 0 and not link:
        raise BinanceError(
            errors.MANDATORY_PARAM,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    return (str(order_id) if order_id >= 0 else ""), ("" if order_id >= 0 else link)


def _as_text(value: Any) -> str:
    """A JSON value of a batch item as the string a form parameter would have been."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def json_list(params: Params, name: str) -> list[Any]:
    """A JSON list parameter, whitespace-tolerant; numbers keep their exact text."""
    raw = text(params, name, required=True)
    try:
        value = json.loads(raw, parse_float=str, parse_int=str)
    except ValueError:
        raise errors.invalid(name, "Expected a JSON list.") from None
    if not isinstance(value, list):
        raise errors.invalid(name, "Expected a JSON list.")
    return value


def batch_items(params: Params, name: str, maximum: int) -> list[Params | None]:
    """The orders of a batch: each a parameter map (None for an item that is not an
    object); -4082 unless there are 1 to `maximum` of them."""
    items = json_list(params, name)
    if not 1 <= len(items) <= maximum:
        raise BinanceError(
            errors.INVALID_BATCH_SIZE,
            f"Invalid number of batch orders: expected 1 to {maximum}, was {len(items)}.",
        )
    return [
        {str(k): _as_text(v) for k, v in item.items()} if isinstance(item, dict) else None
        for item in items
    ]
