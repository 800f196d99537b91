"""Binance's order entry: new, modify and cancel (single and batch), cancel-all, and the
dead-man's switch; each acts for the calling key's account only.

A GTX (post-only) order that would take liquidity is refused (-5022) and a FOK order that
cannot fill at once is refused (-5021), neither recorded, as Binance does; an IOC
remainder expires (EXPIRED). A modify to a quantity not above the executed one cancels the order,
and so does a modify of a GTX order to a price that would take (both CANCELED).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from libs.common.domain.enums import Category, OrderType, TimeInForce
from services.venue_sim.binance import errors, order_params, params, rules
from services.venue_sim.binance.errors import BinanceError, from_engine
from services.venue_sim.binance.gate import Call
from services.venue_sim.binance.params import Params
from services.venue_sim.binance.wire import order_json
from services.venue_sim.engine import SimError, SimOrder
from services.venue_sim.wire import fmt

Json = dict[str, Any]
LINEAR = Category.LINEAR
BATCH_PLACE_MAX = 5
BATCH_CANCEL_MAX = 10
GTX_REJECT_MSG = (
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history"
)
FOK_REJECT_MSG = (
    "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history"
)


def _answer(call: Call, order: SimOrder, *, ack: bool = False) -> Json:
    return order_json(order, call.state.stp_of(order.order_id), ack=ack)


def _place(call: Call, p: Params) -> Json:
    received_ns = time.time_ns()
    state, ex = call.state, call.state.exchange
    request = order_params.new_order(ex, p)
    req = request.req
    if req.price is not None and req.tif in (TimeInForce.POST_ONLY, TimeInForce.FOK):
        takes = ex.would_take(LINEAR, req.symbol, req.side, req.price, call.uid)
        if req.tif is TimeInForce.POST_ONLY and takes:
            raise BinanceError(errors.GTX_ORDER_REJECT, GTX_REJECT_MSG)
        if req.tif is TimeInForce.FOK and not takes:
            raise BinanceError(errors.FOK_ORDER_REJECT, FOK_REJECT_MSG)
    try:
        order, changes = ex.place_order(
            LINEAR, req, call.uid, reuse_closed_link_ids=True, min_notional=False
        )
    except SimError as exc:
        raise from_engine(exc, "place") from None
    if request.stp_mode != order_params.DEFAULT_STP_MODE:
        state.stp_modes[order.order_id] = request.stp_mode
    state.receipts.received(order.order_id, received_ns)
    state.publish(changes, created={order.order_id})
    return _answer(call, order, ack=request.resp_type == "ACK")


def new_order(call: Call) -> Json:
    """POST /fapi/v1/order: the order as accepted (ACK) or after matching (RESULT)."""
    return _place(call, call.params)


def _open_order(call: Call, p: Params, missing: Callable[[], BinanceError]) -> SimOrder:
    """The account's open order of the request's symbol and id, else `missing()`."""
    symbol = params.market(call.state.exchange, p).spec.symbol
    order_id, link = params.order_ref(p)
    order = call.state.exchange.ledger(call.uid).find(LINEAR, order_id, link)
    if order is None or order.symbol != symbol or not order.is_open:
        raise missing()
    return order


def _cancel(call: Call, p: Params) -> Json:
    order = _open_order(call, p, errors.unknown_order)
    ref = {"symbol": order.symbol, "orderId": order.order_id}
    order, changes = call.state.exchange.cancel(LINEAR, ref, call.uid)
    call.state.publish(changes)
    return _answer(call, order)


def cancel_order(call: Call) -> Json:
    """DELETE /fapi/v1/order: -2011 when the order is unknown or no longer open."""
    return _cancel(call, call.params)


def _modify(call: Call, p: Params) -> Json:
    state, ex = call.state, call.state.exchange
    request = order_params.modify(ex, p)
    order = _open_order(call, p, errors.no_such_order)
    if request.side is not order.side:
        raise errors.invalid("side", f"The order is a {order.side.value.upper()} order.")
    if order.order_type is not OrderType.LIMIT:
        raise BinanceError(errors.NO_SUCH_ORDER, "Only LIMIT orders can be modified.")
    if request.qty == order.qty and request.price == order.price:
        raise BinanceError(errors.NO_NEED_TO_MODIFY, "No need to modify the order.")
    ref = {"symbol": order.symbol, "orderId": order.order_id}
    if request.qty <= order.cum_qty:  # Binance cancels instead
        order, changes = ex.cancel(LINEAR, ref, call.uid)
        state.publish(changes)
        return {**_answer(call, order), "modifyId": next(state.modify_ids)}
    notional = request.qty * request.price
    rules.check_notional(request.market.spec, notional, reduce_only=order.reduce_only)
    amend = {**ref, "qty": fmt(request.qty), "price": fmt(request.price)}
    try:
        order, changes = ex.amend(LINEAR, amend, call.uid)
    except SimError as exc:
        raise from_engine(exc, "modify") from None
    state.publish(changes, amended={order.order_id})
    return {**_answer(call, order), "modifyId": next(state.modify_ids)}


def modify_order(call: Call) -> Json:
    """PUT /fapi/v1/order: new quantity and price of an open LIMIT order (-2013 when it is
    unknown or no longer open, -5027 when nothing changes)."""
    return _modify(call, call.params)


def _batch(
    call: Call, operation: Callable[[Call, Params], Json], items: list[Params | None]
) -> list[Json]:
    results: list[Json] = []
    for item in items:
        try:
            if item is None:
                raise errors.invalid("batchOrders", "Each order must be a JSON object.")
            results.append(operation(call, item))
        except BinanceError as exc:
            call.state.item_codes[exc.code] += 1
            results.append(exc.json())
    return results


def place_batch(call: Call) -> list[Json]:
    """POST /fapi/v1/batchOrders: up to 5 orders, answered in order, each an order or
    `{"code", "msg"}`."""
    return _batch(call, _place, params.batch_items(call.params, "batchOrders", BATCH_PLACE_MAX))


def modify_batch(call: Call) -> list[Json]:
    """PUT /fapi/v1/batchOrders: up to 5 modifications, answered like `place_batch`."""
    return _batch(call, _modify, params.batch_items(call.params, "batchOrders", BATCH_PLACE_MAX))


def cancel_batch(call: Call) -> list[Json]:
    """DELETE /fapi/v1/batchOrders: up to 10 orders by `orderIdList` (JSON numbers) or
    `origClientOrderIdList` (JSON strings); a miss is `{"code": -2011, ..}`."""
    p = call.params
    symbol = params.market(call.state.exchange, p).spec.symbol
    if p.get("orderIdList"):
        name, ref = "orderIdList", "orderId"
    elif p.get("origClientOrderIdList"):
        name, ref = "origClientOrderIdList", "origClientOrderId"
    else:
        raise BinanceError(
            errors.MANDATORY_PARAM,
            "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were "
            "empty/null!",
        )
    ids = params.json_list(p, name)
    if not 1 <= len(ids) <= BATCH_CANCEL_MAX:
        raise errors.invalid(name, f"Expected 1 to {BATCH_CANCEL_MAX} ids, was {len(ids)}.")
    items: list[Params | None] = [{"symbol": symbol, ref: str(i)} for i in ids]
    return _batch(call, _cancel, items)


def cancel_all(call: Call) -> Json:
    """DELETE /fapi/v1/allOpenOrders?symbol: cancel every open order of the symbol."""
    symbol = params.market(call.state.exchange, call.params).spec.symbol
    _, changes = call.state.exchange.cancel_where(lambda o: o.symbol == symbol, uid=call.uid)
    call.state.publish(changes)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def countdown_cancel_all(call: Call) -> Json:
    """POST /fapi/v1/countdownCancelAll?symbol&countdownTime: (re)arm the symbol's
    dead-man's switch for `countdownTime` ms; 0 disarms it."""
    symbol = params.market(call.state.exchange, call.params).spec.symbol
    text = params.text(call.params, "countdownTime", required=True)
    countdown = params.integer(call.params, "countdownTime", 0, 0, 10**10)
    call.state.countdowns.set(call.uid, symbol, countdown, call.now)
    return {"symbol": symbol, "countdownTime": text}
