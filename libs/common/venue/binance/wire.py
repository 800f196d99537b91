"""Binance USDⓈ-M request parameters from our models. Pure functions, no I/O.

Prices and quantities travel as plain decimal strings; sides, types and time-in-force in
Binance's spelling (`PostOnly` is `GTX`). One-way position mode: no `positionSide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce
from libs.common.topology import RATE_LIMIT_GROUPS
from libs.common.venue.errors import InvalidOrderRequest
from libs.common.venue.models import AmendOrder, CancelOrder, PlaceOrder
from libs.common.venue.wire import fmt

TIME = "/fapi/v1/time"
EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
ORDER = "/fapi/v1/order"
BATCH_ORDERS = "/fapi/v1/batchOrders"
ALL_OPEN_ORDERS = "/fapi/v1/allOpenOrders"
OPEN_ORDERS = "/fapi/v1/openOrders"
ALL_ORDERS = "/fapi/v1/allOrders"
USER_TRADES = "/fapi/v1/userTrades"
POSITION_RISK = "/fapi/v3/positionRisk"
BOOK_TICKER = "/fapi/v1/ticker/bookTicker"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
DEPTH = "/fapi/v1/depth"
COMMISSION_RATE = "/fapi/v1/commissionRate"
COUNTDOWN_CANCEL_ALL = "/fapi/v1/countdownCancelAll"
LISTEN_KEY = "/fapi/v1/listenKey"

TRADE, BATCH, CANCEL_ALL, QUERY = RATE_LIMIT_GROUPS
QUOTA_GROUPS = {ORDER: TRADE, BATCH_ORDERS: BATCH, ALL_OPEN_ORDERS: CANCEL_ALL}
"""The router's quota group of each Binance path (the rest are `query`)."""


def quota_group(path: str) -> str:
    """The router's quota group of a Binance path (`services.router.gate.group_of` for
    Bybit's): create / amend / cancel share `trade` (their path is one), the batch calls
    `batch`, cancel-all `cancel_all`, anything else `query`."""
    return QUOTA_GROUPS.get(path, QUERY)


PLACE_BATCH_LIMIT = 5
"""Most orders one POST /fapi/v1/batchOrders takes."""
CANCEL_BATCH_LIMIT = 10
"""Most ids one DELETE /fapi/v1/batchOrders takes (per symbol)."""

SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
TYPES = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET"}
TIME_IN_FORCE = {
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
    TimeInForce.POST_ONLY: "GTX",
}


def check_linear(category: Category, what: str) -> None:
    """Binance USDⓈ-M lists linear contracts only: anything else is never sent."""
    if category is not Category.LINEAR:
        raise InvalidOrderRequest(
            f"{what}: category {category.value} is not traded on Binance USDⓈ-M futures: "
            "expected linear"
        )


def place_params(order: PlaceOrder, qty: Decimal, price: Decimal | None) -> dict[str, Any]:
    """`POST /fapi/v1/order` (and one `batchOrders` item); `newClientOrderId` is our id."""
    params: dict[str, Any] = {
        "symbol": order.symbol,
        "side": SIDES[order.side],
        "type": TYPES[order.order_type],
        "quantity": fmt(qty),
    }
    if order.order_type is OrderType.LIMIT:
        assert price is not None
        params["price"] = fmt(price)
        params["timeInForce"] = TIME_IN_FORCE[order.time_in_force]
    if order.reduce_only:
        params["reduceOnly"] = "true"
    params["newClientOrderId"] = order.client_order_id
    return params


def by_order(req: AmendOrder | CancelOrder) -> dict[str, Any]:
    """The order's id: `orderId` when we know it (Binance prefers it), else ours."""
    if req.venue_order_id is not None:
        return {"orderId": req.venue_order_id}
    return {"origClientOrderId": req.client_order_id}


def amend_params(amend: AmendOrder, side: Side, qty: Decimal, price: Decimal) -> dict[str, Any]:
    """`PUT /fapi/v1/order`: Binance needs side, the total quantity and the price, always."""
    return {
        "symbol": amend.symbol,
        **by_order(amend),
        "side": SIDES[side],
        "quantity": fmt(qty),
        "price": fmt(price),
    }


def cancel_params(cancel: CancelOrder) -> dict[str, Any]:
    """`DELETE /fapi/v1/order`."""
    return {"symbol": cancel.symbol, **by_order(cancel)}


def cancel_list_params(symbol: str, cancels: Sequence[CancelOrder]) -> dict[str, Any]:
    """`DELETE /fapi/v1/batchOrders` for cancels of one symbol, all by venue id or all by
    client id (`orderIdList` as numbers, `origClientOrderIdList` as strings)."""
    if all(c.venue_order_id is not None for c in cancels):
        return {"symbol": symbol, "orderIdList": [order_id_number(c) for c in cancels]}
    return {"symbol": symbol, "origClientOrderIdList": [c.client_order_id for c in cancels]}


def order_id_number(cancel: CancelOrder) -> int:
    """A venue order id as Binance's integer, or InvalidOrderRequest (never sent)."""
    try:
        return int(str(cancel.venue_order_id))
    except ValueError as exc:
        raise InvalidOrderRequest(
            f"cancel {cancel.ident}: venue order id {cancel.venue_order_id!r} is not a "
            "Binance orderId: expected an integer"
        ) from exc
