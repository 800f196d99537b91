"""Helpers of the outcome policy both venues run (`libs.common.venue.bybit` describes it):
the ids of a request, the ack of an answer or of a lookup, the lookup itself, the single
resend, and the `OutcomeUnknown` left when neither settles the outcome. Each venue keeps
its own codes and decisions."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from libs.common.domain.ids import VenueOrderId
from libs.common.venue.errors import OutcomeUnknown, VenueError
from libs.common.venue.models import AmendOrder, CancelOrder, OrderAck, PlaceOrder, VenueOrder
from libs.common.venue.port import VenuePort
from libs.common.venue.wire import link_id

Req = PlaceOrder | AmendOrder | CancelOrder
T = TypeVar("T")


def ids_of(req: Req) -> tuple[str | None, str | None]:
    """(client order id, venue order id) of a request."""
    if isinstance(req, PlaceOrder):
        return req.client_order_id, None
    return req.client_order_id, req.venue_order_id


def unknown(op: str, req: Req, reason: str) -> OutcomeUnknown:
    """`OutcomeUnknown` for `req`'s `op`: the router must reconcile the order by its ids."""
    coid, voi = ids_of(req)
    return OutcomeUnknown(op, reason, client_order_id=coid, venue_order_id=voi)


def answered(req: Req, client_order_id: Any, venue_order_id: Any, attempts: int) -> OrderAck:
    """The ack of a direct answer that names the order's ids (each may be missing: then
    the request's own)."""
    coid, voi = ids_of(req)
    return OrderAck(
        category=req.category,
        symbol=req.symbol,
        client_order_id=link_id(client_order_id) or link_id(coid),
        venue_order_id=VenueOrderId(str(venue_order_id or voi or "")),
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


async def lookup(venue: VenuePort, op: str, req: Req, reason: str) -> VenueOrder | None:
    """The order by venue order id, else client order id; OutcomeUnknown if the query
    itself fails (`reason` says why the outcome was open)."""
    coid, voi = ids_of(req)
    try:
        return await venue.get_order(
            req.category, req.symbol, coid if voi is None else None, venue_order_id=voi
        )
    except VenueError as exc:
        raise unknown(op, req, f"{reason}; the lookup failed too: {exc}") from exc


async def resent(op: str, req: Req, reason: str, send: Awaitable[T]) -> T:
    """The answer of the single resend `send`; if it cannot even be sent, the first
    outcome stays unknown."""
    try:
        return await send
    except VenueError as exc:
        raise unknown(op, req, f"{reason}; the resend failed: {exc}") from exc
