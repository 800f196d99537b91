"""Amend, cancel and cancel-all, as risk republishes them on `orders.approved`.

Each command writes its request on the record before the venue call, then the answer:

    amend        working -> PendingAmend; ack -> New with the new terms (OrderAmended);
                 refused, frozen or not sent -> back to working (OrderAmendRejected)
    cancel       open -> PendingCancel; the venue's push makes it Canceled. An answer that
                 the order is already final (110001 resolved by the adapter) applies that
                 state; unknown to the venue -> CancelRejected (OrderCancelRejected)
    cancel-all   every open record of the symbol -> PendingCancel, then one venue call

An amend reads the freeze key right before its venue call (in the gate); cancels never do.
An unknown outcome leaves the Pending* state for reconciliation; a call that certainly did
not reach the venue fails the message, which the bus redelivers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from libs.common.domain.errors import DomainError
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.instruments import round_price, round_qty
from libs.common.domain.orders import (
    Order,
    OrderEventKind,
    apply_amend,
    apply_event,
    drop_amend,
    is_terminal,
    request_amend,
)
from libs.common.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Envelope,
    OrderAmendRejected,
    OrderCancelRejected,
)
from libs.common.stores import OrderNotFound, UpdateFn
from libs.common.venue import CANCEL_ALL_CAP, InvalidOrderRequest, VenueError, VenueRejected
from libs.common.venue import AmendOrder as VenueAmend
from libs.common.venue import CancelOrder as VenueCancel
from services.router.context import Outgoing, RouterContext, now_ns
from services.router.gate import REFUSED_CODE, Outcome, Sent
from services.router.placing import NotSent
from services.router.tracking import Change, Tracker, count_change
from services.router.transitions import (
    CANCELED_STATUSES,
    from_venue,
    lenient,
    order_events,
    snapshot_reason,
)

log = logging.getLogger(__name__)

Command = AmendOrder | CancelOrder | CancelAllOrders


@dataclass(frozen=True, slots=True)
class Requested:
    """One amend / cancel / cancel-all of a batch."""

    index: int
    command: Command
    envelope: Envelope


class Commands:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx

    async def handle(self, items: list[Requested]) -> dict[int, Exception]:
        """Handle each command in order; returns the failures by batch index."""
        failures: dict[int, Exception] = {}
        for item in items:
            try:
                events = await self._one(item.command)
                await self._ctx.publish([(e, item.envelope.correlation_id) for e, _ in events])
            except Exception as exc:  # this message alone is retried by the bus
                failures[item.index] = exc
        return failures

    async def _one(self, command: Command) -> list[Outgoing]:
        if isinstance(command, AmendOrder):
            return await self.amend(command)
        if isinstance(command, CancelOrder):
            return await self.cancel(command)
        return await self.cancel_all(command)

    # -- amend ------------------------------------------------------------------------------

    async def amend(self, command: AmendOrder) -> list[Outgoing]:
        cid = command.client_order_id
        try:
            qty, price = await self._rounded(command)
            fn = partial(request_amend, qty=qty, price=price, ts_ns=now_ns())
            requested = await self._ctx.orders.update(cid, fn)
        except (DomainError, OrderNotFound, InvalidOrderRequest) as exc:
            await self._drop_amend(cid)
            return [_amend_rejected(command, REFUSED_CODE, str(exc))]
        sent = await self._ctx.gate.amend(
            VenueAmend(
                category=self._ctx.settings.category,
                symbol=command.symbol,
                client_order_id=cid if requested.venue_order_id is None else None,
                venue_order_id=requested.venue_order_id,
                side=requested.side,
                qty=qty,
                price=price,
            )
        )
        if sent.outcome is Outcome.UNKNOWN:
            log.warning("amend of %s: outcome unknown, left for reconciliation", cid)
            return []
        if sent.outcome is Outcome.ACKED:
            fn = partial(apply_amend, qty=qty, price=price, ts_ns=now_ns())
            return self._events(await self._update(cid, fn))
        code = sent.code if sent.outcome is Outcome.REJECTED else REFUSED_CODE
        fn = partial(apply_event, event_kind=OrderEventKind.AMEND_REJECTED, ts_ns=now_ns())
        change = await self._update(cid, fn)
        if change.changed:
            return [_amend_rejected(command, code, sent.reason or "amend rejected")]
        return []

    async def _rounded(self, command: AmendOrder) -> tuple[Decimal | None, Decimal | None]:
        """The amend's qty and price on the instrument's grid (None keeps the current)."""
        order = await self._ctx.orders.get(command.client_order_id)
        if order is None:
            raise OrderNotFound(f"order {command.client_order_id} is not in the store")
        rules = await self._ctx.gate.venue.rules(self._ctx.settings.category, command.symbol)
        qty = None if command.qty is None else round_qty(rules, command.qty)
        price = None if command.price is None else round_price(rules, order.side, command.price)
        return qty, price

    async def _drop_amend(self, cid: ClientOrderId) -> None:
        """Clear the amend terms risk reserved for an amend that will not be sent."""
        try:
            await self._update(cid, partial(drop_amend, ts_ns=now_ns()))
        except (DomainError, OrderNotFound) as exc:
            log.info("amend of %s: reserved terms not cleared: %s", cid, exc)

    # -- cancel -----------------------------------------------------------------------------

    async def cancel(self, command: CancelOrder) -> list[Outgoing]:
        cid = command.client_order_id
        record = await self._ctx.orders.get(cid)
        if record is not None and is_terminal(record.status):
            return [_cancel_rejected(command, REFUSED_CODE, f"order is already {record.status}")]
        if record is not None:
            fn = partial(apply_event, event_kind=OrderEventKind.CANCEL_REQUESTED, ts_ns=now_ns())
            record = (await self._update(cid, fn)).after
        venue_id = record.venue_order_id if record is not None else None
        (sent,) = await self._ctx.gate.cancel(
            [
                VenueCancel(
                    category=self._ctx.settings.category,
                    symbol=command.symbol,
                    client_order_id=cid if venue_id is None else None,
                    venue_order_id=venue_id,
                )
            ]
        )
        return await self._cancel_answer(command, record, sent)

    async def _cancel_answer(
        self, command: CancelOrder, record: Order | None, sent: Sent
    ) -> list[Outgoing]:
        cid = command.client_order_id
        if sent.outcome is Outcome.NOT_SENT:
            raise NotSent(f"cancel of {cid} was not sent: {sent.reason}")
        if sent.outcome is Outcome.UNKNOWN:
            log.warning("cancel of %s: outcome unknown, left for reconciliation", cid)
            return []
        final = sent.ack.order if sent.ack is not None and sent.ack.recovered else None
        if sent.outcome is Outcome.ACKED and final is None:
            return []  # accepted: the venue's push makes the record Canceled
        refusal = [_cancel_rejected(command, sent.code, sent.reason or "cancel rejected")]
        if record is None:
            return refusal if sent.outcome is not Outcome.ACKED else []
        if final is not None and final.status in CANCELED_STATUSES:
            fn = partial(from_venue, snap=final, ts_ns=now_ns())
            return self._events(await self._update(cid, fn), snapshot_reason(final))
        if final is not None:  # too late: filled (or rejected) before the cancel
            refusal = [_cancel_rejected(command, 110001, f"too late: order {final.status}")]
        fn = partial(apply_event, event_kind=OrderEventKind.CANCEL_REJECTED, ts_ns=now_ns())
        change = await self._update(cid, fn)
        return refusal if change.changed else []

    async def cancel_all(self, command: CancelAllOrders) -> list[Outgoing]:
        """Cancel the orders of the symbol that existed when the command was issued: their
        records go PendingCancel (the venue's pushes end them; reconciliation cancels again
        what stays open, and settles a never-sent Pending by asking the venue), later ones
        are left alone. At the venue, the open orders of the symbol created by then, ours or
        not, are cancelled by id when one window of the batch quota takes them all; more
        than that go by the venue's cancel-all (500 a call), which also takes what landed
        since: a big book is pulled in one round trip rather than at 10 orders a second."""
        issued_ns = command.issued_ts_ns
        tracker = Tracker()
        for order in await self._ctx.orders.open_orders(command.symbol):
            if order.created_ts_ns <= issued_ns and self._ctx.mine(order):
                fn = partial(
                    apply_event, event_kind=OrderEventKind.CANCEL_REQUESTED, ts_ns=now_ns()
                )
                tracker.add(order.client_order_id, fn)
        await tracker.run(self._ctx.orders)
        gate = self._ctx.gate
        issued_ms = gate.venue.venue_ms(issued_ns)
        try:
            listed = await gate.open_orders(command.category, command.symbol)
        except VenueRejected as exc:  # e.g. a symbol the venue does not list: final
            log.warning("cancel-all %s refused by the venue: %s", command.symbol, exc)
            return []
        except VenueError as exc:
            raise NotSent(f"cancel-all {command.symbol}: open orders not listed: {exc}") from exc
        older = [o for o in listed if o.created_ms <= issued_ms]
        if len(older) > gate.batch_window():
            return await self._cancel_everything(command)
        cancels = [
            VenueCancel(category=command.category, symbol=o.symbol, venue_order_id=o.venue_order_id)
            for o in older
        ]
        sent = await gate.cancel(cancels)
        if any(s.outcome is Outcome.NOT_SENT for s in sent):
            raise NotSent(f"cancel-all {command.symbol}: some cancels not sent")
        log.info(
            "cancel-all %s: %d of %d open order(s) cancelled at the venue (the rest are newer)",
            command.symbol,
            sum(s.outcome is Outcome.ACKED for s in sent),
            len(listed),
        )
        return []

    async def _cancel_everything(self, command: CancelAllOrders) -> list[Outgoing]:
        """The venue's cancel-all on the symbol, repeated while its cap cuts it short."""
        cancelled = 0
        while True:
            try:
                acks = await self._ctx.gate.cancel_all(command.category, command.symbol)
            except VenueError as exc:
                raise NotSent(f"cancel-all {command.symbol}: {exc}") from exc
            cancelled += len(acks)
            if len(acks) < CANCEL_ALL_CAP:
                break
        log.info("cancel-all %s: %d order(s) cancelled at the venue", command.symbol, cancelled)
        return []

    # -- helpers ----------------------------------------------------------------------------

    async def _update(self, cid: ClientOrderId, fn: UpdateFn) -> Change:
        """Record a venue answer; no change if the record has moved past it meanwhile."""
        tracker = Tracker()
        tracker.add(cid, lenient(fn))
        (result,) = await tracker.run(self._ctx.orders)
        if isinstance(result, Exception):
            raise result
        return result

    def _events(self, change: Change, reason: str = "") -> list[Outgoing]:
        if not change.changed:
            return []
        count_change(self._ctx.metrics, change)
        return [(e, None) for e in order_events(change.before, change.after, reason=reason)]


def _amend_rejected(command: AmendOrder, code: int, reason: str) -> Outgoing:
    log.warning("amend of %s refused: retCode %d %s", command.client_order_id, code, reason)
    event = OrderAmendRejected(
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        ts_event_ns=now_ns(),
        code=code,
        reason=reason,
        account=command.account,
        venue=command.venue,
    )
    return event, None


def _cancel_rejected(command: CancelOrder, code: int, reason: str) -> Outgoing:
    log.warning("cancel of %s refused: retCode %d %s", command.client_order_id, code, reason)
    event = OrderCancelRejected(
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        ts_event_ns=now_ns(),
        code=code,
        reason=reason,
        account=command.account,
        venue=command.venue,
    )
    return event, None
