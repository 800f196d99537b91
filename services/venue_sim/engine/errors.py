"""Venue errors: a Bybit retCode plus its message, spelled per category as Bybit does."""

from __future__ import annotations

from decimal import Decimal

from libs.common.domain.enums import Category

OK = 0
PARAMS = 10001
RECV_WINDOW = 10002
INVALID_KEY = 10003
BAD_SIGN = 10004
RATE_LIMIT = 10006
NOT_FOUND = 110001
PRICE_RANGE = 110003
INSUFFICIENT = 110007
REDUCE_ONLY = 110017
TOO_MANY_ORDERS = 110020
POSITION_MODE_NOT_MODIFIED = 110025
HEDGE_NOT_SUPPORTED = 110029
LEVERAGE_NOT_MODIFIED = 110043
MARGIN_INSUFFICIENT = 110044
AMEND_QTY_LE_FILLED = 110064
DUPLICATE_LINK = 110072
MIN_NOTIONAL = 110094
SPOT_INSUFFICIENT = 170131
SPOT_PRICE_HIGH = 170132
SPOT_PRICE_LOW = 170133
SPOT_PRICE_DECIMALS = 170134
SPOT_QTY_MIN = 170136
SPOT_QTY_DECIMALS = 170137
SPOT_MIN_AMOUNT = 170140
SPOT_DUPLICATE_LINK = 170141
SPOT_QTY_TOO_LARGE = 170124
SPOT_NOT_FOUND = 170213
SPOT_TOO_MANY_ORDERS = 170810


class SimError(Exception):
    """A request the venue refuses: `code` is the retCode, `msg` the retMsg."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def params(msg: str) -> SimError:
    """10001: a missing or malformed parameter."""
    return SimError(PARAMS, msg)


def _spot(category: Category) -> bool:
    return category is Category.SPOT


def not_found(category: Category, action: str) -> SimError:
    """The order is unknown or already closed (`action` is "cancel" or "replace")."""
    if _spot(category):
        return SimError(SPOT_NOT_FOUND, "Order does not exist.")
    return SimError(NOT_FOUND, f"order not exists or too late to {action}")


def duplicate_link(category: Category) -> SimError:
    if _spot(category):
        return SimError(SPOT_DUPLICATE_LINK, "Duplicate clientOrderId.")
    return SimError(DUPLICATE_LINK, "OrderLinkedID is duplicate")


def insufficient(category: Category) -> SimError:
    if _spot(category):
        return SimError(SPOT_INSUFFICIENT, "Insufficient balance.")
    return SimError(INSUFFICIENT, "ab not enough for new order")


def too_many_orders(category: Category, limit: int) -> SimError:
    if _spot(category):
        return SimError(SPOT_TOO_MANY_ORDERS, f"Exceeded the maximum of {limit} open orders.")
    return SimError(TOO_MANY_ORDERS, f"current order count exceeds the limit of {limit}")


def qty_below_min(category: Category, qty: Decimal, minimum: Decimal) -> SimError:
    if _spot(category):
        return SimError(SPOT_QTY_MIN, "Order quantity lower than the minimum.")
    return params(
        f"The number of contracts exceeds minimum limit allowed: qty {qty} < min {minimum}"
    )


def qty_above_max(category: Category, qty: Decimal, maximum: Decimal) -> SimError:
    if _spot(category):
        return SimError(SPOT_QTY_TOO_LARGE, "Order amount too large.")
    return params(
        "The number of contracts exceeds maximum limit allowed: too large, "
        f"order_qty:{int(qty * 100_000_000)} > max_qty:{int(maximum * 100_000_000)}"
    )


def qty_off_step(category: Category, qty: Decimal, step: Decimal) -> SimError:
    if _spot(category):
        return SimError(SPOT_QTY_DECIMALS, "Order quantity has too many decimals.")
    return params(f"Qty invalid: qty {qty} is not a multiple of qtyStep {step}")


def price_off_tick(category: Category, price: Decimal, tick: Decimal) -> SimError:
    if _spot(category):
        return SimError(SPOT_PRICE_DECIMALS, "Order price has too many decimals.")
    return params(f"Price invalid: price {price} is not a multiple of tickSize {tick}")


def price_out_of_range(category: Category, price: Decimal, low: Decimal, high: Decimal) -> SimError:
    if _spot(category):
        if price > high:
            return SimError(SPOT_PRICE_HIGH, "Order price too high.")
        return SimError(SPOT_PRICE_LOW, "Order price lower than the minimum.")
    return SimError(PRICE_RANGE, f"Order price {price} is out of permissible range [{low}, {high}]")


def below_min_notional(category: Category, minimum: Decimal, quote: str) -> SimError:
    if _spot(category):
        return SimError(SPOT_MIN_AMOUNT, "Order value exceeded lower limit.")
    return SimError(MIN_NOTIONAL, f"Order does not meet minimum order value {minimum}{quote}")


def reduce_only_rejected(reason: str) -> SimError:
    return SimError(REDUCE_ONLY, f"Reduce-only rule not satisfied: {reason}")
