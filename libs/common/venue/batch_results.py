"""How a batch item's outcome becomes its `BatchItemResult`, for both venues' batches
(`libs.common.venue.batch`, `libs.common.venue.binance.batch`)."""

from __future__ import annotations

from libs.common.venue.errors import RATE_LIMIT_CODE, RateLimited, VenueRejected
from libs.common.venue.models import BatchErrorKind, BatchItemResult, OrderAck
from libs.common.venue.outcomes import Req

Results = list[BatchItemResult | None]
"""One slot per request, in input order; None until the item is settled."""


def error_code(exc: Exception) -> int:
    """A rejection's venue code; a rate limit is the router's `RATE_LIMIT_CODE` (what it
    reads as "certainly not placed, send again"); 0 for anything else."""
    if isinstance(exc, VenueRejected):
        return exc.code
    return RATE_LIMIT_CODE if isinstance(exc, RateLimited) else 0


def item_error(req: Req, kind: BatchErrorKind, exc: Exception) -> BatchItemResult:
    """The result of an item that failed with `exc`, classed as `kind`."""
    return BatchItemResult(
        client_order_id=req.client_order_id,
        venue_order_id=getattr(req, "venue_order_id", None),
        error_kind=kind,
        code=error_code(exc),
        message=str(exc),
    )


def item_ack(req: Req, ack: OrderAck) -> BatchItemResult:
    """The result of an item the venue acknowledged (directly or recovered)."""
    return BatchItemResult(
        client_order_id=ack.client_order_id or req.client_order_id,
        venue_order_id=ack.venue_order_id,
        ack=ack,
    )


def filled(results: Results) -> list[BatchItemResult]:
    """`results` once every slot is filled."""
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]
