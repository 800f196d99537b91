"""Trade endpoints: create, amend, cancel, cancel-all, their batch forms, and DCP; each acts
for the calling key's account only."""

from __future__ import annotations

import time
from collections.abc import Callable

from libs.common.domain.enums import Category
from services.venue_sim.dcp import PRODUCTS
from services.venue_sim.engine import Changes, SimError, SimOrder, errors, validate
from services.venue_sim.engine.queries import integer
from services.venue_sim.engine.validate import Params
from services.venue_sim.gate import Call, Reply
from services.venue_sim.wire import Json

BATCH_MAX = {Category.LINEAR: 20, Category.SPOT: 10}
Operation = Callable[[Category, Params, str | None], tuple[SimOrder, Changes]]
"""An order operation of the exchange: (category, params, uid) -> (order, changes)."""


def _ids(order: SimOrder) -> Json:
    return {"orderId": order.order_id, "orderLinkId": order.link_id}


def create(call: Call) -> Reply:
    """POST /v5/order/create -> {orderId, orderLinkId}. The order's receipt time is recorded."""
    received_ns = time.time_ns()
    category = validate.category(call.params.get("category"))
    order, changes = call.state.exchange.place(category, call.params, call.uid)
    call.state.receipts.received(order.order_id, received_ns)
    call.state.publish(changes)
    return Reply(_ids(order))


def amend(call: Call) -> Reply:
    """POST /v5/order/amend -> {orderId, orderLinkId}."""
    category = validate.category(call.params.get("category"))
    order, changes = call.state.exchange.amend(category, call.params, call.uid)
    call.state.publish(changes)
    return Reply(_ids(order))


def cancel(call: Call) -> Reply:
    """POST /v5/order/cancel -> {orderId, orderLinkId}."""
    category = validate.category(call.params.get("category"))
    order, changes = call.state.exchange.cancel(category, call.params, call.uid)
    call.state.publish(changes)
    return Reply(_ids(order))


def cancel_all(call: Call) -> Reply:
    """POST /v5/order/cancel-all -> {list: [{orderId, orderLinkId}], success: "1"}."""
    category = validate.category(call.params.get("category"))
    orders, changes = call.state.exchange.cancel_all(category, call.params, call.uid)
    call.state.publish(changes)
    return Reply({"list": [_ids(o) for o in orders], "success": "1"})


def batch_units(params: Params) -> int:
    """Rate-limit units of a batch: one per order."""
    request = params.get("request")
    return max(1, min(len(request), 20)) if isinstance(request, list) else 1


def _batch(call: Call, operation: Operation, *, created: bool) -> Reply:
    received_ns = time.time_ns()
    category = validate.category(call.params.get("category"))
    request = call.params.get("request")
    if not isinstance(request, list) or not request:
        raise errors.params("params error: request must be a non-empty list of orders")
    if len(request) > BATCH_MAX[category]:
        raise errors.params(
            f"params error: a {category} batch takes at most {BATCH_MAX[category]} orders"
        )
    results: list[Json] = []
    infos: list[Json] = []
    changes = Changes()
    for index, item in enumerate(request):
        symbol = item.get("symbol", "") if isinstance(item, dict) else ""
        link = item.get("orderLinkId", "") if isinstance(item, dict) else ""
        entry: Json = {
            "category": category.value,
            "symbol": symbol,
            "orderId": "",
            "orderLinkId": link,
        }
        try:
            if not isinstance(item, dict):
                raise errors.params("params error: each request item must be an object")
            if index >= call.granted:
                raise SimError(errors.RATE_LIMIT, "Too many visits. Exceeded the API Rate Limit.")
            order, item_changes = operation(category, item, call.uid)
            changes.merge(item_changes)
            entry.update(_ids(order))
            if created:
                entry["createAt"] = str(order.created)
                call.state.receipts.received(order.order_id, received_ns)
            infos.append({"code": 0, "msg": "OK"})
        except SimError as exc:
            if created:
                entry["createAt"] = ""
            infos.append({"code": exc.code, "msg": exc.msg})
            call.state.item_codes[exc.code] += 1
        results.append(entry)
    call.state.publish(changes)
    return Reply({"list": results}, {"list": infos})


def create_batch(call: Call) -> Reply:
    """POST /v5/order/create-batch: per-order results in result.list and retExtInfo.list.
    Every order created gets the batch request's receipt time."""
    return _batch(call, call.state.exchange.place, created=True)


def amend_batch(call: Call) -> Reply:
    """POST /v5/order/amend-batch."""
    return _batch(call, call.state.exchange.amend, created=False)


def cancel_batch(call: Call) -> Reply:
    """POST /v5/order/cancel-batch."""
    return _batch(call, call.state.exchange.cancel, created=False)


def set_dcp(call: Call) -> Reply:
    """POST /v5/order/disconnected-cancel-all {product?, timeWindow: 3..300}."""
    product = call.params.get("product") or "OPTIONS"
    if product not in PRODUCTS:
        raise errors.params(f"params error: product {product!r} is invalid: expected {PRODUCTS}")
    if call.params.get("timeWindow") in (None, ""):
        raise errors.params("params error: timeWindow is required")
    window = integer(call.params, "timeWindow", 10, 3, 300)
    call.state.dcp.configure(call.uid or call.state.exchange.default_uid, product, window)
    return Reply({}, msg="success")
