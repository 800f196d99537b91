"""The order lifecycle: one transition table, one transition function, one frozen record.

`TRANSITIONS` is the whole state machine; the `apply_*` functions check their edge with
`transition` and return a new `Order`. Filled, Canceled and Rejected are terminal, but a
Canceled order still takes late fills that executed before the cancel (Filled if they
complete it): the venue's fills are the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.domain.enums import OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.errors import InvalidFill, InvalidOrder, InvalidTransition, Overfill
from libs.common.domain.ids import (
    DEFAULT_ACCOUNT,
    DEFAULT_VENUE,
    AccountId,
    ClientOrderId,
    ExecId,
    Symbol,
    VenueId,
    VenueOrderId,
)


class OrderStatus(StrEnum):
    """Our view of an order. Pending, Sending, PendingCancel and PendingAmend await the venue."""

    PENDING = "Pending"
    """Written to the store, not yet sent by the router (unless its Sending write failed)."""
    SENDING = "Sending"
    """The router wrote it before the venue call: it may exist on the venue. A redelivery or
    reconciliation settles it by asking the venue by orderLinkId, never by inference."""
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELED = "Canceled"
    REJECTED = "Rejected"
    PENDING_CANCEL = "PendingCancel"
    PENDING_AMEND = "PendingAmend"


class OrderEventKind(StrEnum):
    """What can happen to an order: our requests and the venue's answers."""

    SEND_REQUESTED = "SendRequested"
    """The router is about to send the create (written before the venue call)."""
    ACKNOWLEDGED = "Acknowledged"
    """The venue accepted the create: retCode 0, or an order push with status New."""
    REJECTED = "Rejected"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELED = "Canceled"
    CANCEL_REJECTED = "CancelRejected"
    """The venue refused the cancel, e.g. 110001 "order not exists or too late to cancel"."""
    AMEND_REQUESTED = "AmendRequested"
    AMENDED = "Amended"
    AMEND_REJECTED = "AmendRejected"

    @property
    def label(self) -> str:
        """Human form for messages: "Cancel requested"."""
        return self.name.replace("_", " ").capitalize()


_S = OrderStatus
_E = OrderEventKind

