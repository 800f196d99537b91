"""PlaceOrder: what risk asks the ledger to admit, and what it does with a denial.

A place is prepared against the batch's `RiskView`: the checks that need no exposure (a
fresh mark, the price band, the order's notional) run here; the rest run in the ledger's
admission step, which also writes the admitted record (`admit`: Pending, valued at its limit
price or the mark) and publishes `OrderApproved` (under the command's event id) in the same
step. So an admission and its approval can never be separated by a crash.

A denial moves the record Pending -> Rejected with its reason, publishes `OrderDenied`
(under an event id derived from the command's), and is counted in `orders_denied_total`
by the instance whose write rejected the record.

The record tells a redelivered command what was decided: admitted (a risk price, still
Pending or moved on) leaves it; Rejected with no risk price (risk's denial) publishes the
denial again (consumers dedupe it); anything else that is not a fresh Pending is left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from libs.common.batching import derive_event_id
from libs.common.domain.exposure import FROZEN_REASON, Candidate, order_units
from libs.common.domain.orders import Order, OrderStatus, admit, reject
from libs.common.domain.risk_checks import Check, TradingState, order_denial
from libs.common.messages import Envelope, OrderApproved, OrderDenied, PlaceOrder
from libs.common.metrics import EngineMetrics
from libs.common.risk_view import RiskView
from libs.common.stores import OrderStore
from libs.common.stores.exposure import AdmitRequest
from libs.common.stores.tracking import Tracker
from services.risk.outbox import Outbox
from services.risk.rules import DENY_REASONS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Denied:
    """A command refused by risk: the check (None: nothing to check, e.g. an amend of an
    unknown order) and the reason an operator reads."""

    check: Check | None
    reason: str


class Replay:
    """A redelivered command already decided: repeat what can be repeated."""


Prepared = AdmitRequest | Denied | Replay | None
"""What to do with one command: admit it, deny it now, replay its decision, or nothing."""


def prepare_place(
    envelope: Envelope, command: PlaceOrder, record: Order, view: RiskView
) -> Prepared:
    """The admission request of a fresh place, or why not (see the module docstring)."""
    if record.status is OrderStatus.REJECTED and record.risk_price is None:
        return Replay()
    if record.status is not OrderStatus.PENDING or record.risk_price is not None:
        return None  # admitted before, or moved on without us
    if view.state is TradingState.FROZEN:  # the ledger checks it again, atomically
        return Denied(Check.TRADING_STATE, FROZEN_REASON)
    mark = view.fresh.get(record.symbol)
    if denial := order_denial(command.to_intent(), mark, view.limits(record.symbol)):
        return Denied(*denial)
    price = record.price or mark
    assert price is not None, "order_denial refuses an order without a mark"
    admitted = admit(record, price, ts_ns=view.now_ns)
    approval = Envelope.raw_json(  # the command's payload as it came, already checked
        OrderApproved,
        {"order": envelope.payload},
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
        ts_ns=view.now_ns,
    )
    candidate = Candidate(
        symbol=record.symbol,
        side=record.side,
        units=order_units(admitted),
        place=True,
        must_reduce=view.daily_loss_reached,
        venue=record.venue,
    )
    return AdmitRequest(
        candidate=candidate,
        read=record,
        admitted=admitted,
        event=approval,
        rate_member=record.client_order_id,
    )


async def deny_places(
    denials: Sequence[tuple[Envelope, PlaceOrder, Denied]],
    *,
    orders: OrderStore,
    metrics: EngineMetrics,
    outbox: Outbox,
    now_ns: int,
) -> None:
    """Reject the records with their reasons, count the rejections this call wrote, and
    queue `OrderDenied` for each."""
    if not denials:
        return
    tracker = Tracker()
    for _, command, denied in denials:
        tracker.add(command.client_order_id, partial(reject, reason=denied.reason, ts_ns=now_ns))
    results = await tracker.run(orders)
    for (envelope, command, denied), result in zip(denials, results, strict=True):
        if isinstance(result, Exception):
            log.error(
                "order %s: could not record its denial: %s",
                command.client_order_id,
                result,
                extra={"cid": envelope.correlation_id},
            )
            continue
        if result.changed and denied.check is not None:
            metrics.orders_denied.labels(
                account=command.account,
                venue=command.venue,
                symbol=command.symbol,
                side=command.side.value,
                reason=DENY_REASONS[denied.check].value,
            ).inc()
            log.info(
                "order %s denied: %s",
                command.client_order_id,
                denied.reason,
                extra={"cid": envelope.correlation_id},
            )
        outbox.announce(
            command.account, denial_event(envelope, command, result.after.reason, now_ns)
        )


def denial_event(envelope: Envelope, command: PlaceOrder, reason: str, now_ns: int) -> Envelope:
    """`OrderDenied` under an event id derived from the command's (the same on a replay)."""
    denial = OrderDenied(
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        ts_event_ns=now_ns,
        reason=reason or "denied by risk",
        account=command.account,
    )
    event_id = derive_event_id(envelope.event_id, "denied")
    return Envelope.wrap(denial, envelope.correlation_id, event_id=event_id)
