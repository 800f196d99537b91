"""AmendOrder: every check a place runs, and the increase reserved before it is sent.

An amend is prepared against the batch's `RiskView` like a place: the amended order (what
can still fill at the new qty, at the new price) must have a fresh mark, stay in the price
band and within the order notional; then the ledger admits it against the state, positions
lag, open-orders-free rate, inventory, total notional and daily loss checks. Admitted, the
record takes the amend's terms (`reserve_amend`): until the venue answers, the order counts
at the larger of its current and amended terms, so an amend up is reserved before it can
take effect. The admission also writes the decision (under the command's event id) and
republishes the command on `orders.approved`, in the same step.

A denial is remembered under the command's event id (`DecisionStore`), moves a record the
router already put in PendingAmend back, and publishes `OrderAmendRejected` (code
`RISK_REFUSAL_CODE`). A redelivered command finds its decision: admitted, nothing to do;
denied, the refusal is published again (consumers dedupe it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

from libs.common.batching import derive_event_id
from libs.common.domain.exposure import FROZEN_REASON, Candidate, order_units
from libs.common.domain.orders import (
    UNACKNOWLEDGED_STATUSES,
    Order,
    OrderEventKind,
    OrderStatus,
    apply_event,
    is_terminal,
    reserve_amend,
)
from libs.common.domain.risk_checks import Check, OrderIntent, TradingState, order_denial
from libs.common.messages import AmendOrder, Envelope, OrderAmendRejected
from libs.common.risk_view import RiskView
from libs.common.stores import OrderStore
from libs.common.stores.exposure import AdmitRequest
from libs.common.topology import keys_of
from services.risk.decisions import Decision, DecisionStore
from services.risk.outbox import Outbox
from services.risk.placing import Denied, Prepared, Replay

log = logging.getLogger(__name__)

RISK_REFUSAL_CODE = -1
"""`code` of a refusal by risk in a VenueRefusal event: no venue retCode is negative."""
AMEND_NAMESPACE = "risk:amend"
"""Decisions on amends are kept under the order's account's
`AccountKeys.idempotency(AMEND_NAMESPACE, event id)`."""
ADMITTED = Decision.approve().model_dump_json()


def prepare_amend(
    envelope: Envelope,
    command: AmendOrder,
    record: Order | None,
    decision: Decision | None,
    view: RiskView,
) -> Prepared:
    """The admission request of a fresh amend, or why not (see the module docstring)."""
    if decision is not None:
        return None if decision.approved else Replay()
    cid = command.client_order_id
    if record is None:
        return Denied(None, f"order {cid} is unknown: nothing to amend")
    if is_terminal(record.status) or record.status in UNACKNOWLEDGED_STATUSES:
        return Denied(None, f"order {cid} is {record.status}: nothing to amend")
    intent = amend_intent(record, command.qty, command.price)
    if isinstance(intent, str):
        return Denied(None, intent)
    if view.state is TradingState.FROZEN:  # the ledger checks it again, atomically
        return Denied(Check.TRADING_STATE, FROZEN_REASON)
    mark = view.fresh.get(record.symbol)
    if denial := order_denial(intent, mark, view.limits(record.symbol)):
        return Denied(*denial)
    try:
        admitted = reserve_amend(record, command.qty, command.price, ts_ns=view.now_ns)
    except ValueError as error:
        return Denied(None, str(error))
    candidate = Candidate(
        symbol=record.symbol,
        side=record.side,
        units=order_units(admitted),
        place=False,
        must_reduce=view.daily_loss_reached,
        venue=record.venue,
    )
    return AdmitRequest(
        candidate=candidate,
        read=record,
        admitted=admitted,
        event=envelope.to_json(),
        rate_member=f"{cid}:{envelope.event_id}",
        decision_key=keys_of(record.account).idempotency(AMEND_NAMESPACE, envelope.event_id),
        decision=ADMITTED,
    )


def amend_intent(order: Order, qty: Decimal | None, price: Decimal | None) -> OrderIntent | str:
    """The order as it would stand after the amend (what can still fill), or why it cannot."""
    new_qty = order.qty if qty is None else qty
    leaves = new_qty - order.filled_qty
    if leaves <= 0:
        return (
            f"amend of {order.client_order_id}: qty {new_qty} is not above the filled qty "
            f"{order.filled_qty}"
        )
    return OrderIntent(
        symbol=order.symbol,
        side=order.side,
        qty=leaves,
        price=order.price if price is None else price,
        reduce_only=order.reduce_only,
    )


async def deny_amends(
    denials: Sequence[tuple[Envelope, AmendOrder, Denied | None]],
    *,
    orders: OrderStore,
    decisions: DecisionStore,
    outbox: Outbox,
    now_ns: int,
) -> None:
    """Remember each denial (a replay, `None`, keeps the one remembered), move a record in
    PendingAmend back, and queue `OrderAmendRejected` for each."""
    if not denials:
        return
    fresh = [
        (env.event_id, Decision(approved=False, check=d.check, reason=d.reason))
        for env, _, d in denials
        if d is not None
    ]
    await decisions.record_many(fresh)
    kept = await decisions.get_many([env.event_id for env, _, _ in denials])
    back = partial(_amend_rejected, ts_ns=now_ns)
    results = await orders.update_many([(cmd.client_order_id, back) for _, cmd, _ in denials])
    for (envelope, command, _), decision, result in zip(denials, kept, results, strict=True):
        if isinstance(result, Exception):
            log.warning(
                "amend of %s: record not updated: %s",
                command.client_order_id,
                result,
                extra={"cid": envelope.correlation_id},
            )
        reason = decision.reason if decision is not None else "denied by risk"
        refusal = OrderAmendRejected(
            client_order_id=command.client_order_id,
            symbol=command.symbol,
            ts_event_ns=now_ns,
            code=RISK_REFUSAL_CODE,
            reason=reason,
            account=command.account,
        )
        event_id = derive_event_id(envelope.event_id, "amend-denied")
        outbox.announce(
            command.account, Envelope.wrap(refusal, envelope.correlation_id, event_id=event_id)
        )
        log.info(
            "amend of %s denied: %s",
            command.client_order_id,
            reason,
            extra={"cid": envelope.correlation_id},
        )


def _amend_rejected(order: Order, *, ts_ns: int) -> Order:
    """PendingAmend -> back to working; any other status is left (the router had not begun)."""
    if order.status is not OrderStatus.PENDING_AMEND:
        return order
    return apply_event(order, OrderEventKind.AMEND_REJECTED, ts_ns=ts_ns)
