"""Approvals of orders that may have been sent already are settled by the venue, never by
inference.

The router writes an order as Sending before the venue call (`start_send`). An approval
that finds its record still Sending was delivered before (a retry, or claimed from a
consumer that died, or redelivered after the bus lost its pending list): its router may have
died between the venue's ack and the record's write. Refusing it now (stale, frozen) would
reject an order that lives at the venue. So before anything else, each approval of a Sending
record is looked up at the venue by orderLinkId:

    found      the record adopts the venue's state (New, Filled, Cancelled, ...), written
               with the events that means (one step); the approval then only replays them
    not found  it goes on as any approval (sent again with the same orderLinkId, or refused)
    no answer  the approval fails and the bus delivers it again later

A record still Pending was never sent: the Sending write comes first, and nothing is sent
when it fails. Not found is taken as final. A claimed approval's earlier send has expired:
the claim comes after `claim_idle_s`, longer than a request's recv_window plus its timeout
(the router checks that at start). A retry by the same consumer follows an attempt that sent
nothing (not sent, or the venue could not be asked; an unknown outcome is acknowledged and
left to reconciliation), or whose record write failed after the send: then the venue has the
order (found) or refuses a second one with the same orderLinkId.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from libs.common.domain.ids import ClientOrderId, CorrelationId
from libs.common.domain.orders import Order, OrderStatus
from libs.common.venue import VenueOrder
from services.router.context import RouterContext, now_ns
from services.router.tracking import Change, Tracker, count_change
from services.router.transitions import AnnounceEvents, from_venue, snapshot_reason

if TYPE_CHECKING:
    from services.router.placing import Approved

log = logging.getLogger(__name__)


@dataclass
class Settled:
    """What asking the venue about redelivered approvals came to."""

    adopted: set[ClientOrderId] = field(default_factory=set)
    """Orders the venue had: their approvals are done."""
    unanswered: set[ClientOrderId] = field(default_factory=set)
    """Orders the venue could not be asked about: their approvals are delivered again."""


async def settle_redelivered(
    ctx: RouterContext, items: Sequence[Approved], records: dict[ClientOrderId, Order]
) -> Settled:
    """Adopt the venue's state for approvals of Sending records (`records` is updated with
    the adopted ones)."""
    asked = [
        i
        for i in items
        if (order := records.get(i.command.client_order_id)) is not None
        and order.status is OrderStatus.SENDING
    ]
    settled = Settled()
    if not asked:
        return settled
    answers = await asyncio.gather(*(_look_up(ctx, i) for i in asked), return_exceptions=True)
    tracker = Tracker()
    found: dict[ClientOrderId, VenueOrder] = {}
    ts = now_ns()
    correlations: dict[ClientOrderId, CorrelationId] = {}
    for item, answer in zip(asked, answers, strict=True):
        cid = item.command.client_order_id
        if isinstance(answer, BaseException):
            log.warning(
                "redelivered order %s: the venue could not be asked: %s",
                cid,
                answer,
                extra={"cid": item.envelope.correlation_id},
            )
            settled.unanswered.add(cid)
        elif answer is not None:
            found[cid] = answer
            correlations[cid] = item.envelope.correlation_id
            tracker.add(cid, partial(from_venue, snap=answer, ts_ns=ts))
    if not found:
        return settled
    settled.adopted = set(found)
    known = {c: records[c] for c in found}
    announce = AnnounceEvents({c: snapshot_reason(s) for c, s in found.items()})
    for result in await tracker.run(ctx.orders, known, announce):
        if isinstance(result, Change) and result.changed:
            cid = result.after.client_order_id
            records[cid] = result.after
            count_change(ctx.metrics, result)
            log.warning(
                "redelivered order %s was at the venue (%s): record adopted %s",
                cid,
                found[cid].status,
                result.after.status,
                extra={"cid": correlations[cid]},
            )
    return settled


async def _look_up(ctx: RouterContext, item: Approved) -> VenueOrder | None:
    command = item.command
    return await ctx.gate.find_order(command.category, command.symbol, command.client_order_id)
