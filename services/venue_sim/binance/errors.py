"""Binance's error answers: HTTP 4xx with `{"code": <negative>, "msg": ...}`.

`BinanceError` is what the personality's handlers raise; `from_engine` translates the shared
engine's (Bybit-coded) `SimError` into the code and message Binance gives for the same
refusal, where the personality did not already check it itself.
"""

from __future__ import annotations

from typing import Literal

from services.venue_sim.engine import errors as engine_errors
from services.venue_sim.engine.errors import SimError

Action = Literal["place", "modify", "leverage"]

UNKNOWN = -1000
TOO_MANY_REQUESTS = -1003
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
MANDATORY_PARAM = -1102
PARAM_NOT_REQUIRED = -1106
BAD_PRECISION = -1111
INVALID_TIF = -1115
INVALID_ORDER_TYPE = -1116
INVALID_SIDE = -1117
INVALID_INTERVAL = -1120
BAD_SYMBOL = -1121
INVALID_LISTEN_KEY = -1125
BAD_COMBINATION = -1128
INVALID_PARAMETER = -1130
BAD_RECV_WINDOW = -1131
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015
MARGIN_INSUFFICIENT = -2019
REDUCE_ONLY_REJECT = -2022
MAX_OPEN_ORDERS = -2025
PRICE_LESS_THAN_ZERO = -4001
PRICE_GREATER_THAN_MAX = -4002
QTY_LESS_THAN_ZERO = -4003
QTY_LESS_THAN_MIN = -4004
QTY_GREATER_THAN_MAX = -4005
PRICE_LESS_THAN_MIN = -4013
PRICE_NOT_BY_TICK = -4014
INVALID_CLIENT_ORDER_ID = -4015
PRICE_ABOVE_MULTIPLIER_UP = -4016
QTY_NOT_BY_STEP = -4023
PRICE_BELOW_MULTIPLIER_DOWN = -4024
INVALID_LEVERAGE = -4028
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
MARGIN_TYPE_OPEN_ORDERS = -4047
MARGIN_TYPE_POSITION = -4048
NO_NEED_TO_CHANGE_POSITION_SIDE = -4059
POSITION_SIDE_NOT_MATCH = -4061
INVALID_BATCH_SIZE = -4082
DUPLICATED_CLIENT_ORDER_ID = -4116
ALGO_ORDER_TYPE = -4120
MIN_NOTIONAL = -4164
FOK_ORDER_REJECT = -5021
GTX_ORDER_REJECT = -5022
NO_NEED_TO_MODIFY = -5027

UNKNOWN_ORDER_MSG = "Unknown order sent."
NO_SUCH_ORDER_MSG = "Order does not exist."


class BinanceError(Exception):
    """A refused request: Binance's `code` and `msg`, answered with `http_status`."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def json(self) -> dict[str, int | str]:
        """The error body Binance answers."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    """-1102: a required parameter is absent or empty."""
    return BinanceError(
        MANDATORY_PARAM,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def invalid(name: str, detail: str = "") -> BinanceError:
    """-1130: a parameter's value is not one the endpoint takes (`detail` says which are)."""
    msg = f"Data sent for parameter '{name}' is not valid."
    return BinanceError(INVALID_PARAMETER, f"{msg} {detail}".strip())


def unknown_order() -> BinanceError:
    """-2011: the order to cancel is unknown or no longer open."""
    return BinanceError(CANCEL_REJECTED, UNKNOWN_ORDER_MSG)


def no_such_order() -> BinanceError:
    """-2013: the order to query or modify does not exist (or is no longer open)."""
    return BinanceError(NO_SUCH_ORDER, NO_SUCH_ORDER_MSG)


def bad_symbol() -> BinanceError:
    """-1121: the symbol is not listed."""
    return BinanceError(BAD_SYMBOL, "Invalid symbol.")


_ENGINE: dict[int, tuple[int, str]] = {
    engine_errors.INSUFFICIENT: (MARGIN_INSUFFICIENT, "Margin is insufficient."),
    engine_errors.MARGIN_INSUFFICIENT: (MARGIN_INSUFFICIENT, "Margin is insufficient."),
    engine_errors.REDUCE_ONLY: (REDUCE_ONLY_REJECT, "ReduceOnly Order is rejected."),
    engine_errors.TOO_MANY_ORDERS: (MAX_OPEN_ORDERS, "Reach max open order limit."),
    engine_errors.DUPLICATE_LINK: (DUPLICATED_CLIENT_ORDER_ID, "clientOrderId is duplicated"),
    engine_errors.PRICE_RANGE: (PRICE_GREATER_THAN_MAX, "Price greater than max price."),
}


def from_engine(exc: SimError, action: Action) -> BinanceError:
    """Binance's answer to a refusal of the shared engine (`action`: what was asked)."""
    if exc.code == engine_errors.NOT_FOUND:
        return no_such_order()
    if exc.code == engine_errors.MIN_NOTIONAL:
        return BinanceError(MIN_NOTIONAL, f"Order's notional is too small: {exc.msg}")
    found = _ENGINE.get(exc.code)
    if found is not None:
        return BinanceError(*found)
    if exc.code == engine_errors.PARAMS:
        return BinanceError(MANDATORY_PARAM, exc.msg)
    return BinanceError(
        UNKNOWN, f"An unknown error occurred while processing the request: {exc.msg}"
    )
