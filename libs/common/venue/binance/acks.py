"""How the venue's answers become acks: pure helpers of the outcome policy (`venue`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from libs.common.domain.ids import VenueOrderId
from libs.common.venue.binance.answer import Answer
from libs.common.venue.errors import (
    AuthenticationFailed,
    IpBanned,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from libs.common.venue.models import AmendOrder, CancelOrder, OrderAck, PlaceOrder, VenueOrder
from libs.common.venue.wire import link_id

Req = PlaceOrder | AmendOrder | CancelOrder
Params = Mapping[str, Any]


def ids_of(req: Req) -> tuple[str | None, str | None]:
    """(client order id, venue order id) of a request."""
    if isinstance(req, PlaceOrder):
        return req.client_order_id, None
    return req.client_order_id, req.venue_order_id


def ack_of(req: Req, answer: Answer, attempts: int) -> OrderAck:
    """The ack of a direct answer (an order object)."""
    coid, voi = ids_of(req)
    data = answer.obj
    return OrderAck(
        category=req.category,
        symbol=req.symbol,
        client_order_id=link_id(data.get("clientOrderId")) or link_id(coid),
        venue_order_id=VenueOrderId(str(data.get("orderId") or voi or "")),
        attempts=attempts,
    )


def recovered(found: VenueOrder, attempts: int) -> OrderAck:
    """The ack of an outcome learned by looking the order up; `order` is what was found."""
    return OrderAck(
        category=found.category,
        symbol=found.symbol,
        client_order_id=found.client_order_id,
        venue_order_id=found.venue_order_id,
        recovered=True,
        attempts=attempts,
        order=found,
    )


def did_not_act(exc: VenueError) -> bool:
    """Was the request certainly refused before the venue acted on it?"""
    if isinstance(exc, VenueUnavailable):
        return not exc.sent
    return isinstance(exc, RateLimited | IpBanned | AuthenticationFailed)


def carries(found: VenueOrder, params: Params) -> bool:
    """Does the order already carry the amend's quantity and price?"""
    return found.qty == Decimal(params["quantity"]) and found.price == Decimal(params["price"])
