"""How Binance's answers become acks: pure helpers of the outcome policy (`venue`), besides
those both venues share (`libs.common.venue.outcomes`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from libs.common.venue.binance.answer import Answer
from libs.common.venue.errors import (
    AuthenticationFailed,
    IpBanned,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from libs.common.venue.models import OrderAck, VenueOrder
from libs.common.venue.outcomes import Req, answered

Params = Mapping[str, Any]


def ack_of(req: Req, answer: Answer, attempts: int) -> OrderAck:
    """The ack of a direct answer (an order object)."""
    data = answer.obj
    return answered(req, data.get("clientOrderId"), data.get("orderId"), attempts)


def did_not_act(exc: VenueError) -> bool:
    """Was the request certainly refused before the venue acted on it?"""
    if isinstance(exc, VenueUnavailable):
        return not exc.sent
    return isinstance(exc, RateLimited | IpBanned | AuthenticationFailed)


def carries(found: VenueOrder, params: Params) -> bool:
    """Does the order already carry the amend's quantity and price?"""
    return found.qty == Decimal(params["quantity"]) and found.price == Decimal(params["price"])