# Why the permissive edges (tagged below) exist; venue reality, see reference/bybit-v5.md:
#   late ack    the REST create reply (retCode 0) lags the private WS push that already moved
#               the order on; the REST reply and the push New also acknowledge it twice.
#   fill race   `execution` and `order` are separate topics, unordered with each other and
#               with REST replies; a fill can execute before a cancel or amend reaches the
#               matcher, and Bybit can push Filled after it accepted a cancel.
#   late reply  the answer to an amend or cancel arrives after the push that ended the order;
#               110001 "too late to cancel / replace" is *because* it filled or was cancelled.
#   freeze      a freeze cancels every order at once (in flight, mid-amend) and may repeat it.
#   venue proof a fill of an order we ended without the venue's word (refused stale or frozen
#               while an earlier send had landed): the execution is the truth, it counts.
# Edges back to "working" lead to New; `_settle` refines New by the fills the order has.
TRANSITIONS: Mapping[tuple[OrderStatus, OrderEventKind], OrderStatus] = MappingProxyType(
    {
        (_S.PENDING, _E.ACKNOWLEDGED): _S.NEW,
        (_S.PENDING, _E.REJECTED): _S.REJECTED,
        (_S.PENDING, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,  # fill race: fill before ack
        (_S.PENDING, _E.FILLED): _S.FILLED,  # fill race: a crossing order fills before its ack
        # IOC with nothing to match, crossing PostOnly: cancelled at once, before any ack.
        (_S.PENDING, _E.CANCELED): _S.CANCELED,
        (_S.PENDING, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,  # freeze: cancel by orderLinkId
        (_S.PENDING, _E.SEND_REQUESTED): _S.SENDING,
        # resend: the venue, asked by orderLinkId, did not have it (or refused it unsent)
        (_S.SENDING, _E.SEND_REQUESTED): _S.SENDING,
        (_S.SENDING, _E.ACKNOWLEDGED): _S.NEW,
        (_S.SENDING, _E.REJECTED): _S.REJECTED,
        (_S.SENDING, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,  # fill race: fill before ack
        (_S.SENDING, _E.FILLED): _S.FILLED,  # fill race: a crossing order fills before its ack
        (_S.SENDING, _E.CANCELED): _S.CANCELED,  # IOC / PostOnly cancelled before any ack
        (_S.SENDING, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,  # freeze: cancel by orderLinkId
        (_S.NEW, _E.ACKNOWLEDGED): _S.NEW,  # late ack (the second of two)
        # retCode 0 only means "accepted"; the push can still say Rejected (risk price limit).
        (_S.NEW, _E.REJECTED): _S.REJECTED,
        (_S.NEW, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.NEW, _E.FILLED): _S.FILLED,
        (_S.NEW, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        # The venue cancels on its own: IOC rest, DCP, reduce-only, SMP, another instance.
        (_S.NEW, _E.CANCELED): _S.CANCELED,
        (_S.NEW, _E.AMEND_REQUESTED): _S.PENDING_AMEND,
        (_S.PARTIALLY_FILLED, _E.ACKNOWLEDGED): _S.PARTIALLY_FILLED,  # late ack
        (_S.PARTIALLY_FILLED, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.PARTIALLY_FILLED, _E.FILLED): _S.FILLED,
        (_S.PARTIALLY_FILLED, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_S.PARTIALLY_FILLED, _E.CANCELED): _S.CANCELED,
        (_S.PARTIALLY_FILLED, _E.AMEND_REQUESTED): _S.PENDING_AMEND,
        (_S.PENDING_CANCEL, _E.CANCELED): _S.CANCELED,
        (_S.PENDING_CANCEL, _E.CANCEL_REJECTED): _S.NEW,  # working until a push says otherwise
        # freeze, or a retry after a timeout (unknown outcome); cancels are idempotent.
        (_S.PENDING_CANCEL, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_S.PENDING_CANCEL, _E.ACKNOWLEDGED): _S.PENDING_CANCEL,  # freeze: cancelled in flight
        (_S.PENDING_CANCEL, _E.REJECTED): _S.REJECTED,  # freeze: cancelled in flight
        (_S.PENDING_CANCEL, _E.PARTIALLY_FILLED): _S.PENDING_CANCEL,  # fill race
        (_S.PENDING_CANCEL, _E.FILLED): _S.FILLED,  # fill race: the cancel lost
        (_S.PENDING_CANCEL, _E.AMENDED): _S.PENDING_CANCEL,  # freeze: cancelled mid-amend
        (_S.PENDING_CANCEL, _E.AMEND_REJECTED): _S.PENDING_CANCEL,  # freeze: cancelled mid-amend
        (_S.PENDING_AMEND, _E.AMENDED): _S.NEW,
        (_S.PENDING_AMEND, _E.AMEND_REJECTED): _S.NEW,
        (_S.PENDING_AMEND, _E.ACKNOWLEDGED): _S.PENDING_AMEND,  # late ack
        (_S.PENDING_AMEND, _E.REJECTED): _S.REJECTED,  # as New -> Rejected, amend in flight
        (_S.PENDING_AMEND, _E.PARTIALLY_FILLED): _S.PENDING_AMEND,  # fill race
        (_S.PENDING_AMEND, _E.FILLED): _S.FILLED,  # fill race: the amend lost
        (_S.PENDING_AMEND, _E.CANCELED): _S.CANCELED,  # the venue cancels on its own
        (_S.PENDING_AMEND, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,  # freeze never waits
        (_S.FILLED, _E.ACKNOWLEDGED): _S.FILLED,  # late ack: a crossing order filled at once
        (_S.FILLED, _E.CANCEL_REJECTED): _S.FILLED,  # late reply: 110001 too late to cancel
        (_S.FILLED, _E.AMEND_REJECTED): _S.FILLED,  # late reply: 110001 too late to replace
        (_S.FILLED, _E.AMENDED): _S.FILLED,  # late reply: amended, then filled in full
        (_S.CANCELED, _E.ACKNOWLEDGED): _S.CANCELED,  # late ack: IOC / PostOnly cancelled
        # fill race: executed before the cancel, pushed after it; Bybit Cancelled may carry
        # fills. If late fills complete the qty the cancel never took effect: Filled wins.
        (_S.CANCELED, _E.PARTIALLY_FILLED): _S.CANCELED,
        (_S.CANCELED, _E.FILLED): _S.FILLED,
        (_S.CANCELED, _E.CANCELED): _S.CANCELED,  # late reply: cancel-all reply after the push
        (_S.CANCELED, _E.CANCEL_REJECTED): _S.CANCELED,  # late reply: someone else cancelled it
        (_S.CANCELED, _E.AMENDED): _S.CANCELED,  # late reply: amended, then cancelled
        (_S.CANCELED, _E.AMEND_REJECTED): _S.CANCELED,  # late reply: 110001 too late to replace
        (_S.REJECTED, _E.ACKNOWLEDGED): _S.REJECTED,  # late ack: the Rejected push came first
        # venue proof: the fill counts (positions get it); a full fill ends it Filled
        (_S.REJECTED, _E.PARTIALLY_FILLED): _S.REJECTED,
        (_S.REJECTED, _E.FILLED): _S.FILLED,
    }
)

TERMINAL_STATUSES = frozenset({_S.FILLED, _S.CANCELED, _S.REJECTED})
UNACKNOWLEDGED_STATUSES = frozenset({_S.PENDING, _S.SENDING})
"""Not yet acknowledged by the venue: no amend can be taken, the outcome is pending."""


def transition(status: OrderStatus, event_kind: OrderEventKind) -> OrderStatus:
    """Return the status after `event_kind`, or raise InvalidTransition if there is no edge."""
    try:
        return TRANSITIONS[(status, event_kind)]
    except KeyError:
        raise InvalidTransition(
            f"{status} -> {event_kind.label}: no such transition in the order state machine"
        ) from None


def is_terminal(status: OrderStatus) -> bool:
    """True for Filled, Canceled, Rejected. A Canceled order can still take late fills."""
    return status in TERMINAL_STATUSES


def is_open(status: OrderStatus) -> bool:
    """True while the order may be live on the venue. Pending counts: its outcome is unknown."""
    return status not in TERMINAL_STATUSES


class Order(BaseModel):
    """One order as we know it. Replace it with the `apply_*` functions, never mutate it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType
    qty: Decimal = Field(gt=0)
    price: Decimal | None = Field(default=None, gt=0)
    """Limit price; None for a Market order."""
    account: AccountId = DEFAULT_ACCOUNT
    """The account the order trades for (a record written before accounts: `default`)."""
    venue: VenueId = DEFAULT_VENUE
    """The venue the order is at (a record written before venues: `bybit`)."""
    parent_id: ClientOrderId | None = None
    """The order a smart-routed child was split from; None for an order placed as it is."""
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    requested_qty: Decimal | None = Field(default=None, gt=0)
    """The qty the client placed the order with, as sent (`qty` may since have been rounded
    by the router or amended). Never changed; None on a record written before it was kept
    and on an order adopted from the venue."""
    requested_price: Decimal | None = Field(default=None, gt=0)
    """The price the client placed it with, as sent (None for a Market order, and wherever
    `requested_qty` is None). With the terms that never change (symbol, side, type, time
    in force, reduce-only), what a repeated clientOrderId is compared with."""
    status: OrderStatus = OrderStatus.PENDING
    filled_qty: Decimal = Field(default=Decimal(0), ge=0)
    avg_fill_price: Decimal | None = Field(default=None, gt=0)
    venue_order_id: VenueOrderId | None = None
    created_ts_ns: int = Field(ge=0)
    updated_ts_ns: int = Field(ge=0)
    version: int = Field(default=0, ge=0)
    """Bumped on every change: the optimistic-locking token for the store."""
    exec_ids: frozenset[ExecId] = frozenset()
    """Fills already applied, so a replayed execution changes nothing."""
    amend_qty: Decimal | None = Field(default=None, gt=0)
    """The qty of an amend sent and not yet answered; fills may reach it before the reply."""
    amend_price: Decimal | None = Field(default=None, gt=0)
    """The price of that amend: until the venue answers, either price may be the live one."""
    risk_price: Decimal | None = Field(default=None, gt=0)
    """The price risk values the order at (its limit price, or the mark for a Market order),
    set when risk admits it: an order risk has not admitted is no exposure yet. See
    `libs.common.domain.exposure`."""
    reason: str = ""
    """Why the order was Rejected (the risk check, or the venue's code and message)."""

    @model_validator(mode="after")
    def _validate_consistent(self) -> Self:
        return self.check_consistent()

    def check_consistent(self) -> Self:
        """Raise ValueError if the fields contradict each other; `self` otherwise."""
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError("a Limit order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError(f"a Market order has no price, was {self.price}")
        if self.filled_qty > self.qty:
            raise ValueError(f"filled_qty {self.filled_qty} is above qty {self.qty}")
        if (self.filled_qty == 0) != (self.avg_fill_price is None):
            raise ValueError("avg_fill_price must be set exactly when filled_qty > 0")
        return self

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.filled_qty


def apply_event(order: Order, event_kind: OrderEventKind, *, ts_ns: int) -> Order:
    """Apply an event that carries no data: a reject, a cancel request or its answers."""
    if event_kind in _DATA_EVENTS:
        raise ValueError(f"{event_kind.label} carries data: use {_DATA_EVENTS[event_kind]}")
    if event_kind is OrderEventKind.AMEND_REJECTED:
        return _advance(order, event_kind, ts_ns, amend_qty=None, amend_price=None)
    return _advance(order, event_kind, ts_ns)


def reject(order: Order, reason: str, *, ts_ns: int) -> Order:
    """Record a rejection (by risk or the venue) and why; a Rejected order keeps its reason."""
    if order.status is OrderStatus.REJECTED:
        return order
    return _advance(order, OrderEventKind.REJECTED, ts_ns, reason=reason[:500])


def start_send(order: Order, qty: Decimal, price: Decimal | None, *, ts_ns: int) -> Order:
    """Record that the router is sending the order, with the terms it sends (rounded to the
    instrument). Written before the venue call, so that whoever finds it later knows it may
    be at the venue. A resend (Sending again) must carry the terms already sent."""
    if order.status is OrderStatus.SENDING and (qty, price) != (order.qty, order.price):
        raise InvalidOrder(
            f"order {order.client_order_id} was sent as {order.qty} @ {order.price}: "
            f"it cannot be sent again as {qty} @ {price}"
        )
    if order.status is OrderStatus.PENDING and (qty, price) != (order.qty, order.price):
        # rounding to the grid: re-validated, the terms change (not a copy)
        order = Order.model_validate(order.model_dump() | {"qty": qty, "price": price})
    return _advance(order, OrderEventKind.SEND_REQUESTED, ts_ns)


def apply_ack(order: Order, venue_order_id: VenueOrderId | None, *, ts_ns: int) -> Order:
    """Record the venue's acknowledgement and its order id."""
    return _advance(
        order,
        OrderEventKind.ACKNOWLEDGED,
        ts_ns,
        venue_order_id=order.venue_order_id or venue_order_id,
    )


def apply_cancel(order: Order, *, ts_ns: int) -> Order:
    """Record that the venue cancelled the order."""
    return _advance(order, OrderEventKind.CANCELED, ts_ns)


def apply_fill(order: Order, exec_id: ExecId, qty: Decimal, price: Decimal, *, ts_ns: int) -> Order:
    """Apply one execution. A replayed `exec_id` returns `order` unchanged.

    Raises Overfill if cumulative fills would pass the order quantity (or the quantity of
    an amend in flight): that is a duplicate under a new id or a wrong order, never a fill
    to book.
    """
    if exec_id in order.exec_ids:
        return order
    if qty <= 0 or price <= 0:
        raise InvalidFill(f"fill {exec_id}: qty {qty} and price {price} must both be positive")
    filled = order.filled_qty + qty
    cap = max(order.qty, order.amend_qty or order.qty)
    if filled > cap:
        raise Overfill(
            f"order {order.client_order_id}: fill {exec_id} of {qty} would take filled qty to "
            f"{filled}, above the order qty {cap}"
        )
    avg = price if order.avg_fill_price is None else _vwap(order, qty, price, filled)
    kind = OrderEventKind.FILLED if filled == cap else OrderEventKind.PARTIALLY_FILLED
    return _advance(
        order,
        kind,
        ts_ns,
        # Venue reality: fills past the old qty prove an amend up took effect on the venue,
        # even though its REST reply has not arrived yet.
        qty=cap if filled > order.qty else order.qty,
        filled_qty=filled,
        avg_fill_price=avg,
        exec_ids=order.exec_ids | {exec_id},
    )


def request_amend(
    order: Order, qty: Decimal | None = None, price: Decimal | None = None, *, ts_ns: int
) -> Order:
    """Record that we are sending an amend; None keeps the current qty or price.

    The venue refuses a qty at or below the filled qty (110064), so we refuse it first.
    """
    if qty is not None and qty <= order.filled_qty:
        raise InvalidOrder(
            f"amend of {order.client_order_id}: qty {qty} must be above the filled qty "
            f"{order.filled_qty}"
        )
    _check_amend_price(order, price)
    return _advance(order, OrderEventKind.AMEND_REQUESTED, ts_ns, amend_qty=qty, amend_price=price)


def admit(order: Order, risk_price: Decimal, *, ts_ns: int) -> Order:
    """Record that risk admitted a Pending order, valued at `risk_price` (see `risk_price`).

    Not a transition: the order stays Pending until the venue answers. Admitting twice is
    refused, so that an order is never counted against the limits on two decisions.
    """
    if order.status is not OrderStatus.PENDING or order.risk_price is not None:
        raise InvalidTransition(
            f"order {order.client_order_id} is {order.status}"
            f"{' and already admitted' if order.risk_price is not None else ''}: "
            "risk admits only a Pending order it has not admitted"
        )
    if risk_price <= 0:
        raise InvalidOrder(f"risk price {risk_price} is invalid: expected a positive price")
    # a copy, not a re-validation: only the (checked) risk price and the version change
    return order.model_copy(
        update={"risk_price": risk_price, "updated_ts_ns": ts_ns, "version": order.version + 1}
    )


def reserve_amend(
    order: Order, qty: Decimal | None = None, price: Decimal | None = None, *, ts_ns: int
) -> Order:
    """Record the terms of an amend risk admitted, before the router sends it.

    Not a transition: until the venue answers, the order counts as exposure at the larger of
    its current and its amended terms (`amend_qty`, `amend_price`), so an amend up is
    reserved before it can take effect. The router's `request_amend` then moves the order
    to PendingAmend with the same terms; `drop_amend` clears terms that were never sent.
    """
    if is_terminal(order.status) or order.status in UNACKNOWLEDGED_STATUSES:
        raise InvalidTransition(
            f"order {order.client_order_id} is {order.status}: only an order the venue "
            "acknowledged and that has not ended can take an amend"
        )
    if qty is not None and qty <= order.filled_qty:
        raise InvalidOrder(
            f"amend of {order.client_order_id}: qty {qty} must be above the filled qty "
            f"{order.filled_qty}"
        )
    _check_amend_price(order, price)
    return _changed(order, ts_ns, amend_qty=qty, amend_price=price)


def drop_amend(order: Order, *, ts_ns: int) -> Order:
    """Clear the terms of an amend that will not be sent (refused before the venue call).
    An order in PendingAmend keeps them: only the venue's answer ends that amend."""
    if order.status is OrderStatus.PENDING_AMEND:
        return order
    return _changed(order, ts_ns, amend_qty=None, amend_price=None)


def apply_amend(
    order: Order, qty: Decimal | None = None, price: Decimal | None = None, *, ts_ns: int
) -> Order:
    """Record an amendment the venue accepted; None keeps the current qty or price.

    The new qty must be at least the filled qty; equal means the order is now Filled
    (fills that raced the amend completed it). On a terminal order this late reply changes
    nothing but clearing `amend_qty`: the terminal record is final.
    """
    if is_terminal(order.status):  # an ended order counts nothing: its amend terms are moot
        return _advance(order, OrderEventKind.AMENDED, ts_ns, amend_qty=None)
    new_qty = order.qty if qty is None else qty
    if new_qty < order.filled_qty:
        raise InvalidOrder(
            f"amend of {order.client_order_id}: qty {new_qty} is below the filled qty "
            f"{order.filled_qty}"
        )
    _check_amend_price(order, price)
    new_price = order.price if price is None else price
    return _advance(
        order,
        OrderEventKind.AMENDED,
        ts_ns,
        qty=new_qty,
        price=new_price,
        amend_qty=None,
        amend_price=None,
        # a Limit order's value follows its price; a Market order keeps the mark it had
        risk_price=new_price if order.risk_price is not None and new_price else order.risk_price,
    )


def status_from_venue(
    venue_status: VenueOrderStatus, cum_exec_qty: Decimal, qty: Decimal
) -> OrderStatus:
    """Map a venue snapshot (REST or the `order` topic) to our status, for reconciliation."""
    if venue_status is VenueOrderStatus.REJECTED:
        return OrderStatus.REJECTED
    if cum_exec_qty >= qty:
        return OrderStatus.FILLED
    status = _VENUE_STATUSES[venue_status]
    if status is OrderStatus.NEW and cum_exec_qty > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


# Untriggered and Triggered are conditional orders waiting or firing: working for us.
# Bybit's Cancelled (derivatives) and PartiallyFilledCanceled (spot) may carry fills.
_VENUE_STATUSES: Mapping[VenueOrderStatus, OrderStatus] = MappingProxyType(
    {
        VenueOrderStatus.NEW: OrderStatus.NEW,
        VenueOrderStatus.PARTIALLY_FILLED: OrderStatus.NEW,
        VenueOrderStatus.UNTRIGGERED: OrderStatus.NEW,
        VenueOrderStatus.TRIGGERED: OrderStatus.NEW,
        VenueOrderStatus.FILLED: OrderStatus.FILLED,
        VenueOrderStatus.CANCELLED: OrderStatus.CANCELED,
        VenueOrderStatus.PARTIALLY_FILLED_CANCELED: OrderStatus.CANCELED,
        VenueOrderStatus.DEACTIVATED: OrderStatus.CANCELED,
        VenueOrderStatus.REJECTED: OrderStatus.REJECTED,
    }
)

_DATA_EVENTS: Mapping[OrderEventKind, str] = MappingProxyType(
    {
        OrderEventKind.PARTIALLY_FILLED: "apply_fill",
        OrderEventKind.FILLED: "apply_fill",
        OrderEventKind.AMEND_REQUESTED: "request_amend",
        OrderEventKind.AMENDED: "apply_amend",
    }
)


def _check_amend_price(order: Order, price: Decimal | None) -> None:
    if price is not None and (order.order_type is OrderType.MARKET or price <= 0):
        raise InvalidOrder(
            f"amend of {order.client_order_id}: price {price} is invalid for a "
            f"{order.order_type} order: expected a positive Limit price"
        )


def _vwap(order: Order, qty: Decimal, price: Decimal, filled: Decimal) -> Decimal:
    assert order.avg_fill_price is not None
    return (order.avg_fill_price * order.filled_qty + price * qty) / filled


def _settle(status: OrderStatus, filled_qty: Decimal, qty: Decimal) -> OrderStatus:
    """Refine a "working again" New by the fills the order already has, through the table."""
    if status is not OrderStatus.NEW or filled_qty == 0:
        return status
    kind = OrderEventKind.FILLED if filled_qty == qty else OrderEventKind.PARTIALLY_FILLED
    return transition(status, kind)


def _changed(order: Order, ts_ns: int, **changes: Any) -> Order:
    """`order` with `changes` and its version bumped, or `order` itself if nothing changed.

    A copy rather than a full re-validation (the hot path of every transition): the
    changed values come from validated inputs and the functions above, and the record's
    invariants are checked again on the copy."""
    if all(getattr(order, name) == value for name, value in changes.items()):
        return order
    new = order.model_copy(update=changes | {"updated_ts_ns": ts_ns, "version": order.version + 1})
    new.check_consistent()
    return new


def _advance(order: Order, kind: OrderEventKind, ts_ns: int, **changes: Any) -> Order:
    """Transition, apply `changes`, bump the version; return `order` itself if nothing changed."""
    status = transition(order.status, kind)
    changes["status"] = _settle(
        status, changes.get("filled_qty", order.filled_qty), changes.get("qty", order.qty)
    )
    return _changed(order, ts_ns, **changes)
