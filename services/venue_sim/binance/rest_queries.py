"""Binance's order and trade queries of the calling key's account: one order, its open
orders, all its orders and its fills, oldest first (ids ascending)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from libs.common.domain.enums import Category
from services.venue_sim.binance import errors, params
from services.venue_sim.binance.errors import BinanceError
from services.venue_sim.binance.gate import Call
from services.venue_sim.binance.wire import number, order_json, trade_json
from services.venue_sim.engine import Execution, SimOrder

Json = dict[str, Any]
LINEAR = Category.LINEAR
HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX = 500, 1000
T = TypeVar("T", SimOrder, Execution)


def _order(call: Call) -> SimOrder:
    """The account's order of the request's symbol and id (open or not), else -2013."""
    symbol = params.market(call.state.exchange, call.params).spec.symbol
    order_id, link = params.order_ref(call.params)
    order = call.state.exchange.ledger(call.uid).find(LINEAR, order_id, link)
    if order is None or order.symbol != symbol:
        raise errors.no_such_order()
    return order


def _json(call: Call, order: SimOrder) -> Json:
    return order_json(order, call.state.stp_of(order.order_id))


def query_order(call: Call) -> Json:
    """GET /fapi/v1/order: any order of the account, whatever its status."""
    return _json(call, _order(call))


def query_open_order(call: Call) -> Json:
    """GET /fapi/v1/openOrder: an order that is still open; -2013 once it is final."""
    order = _order(call)
    if not order.is_open:
        raise errors.no_such_order()
    return _json(call, order)


def open_orders(call: Call) -> list[Json]:
    """GET /fapi/v1/openOrders[?symbol]: the account's open orders."""
    symbol = ""
    if call.params.get("symbol"):
        symbol = params.market(call.state.exchange, call.params).spec.symbol
    held = call.state.exchange.ledger(call.uid).open_orders.values()
    chosen = [o for o in held if o.category is LINEAR and (not symbol or o.symbol == symbol)]
    return [_json(call, o) for o in sorted(chosen, key=lambda o: number(o.order_id))]


def _window(call: Call, items: Iterable[T], time_of: Any, id_of: Any, from_name: str) -> list[T]:
    """Binance's history paging: from the id `from_name` on (the first `limit`), else the
    latest `limit` within [startTime, endTime]; ascending."""
    p = call.params
    limit = params.integer(p, "limit", HISTORY_LIMIT_DEFAULT, 1, HISTORY_LIMIT_MAX)
    start = params.integer(p, "startTime", 0)
    end = params.integer(p, "endTime", params.MAX_ID)
    first = params.integer(p, from_name, -1)
    ordered = sorted(items, key=id_of)
    if first >= 0:
        if from_name == "fromId" and (p.get("startTime") or p.get("endTime")):
            raise BinanceError(
                errors.BAD_COMBINATION, "fromId cannot be sent with startTime or endTime."
            )
        return [i for i in ordered if id_of(i) >= first][:limit]
    return [i for i in ordered if start <= time_of(i) <= end][-limit:]


def all_orders(call: Call) -> list[Json]:
    """GET /fapi/v1/allOrders?symbol[&orderId][&startTime][&endTime][&limit]."""
    symbol = params.market(call.state.exchange, call.params).spec.symbol
    held = call.state.exchange.ledger(call.uid).orders.values()
    mine = (o for o in held if o.category is LINEAR and o.symbol == symbol)
    chosen = _window(call, mine, lambda o: o.created, lambda o: number(o.order_id), "orderId")
    return [_json(call, o) for o in chosen]


def user_trades(call: Call) -> list[Json]:
    """GET /fapi/v1/userTrades?symbol[&orderId][&startTime][&endTime][&fromId][&limit]."""
    p = call.params
    symbol = params.market(call.state.exchange, p).spec.symbol
    order_id = params.integer(p, "orderId", -1)
    ledger = call.state.exchange.ledger(call.uid)
    fills = (
        e
        for e in ledger.executions[LINEAR]
        if e.exec_type == "Trade"
        and e.symbol == symbol
        and (order_id < 0 or e.order_id == str(order_id))
    )
    chosen = _window(call, fills, lambda e: e.time, lambda e: number(e.exec_id), "fromId")
    return [trade_json(e) for e in chosen]
