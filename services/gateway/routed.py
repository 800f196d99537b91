"""Placing an order with `venue: "auto"`: route it, claim the route, place its children.

1. The order must be one the router may split: a Market order or an IOC Limit, not
   reduce-only (a venue's reduce-only applies to its own position). Else 422.
2. Its clientOrderId is the parent id (generated when absent; at most 34 characters, so
   that `{parentId}-{n}` fits): the children are `{parentId}-1`, `-2`, ... best venue first.
3. The route is planned (`smart_routing.plan_route`); a plan that no venue can take any
   part of is a 422 whose details are the verdicts.
4. The route, with the parent's terms and each child's, is claimed under the account's
   `route(parentId)` key with SET NX, before any child is written. A retry (or a concurrent
   duplicate) finds the claim: other terms are a 409; the same terms place the claimed
   children, each idempotent by its clientOrderId, so a crash between the claim and the
   children is completed by the retry and nothing is placed twice or re-routed.
5. Each child is an IOC Limit at its venue at the plan's worst price there, placed as any
   order (`placing.place_commands`): risk checks it, the router sends it to its venue. What
   no venue could take when routed (`unfilledQty`) is not placed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from libs.common.domain.enums import OrderType, TimeInForce
from libs.common.domain.ids import (
    CLIENT_ORDER_ID_MAX_LEN,
    VENUES,
    ClientOrderId,
    VenueId,
    new_client_order_id,
    parse_client_order_id,
)
from libs.common.messages import PlaceOrder
from libs.common.stores._support import text
from libs.common.topology import keys_of
from services.gateway import placing
from services.gateway.context import Gateway
from services.gateway.errors import Conflict, Invalid
from services.gateway.schemas import OrderBody
from services.gateway.schemas_route import RoutedResult, RouteView
from services.gateway.smart_routing import plan_route

MAX_CHILDREN = 9
"""At most one child per venue: `-{n}` is one digit."""
if len(VENUES) > MAX_CHILDREN:
    raise RuntimeError(f"{len(VENUES)} venues: a child's `-{{n}}` suffix has one digit")
PARENT_ID_MAX_LEN = CLIENT_ORDER_ID_MAX_LEN - 2
"""A parent id leaves room for `-{n}`."""
ROUTE_TTL_S = 7 * 24 * 3600
"""How long a parent's route is kept: a retry within it answers the same children."""


def check_routable(body: OrderBody) -> None:
    """422 unless the smart order router may split `body` (see the module docstring)."""
    if body.order_type is OrderType.LIMIT and body.time_in_force is not TimeInForce.IOC:
        raise Invalid(
            f"venue auto routes Market orders and IOC Limit orders: a {body.time_in_force} "
            "Limit order would rest, so name its venue (bybit, binance-usdm)"
        )
    if body.reduce_only:
        raise Invalid(
            "venue auto cannot route a reduce-only order: it reduces one venue's position, "
            "so name that venue"
        )


async def place_routed(gateway: Gateway, body: OrderBody, wait_ms: int | None) -> RoutedResult:
    """Route `body` and place its children (see the module docstring)."""
    check_routable(body)
    gateway.book(body.account)  # an account that is not configured: 422
    parent = body.client_order_id or _new_parent_id(gateway.settings.client_order_id_prefix)
    if len(parent) > PARENT_ID_MAX_LEN:
        raise Invalid(
            f"clientOrderId {parent} is {len(parent)} characters: an auto order's id is at most "
            f"{PARENT_ID_MAX_LEN}, so that its children's ids ({parent}-1, ...) fit in 36"
        )
    key = keys_of(body.account).route(parent)
    redis = gateway.redis
    if (claimed := await redis.get(key)) is not None:
        return await _replay(gateway, body, parent, claimed, wait_ms)
    routing = await plan_route(gateway, body.account, body.symbol, body.side, body.qty, body.price)
    plan, view = routing.plan, RouteView.of(routing)
    if not plan.children:
        details = [{"venue": v.venue, "reason": v.reason} for v in view.verdicts]
        raise Invalid(f"no venue can take any of it now: {view.summary}", details=details)
    children = [
        _child(body, parent, n, VenueId(c.venue), c.qty, c.worst_price)
        for n, c in enumerate(plan.children, start=1)
    ]
    record = {
        "terms": _terms(body),
        "route": view.model_dump(mode="json", by_alias=True),
        "children": [c.model_dump(mode="json") for c in children],
    }
    if not await redis.set(key, json.dumps(record), nx=True, ex=ROUTE_TTL_S):
        claimed = await redis.get(key)  # a duplicate claimed it first: answer its children
        return await _replay(gateway, body, parent, claimed, wait_ms)
    results = await placing.place_commands(gateway, children, wait_ms)
    return RoutedResult(parent_id=parent, route=view, children=results, created=True)


async def _replay(
    gateway: Gateway, body: OrderBody, parent: ClientOrderId, claimed: Any, wait_ms: int | None
) -> RoutedResult:
    """A parent routed before: place (again, idempotently) the children it claimed."""
    record = json.loads(text(claimed))
    if record["terms"] != _terms(body):
        differ = sorted(k for k, v in _terms(body).items() if record["terms"].get(k) != v)
        raise Conflict(
            f"clientOrderId {parent} was routed with other terms ({', '.join(differ)} differ): "
            "nothing was placed; use a new clientOrderId for a new order"
        )
    children = [PlaceOrder.model_validate(c) for c in record["children"]]
    results = await placing.place_commands(gateway, children, wait_ms)
    view = RouteView.model_validate(record["route"])
    created = any(result.created for result in results)
    return RoutedResult(parent_id=parent, route=view, children=results, created=created)


def _child(
    body: OrderBody, parent: ClientOrderId, n: int, venue: VenueId, qty: Decimal, price: Decimal
) -> PlaceOrder:
    return PlaceOrder(  # `price`: the plan never takes a level beyond the parent's limit
        client_order_id=parse_client_order_id(f"{parent}-{n}"),
        symbol=body.symbol,
        category=body.category,
        side=body.side,
        order_type=OrderType.LIMIT,
        qty=qty,
        price=price,
        time_in_force=TimeInForce.IOC,
        account=body.account,
        venue=venue,
        parent_id=parent,
    )


def _terms(body: OrderBody) -> dict[str, str | None]:
    """The parent's terms, compared on a retry (numbers as values: "0.010" is "0.01")."""
    return {
        "symbol": body.symbol,
        "side": body.side.value,
        "orderType": body.order_type.value,
        "qty": f"{body.qty.normalize():f}",
        "price": None if body.price is None else f"{body.price.normalize():f}",
        "timeInForce": body.time_in_force.value,
    }


def _new_parent_id(prefix: str) -> ClientOrderId:
    return parse_client_order_id(new_client_order_id(prefix)[:PARENT_ID_MAX_LEN])
