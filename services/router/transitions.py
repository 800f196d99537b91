"""Pure functions from what the venue says to record changes and the events they mean.

A venue order snapshot (a push on the `order` topic, or a REST answer) changes a record
through the domain functions only: `from_venue` acknowledges, cancels, rejects or applies
an amend. Fills never come from a snapshot (it has no execId): they come from executions,
one `apply_fill` each. `order_events` then reads the change between two versions of a
record as the events to publish, so whoever made a transition publishes it, once;
`AnnounceEvents` writes them in the same step as the change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial

from libs.common import topology
from libs.common.domain.enums import OrderType, TimeInForce, VenueOrderStatus
from libs.common.domain.errors import DomainError
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    ClientOrderId,
    Symbol,
    VenueId,
    VenueOrderId,
)
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    OrderStatus,
    apply_ack,
    apply_amend,
    apply_cancel,
    apply_event,
)
from libs.common.messages import (
    Envelope,
    OrderAcknowledged,
    OrderAmended,
    OrderCanceled,
    OrderEvent,
    OrderRejected,
)
from libs.common.venue import VenueOrder

CANCELED_STATUSES = frozenset(
    {
        VenueOrderStatus.CANCELLED,
        VenueOrderStatus.PARTIALLY_FILLED_CANCELED,
        VenueOrderStatus.DEACTIVATED,
    }
)
"""Venue statuses that end an order without filling it in full (it may carry fills)."""
_ID_JUNK = re.compile(r"[^A-Za-z0-9_]")
ADOPTED_PREFIX = "v-"
"""Client order id of an adopted order the venue knows without an orderLinkId."""
_CANCELED = CANCELED_STATUSES


def from_venue(order: Order, snap: VenueOrder, *, ts_ns: int) -> Order:
    """The record after the venue's view of it. Each step the state machine has no edge for
    is skipped (e.g. a late Cancelled push for a Filled order): the record already knows."""
    if snap.status is VenueOrderStatus.REJECTED:
        return _step(order, lambda o: apply_event(o, OrderEventKind.REJECTED, ts_ns=ts_ns))
    if order.venue_order_id is None:  # the venue has it: that is an acknowledgement
        order = _step(order, lambda o: apply_ack(o, snap.venue_order_id, ts_ns=ts_ns))
    if snap.status in _CANCELED:
        return _step(order, lambda o: apply_cancel(o, ts_ns=ts_ns))
    amending = order.status is OrderStatus.PENDING_AMEND
    if amending and snap.status.is_open and _terms_moved(order, snap):
        return _step(order, lambda o: apply_amend(o, qty=snap.qty, price=snap.price, ts_ns=ts_ns))
    return order


def _step(order: Order, fn: Callable[[Order], Order]) -> Order:
    try:
        return fn(order)
    except DomainError:
        return order


def lenient(fn: Callable[[Order], Order]) -> Callable[[Order], Order]:
    """`fn`, or no change where the state machine has no edge for it: for a venue answer
    that a push (or another instance) overtook, e.g. an amend reply after the order filled."""
    return partial(_step, fn=fn)


def _terms_moved(order: Order, snap: VenueOrder) -> bool:
    price = snap.price if order.order_type is OrderType.LIMIT else None
    return snap.qty != order.qty or price != order.price


def order_events(
    before: Order, after: Order, *, code: int = 0, reason: str = ""
) -> list[OrderEvent]:
    """The events the change `before` -> `after` means; `code` and `reason` explain a reject
    or a cancel. Amend and cancel refusals are reported by whoever asked (see commands)."""
    ids = {
        "client_order_id": after.client_order_id,
        "symbol": after.symbol,
        "ts_event_ns": after.updated_ts_ns,
        "account": after.account,
        "venue": after.venue,
    }
    events: list[OrderEvent] = []
    if before.venue_order_id is None and after.venue_order_id is not None:
        events.append(OrderAcknowledged(**ids, venue_order_id=after.venue_order_id))
    if after.status is not before.status:
        if after.status is OrderStatus.REJECTED:
            events.append(OrderRejected(**ids, code=code, reason=reason or "rejected"))
        elif after.status is OrderStatus.CANCELED:
            events.append(OrderCanceled(**ids, reason=reason))
    if before.status is OrderStatus.PENDING_AMEND and (after.qty, after.price) != (
        before.qty,
        before.price,
    ):
        events.append(OrderAmended(**ids, qty=after.qty, price=after.price))
    return events


class AnnounceEvents:
    """`order_events` of a record change, written in the same step as the change (an
    `Announcer` for `OrderStore.update_many`): a crash can never leave a transition without
    its events. `reasons` explain why the venue ended each order (cancelType, rejectReason);
    `reason` and `code` apply to the others."""

    stream = topology.ORDERS_EVENTS

    def __init__(
        self,
        reasons: Mapping[ClientOrderId, str] | None = None,
        *,
        reason: str = "",
        code: int = 0,
    ) -> None:
        self._reasons = reasons or {}
        self._reason = reason
        self._code = code

    def __call__(self, before: Order, after: Order) -> list[bytes]:
        reason = self._reasons.get(after.client_order_id, self._reason)
        events = order_events(before, after, code=self._code, reason=reason)
        return [Envelope.wrap(e).to_json() for e in events]


def snapshot_reason(snap: VenueOrder) -> str:
    """Why the venue ended an order, as its snapshot says (rejectReason or cancelType)."""
    if snap.status is VenueOrderStatus.REJECTED:
        return snap.reject_reason or "rejected by the venue"
    return snap.cancel_type if snap.status in _CANCELED else ""


def adopted_id(snap: VenueOrder) -> ClientOrderId:
    """The client order id of a venue order we did not place: its orderLinkId, else one made
    from the venue's order id (`v-` + its id without separators, at most 36 characters)."""
    if snap.client_order_id:
        return snap.client_order_id
    return ClientOrderId((ADOPTED_PREFIX + _ID_JUNK.sub("", snap.venue_order_id))[:36])


def adopted_order(
    snap: VenueOrder,
    *,
    ts_ns: int,
    account: AccountId = DEFAULT_ACCOUNT,
    venue: VenueId = DEFAULT_VENUE,
) -> Order:
    """A New record for an open venue order we have no record of. Its fills are applied
    afterwards from the venue's executions, one execId each. It is live at the venue, so it
    counts as exposure at once (its risk price is its limit price): nobody checked it."""
    return Order(
        client_order_id=adopted_id(snap),
        symbol=Symbol(snap.symbol),
        side=snap.side,
        order_type=snap.order_type,
        qty=snap.qty,
        price=snap.price if snap.order_type is OrderType.LIMIT else None,
        time_in_force=snap.time_in_force or TimeInForce.GTC,
        reduce_only=snap.reduce_only,
        status=OrderStatus.NEW,
        venue_order_id=VenueOrderId(snap.venue_order_id),
        risk_price=snap.price if snap.order_type is OrderType.LIMIT and snap.price else None,
        created_ts_ns=snap.created_ms * 1_000_000,
        updated_ts_ns=ts_ns,
        account=account,
        venue=venue,
    )
