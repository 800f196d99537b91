"""Binance USDⓈ-M JSON of the engine's orders and fills: numbers as strings, ids and times
as integers, Binance's enum spellings.

The engine's order and execution ids are numeric strings in this personality (see
`BinanceState.new_ids`), so `orderId` and the trade `id` are those numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libs.common.domain.enums import OrderType, Side, TimeInForce, VenueOrderStatus
from services.venue_sim.engine.account import SETTLE
from services.venue_sim.engine.model import Execution, SimOrder
from services.venue_sim.wire import fmt, num

Json = dict[str, Any]
SIDE_NAMES = {Side.BUY: "BUY", Side.SELL: "SELL"}
TYPE_NAMES = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET"}
TIF_NAMES = {
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
    TimeInForce.POST_ONLY: "GTX",
}
EXPIRED_REASONS = frozenset({"EC_NoImmediateQtyToFill", "EC_NoEnoughQtyToFill"})
"""Why the engine cancels an IOC / FOK remainder: Binance calls such an order EXPIRED."""
_STATUSES = {
    VenueOrderStatus.NEW: "NEW",
    VenueOrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    VenueOrderStatus.FILLED: "FILLED",
    VenueOrderStatus.REJECTED: "REJECTED",
}
FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED"})


def number(engine_id: str) -> int:
    """Binance's integer id of an engine order or execution id."""
    return int(engine_id)


def status(order: SimOrder) -> str:
    """Binance's order status: a cancelled IOC / FOK remainder is EXPIRED, any other
    cancel (filled in part or not) CANCELED."""
    found = _STATUSES.get(order.status)
    if found is not None:
        return found
    return "EXPIRED" if order.reject_reason in EXPIRED_REASONS else "CANCELED"


def order_json(order: SimOrder, stp_mode: str, *, ack: bool = False) -> Json:
    """The order object every order endpoint answers (the union of their fields). `ack`:
    as it was when accepted (NEW, nothing executed), what `newOrderRespType=ACK` shows."""
    executed = Decimal(0) if ack else order.cum_qty
    quote = Decimal(0) if ack else order.cum_value
    avg = None if ack else order.avg_price
    order_type = TYPE_NAMES[order.order_type]
    return {
        "orderId": number(order.order_id),
        "symbol": order.symbol,
        "pair": order.symbol,
        "status": "NEW" if ack else status(order),
        "clientOrderId": order.link_id,
        "price": fmt(order.price) if order.order_type is OrderType.LIMIT else "0",
        "avgPrice": "0" if avg is None else num(avg),
        "origQty": fmt(order.qty),
        "executedQty": fmt(executed),
        "cumQty": fmt(executed),
        "cumQuote": num(quote),
        "timeInForce": TIF_NAMES[order.tif],
        "type": order_type,
        "origType": order_type,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": SIDE_NAMES[order.side],
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": stp_mode,
        "goodTillDate": 0,
        "time": order.created,
        "updateTime": order.created if ack else order.updated,
    }


def trade_json(execution: Execution) -> Json:
    """One fill as `GET /fapi/v1/userTrades` lists it (`realizedPnl` before the fee)."""
    return {
        "symbol": execution.symbol,
        "id": number(execution.exec_id),
        "orderId": number(execution.order_id),
        "side": SIDE_NAMES[execution.side],
        "price": fmt(execution.price),
        "qty": fmt(execution.qty),
        "realizedPnl": num(execution.exec_pnl),
        "marginAsset": SETTLE,
        "quoteQty": num(execution.value),
        "commission": num(execution.fee),
        "commissionAsset": execution.fee_currency,
        "time": execution.time,
        "positionSide": "BOTH",
        "buyer": execution.side is Side.BUY,
        "maker": execution.is_maker,
    }
