"""Placing approved orders: a batch of `OrderApproved` in, one venue call per category out.

For a batch the router reads every record in one round trip (creating any the gateway did
not write: set-if-absent on the clientOrderId), rounds each order to its instrument and
writes it as Sending, with the rounded terms, before sending (one compare-and-set round
trip: whoever finds a Sending record knows it may be at the venue). Then it sends each
category's orders in one call through the gate (`place_batch` for more than one). The
answers move the records in one compare-and-set round trip, each written with its events:

    ack            Sending -> New (venue order id)     OrderSubmitted, OrderAcknowledged
    venue reject   Sending -> Rejected (code, reason)  OrderSubmitted, OrderRejected
    frozen, circuit open, stale, invalid               OrderRejected (never sent)
    unknown        stays Sending; reconciliation settles it (never resent blindly)
    not sent       stays Sending; the message fails and the bus redelivers it

A redelivered message finds its record past Sending and sends nothing; one that finds it
Sending first asks the venue by orderLinkId (`redelivery`): the first delivery may have
placed it and died before writing the ack. After an ack the freeze key is read again: an
order that raced a freeze is cancelled at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from libs.common import topology
from libs.common.domain.errors import InvalidOrder
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.instruments import normalize_order
from libs.common.domain.orders import (
    UNACKNOWLEDGED_STATUSES,
    Order,
    OrderStatus,
    apply_ack,
    reject,
    start_send,
)
from libs.common.messages import Envelope, Message, OrderAcknowledged, OrderSubmitted
from libs.common.messages import PlaceOrder as PlaceCommand
from libs.common.metrics import Stage
from libs.common.venue import CancelOrder, InvalidOrderRequest, PlaceOrder, VenueError
from libs.common.venue.errors import RATE_LIMIT_CODE
from services.router.context import Outgoing, RouterContext, now_ns
from services.router.gate import REFUSED_CODE, Outcome, Sent
from services.router.redelivery import settle_redelivered
from services.router.tracking import Change, Tracker, count_change
from services.router.transitions import order_events

log = logging.getLogger(__name__)

STALE = "stale"
INVALID = "invalid"


class NotSent(Exception):
    """The order certainly did not reach the venue; the bus redelivers its message."""


@dataclass(frozen=True, slots=True)
class Approved:
    """One approved place of a batch: its place in the batch and its envelope."""

    index: int
    command: PlaceCommand
    envelope: Envelope
    attempt: int


@dataclass(frozen=True, slots=True)
class _Send:
    item: Approved
    order: Order
    """The record as it was sent (terms rounded)."""


class Placer:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx
        self.unknown_outcomes = 0
        """Sends whose outcome the adapter could not establish (left to reconciliation)."""

    async def handle(self, items: Sequence[Approved]) -> dict[int, Exception]:
        """Place a batch; returns the failures by batch index (the rest are done)."""
        firsts: dict[ClientOrderId, Approved] = {}
        for item in items:
            firsts.setdefault(item.command.client_order_id, item)
        records = await self._records(list(firsts.values()))
        settled = await settle_redelivered(self._ctx, list(firsts.values()), records)
        done = settled.adopted | settled.unanswered
        rest = [i for i in firsts.values() if i.command.client_order_id not in done]
        ready, refused, events = await self._prepare(rest, records)
        tracker = Tracker()
        outcomes = [(self._queue(tracker, s, r), s, r) for s, r in refused]
        for batch in _by_category(ready):
            outcomes += [(self._queue(tracker, s, r), s, r) for s, r in await self._send(batch)]
        sent_as = {s.order.client_order_id: s.order for _, s, _ in outcomes}
        announce = _Outcomes({s.order.client_order_id: (s, r) for _, s, r in outcomes})
        results = await tracker.run(self._ctx.orders, sent_as, announce)
        events += self._outcome_events(outcomes, results)
        await self._cancel_if_frozen([s for _, s, r in outcomes if r.outcome is Outcome.ACKED])
        await self._ctx.publish(events)
        failures: dict[int, Exception] = {
            i.index: NotSent(f"order {i.command.client_order_id}: the venue could not be asked")
            for i in items
            if i.command.client_order_id in settled.unanswered
        }
        for _, send, outcome in outcomes:
            if outcome.outcome is Outcome.NOT_SENT:
                cid = send.order.client_order_id
                error = NotSent(f"order {cid} was not sent: {outcome.reason}")
                failures |= {i.index: error for i in items if i.command.client_order_id == cid}
        return failures

    async def _send(self, batch: Sequence[_Send]) -> list[tuple[_Send, Sent]]:
        """Send `batch` (one category); orders the venue refused for its quota (10006, so
        certainly not placed) are sent again, paced by the shared limiter, for at most half
        of `claim_idle_s` (so that no other router claims the batch meanwhile; the gate
        neither waits for its quota nor retries past that deadline); then they fail as not
        sent and the bus redelivers them. Only an order past `max_order_age_s`
        is refused "stale": a rate limit alone never turns an order into a rejection."""
        done: list[tuple[_Send, Sent]] = []
        pending = list(batch)
        attempt = 0
        budget_s = self._ctx.settings.claim_idle_s / 2
        deadline = time.monotonic() + budget_s
        while pending:
            sent_ns = now_ns()
            self._observe(Stage.RISK_TO_SEND, (sent_ns - s.item.envelope.ts_ns for s in pending))
            sent = await self._ctx.gate.place([_venue_order(s) for s in pending], deadline=deadline)
            self._observe(Stage.SEND_TO_ACK, [now_ns() - sent_ns] * len(pending))
            again: list[_Send] = []
            for send, outcome in zip(pending, sent, strict=True):
                if outcome.outcome is not Outcome.NOT_SENT or outcome.code != RATE_LIMIT_CODE:
                    done.append((send, outcome))
                elif self._too_old(send.order):
                    why = f"{STALE}: refused by the venue's rate limit until its max age"
                    done.append((send, Sent(Outcome.REFUSED, reason=why)))
                else:
                    again.append(send)
            left_s = deadline - time.monotonic()
            if again and left_s <= 0:
                why = "refused by the venue's rate limit (10006): the bus delivers it again"
                done += [
                    (s, Sent(Outcome.NOT_SENT, reason=why, code=RATE_LIMIT_CODE)) for s in again
                ]
                again = []
            if again:
                attempt += 1
                log.warning(
                    "%d order(s) refused by the venue's rate limit (10006): sending again",
                    len(again),
                )
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0, left_s))
            pending = again
        if back := [r.reason for _, r in done if r.outcome is Outcome.NOT_SENT]:
            log.warning(
                "%d order(s) not sent within %.1f s (%s): the batch goes back to the bus",
                len(back),
                budget_s,
                back[0],
            )
        return done

    def _too_old(self, order: Order) -> bool:
        """Older than `max_order_age_s`: no longer sent (Rejected "stale")."""
        return now_ns() - order.created_ts_ns > self._ctx.settings.max_order_age_s * 1e9

    async def _records(self, items: Sequence[Approved]) -> dict[ClientOrderId, Order]:
        """The record of each order; one written now (set-if-absent) where none exists."""
        cids = [i.command.client_order_id for i in items]
        found = dict(zip(cids, await self._ctx.orders.get_many(cids), strict=True))
        missing = [i for i in items if found[i.command.client_order_id] is None]
        created = await asyncio.gather(
            *(self._ctx.orders.create(i.command.to_order(now_ns())) for i in missing)
        )
        records = {cid: o for cid, o in found.items() if o is not None}
        records |= {order.client_order_id: order for order, _ in created}
        return records

    async def _prepare(
        self, items: Sequence[Approved], records: dict[ClientOrderId, Order]
    ) -> tuple[list[_Send], list[tuple[_Send, Sent]], list[Outgoing]]:
        """Split into (to send, refused, events replayed for redeliveries); write each order
        to send as Sending, with its rounded terms, before it is sent (one round trip)."""
        ready: list[_Send] = []
        refused: list[tuple[_Send, Sent]] = []
        replayed: list[Outgoing] = []
        tracker = Tracker()
        sending: list[_Send] = []
        for item in items:
            order = records[item.command.client_order_id]
            if order.status not in UNACKNOWLEDGED_STATUSES:
                replayed += _replay(item, order)
            elif self._too_old(order):
                refused.append((_Send(item, order), Sent(Outcome.REFUSED, reason=STALE)))
            elif isinstance(terms := await self._terms(item.command, order), str):
                why = f"{INVALID}: {terms}"
                refused.append((_Send(item, order), Sent(Outcome.REFUSED, reason=why)))
            else:
                qty, price = terms
                tracker.add(order.client_order_id, partial(_start, qty=qty, price=price))
                sending.append(_Send(item, order))
        known = {s.order.client_order_id: s.order for s in sending}
        for send, result in zip(sending, await tracker.run(self._ctx.orders, known), strict=True):
            if isinstance(result, Exception):
                log.error(
                    "order %s not sent: Sending not written: %s",
                    send.order,
                    result,
                    extra={"cid": send.item.envelope.correlation_id},
                )
            elif result.after.status is OrderStatus.SENDING:  # else handled meanwhile
                ready.append(_Send(send.item, result.after))
        return ready, refused, replayed

    async def _terms(
        self, command: PlaceCommand, order: Order
    ) -> tuple[Decimal, Decimal | None] | str:
        """The order's qty and price rounded to the instrument, or why it cannot be sent."""
        try:
            rules = await self._ctx.gate.venue.rules(command.category, command.symbol)
            qty, price = normalize_order(
                rules,
                side=order.side,
                order_type=order.order_type,
                qty=order.qty,
                price=order.price,
            )
        except (InvalidOrder, InvalidOrderRequest) as exc:
            return str(exc)
        return qty, price

    def _queue(self, tracker: Tracker, send: _Send, sent: Sent) -> int:
        cid = send.order.client_order_id
        if sent.outcome is Outcome.ACKED:
            assert sent.ack is not None
            return tracker.add(
                cid, partial(apply_ack, venue_order_id=sent.ack.venue_order_id, ts_ns=now_ns())
            )
        if sent.outcome is Outcome.REJECTED:
            log.warning(
                "order %s rejected by the venue: retCode %d %s",
                cid,
                sent.code,
                sent.reason,
                extra={"cid": send.item.envelope.correlation_id},
            )
        if sent.outcome in (Outcome.REJECTED, Outcome.REFUSED):
            why = sent.reason or _reject_label(sent)
            if sent.outcome is Outcome.REJECTED and sent.code > 0:
                why = f"{sent.code}: {why}"
            return tracker.add(cid, partial(reject, reason=why, ts_ns=now_ns()))
        if sent.outcome is Outcome.UNKNOWN:
            self.unknown_outcomes += 1
            log.warning(
                "order %s: outcome unknown, left Sending for reconciliation: %s",
                cid,
                sent.reason,
                extra={"cid": send.item.envelope.correlation_id},
            )
        return -1

    def _outcome_events(
        self,
        outcomes: Sequence[tuple[int, _Send, Sent]],
        results: Sequence[Change | Exception],
    ) -> list[Outgoing]:
        """Count what this instance wrote; the events it wrote went with the writes
        (`_Outcomes`). Only an unknown outcome, which writes nothing, is announced here."""
        events: list[Outgoing] = []
        metrics = self._ctx.metrics
        for index, send, sent in outcomes:
            item = send.item
            command = item.command
            if sent.outcome in _SENT:
                series = {
                    "account": command.account,
                    "venue": command.venue,
                    "symbol": command.symbol,
                }
                metrics.order_retry_count.labels(**series).observe(sent.retries)
            if sent.outcome is Outcome.UNKNOWN:
                events.append((_submitted(send), item.envelope.correlation_id))
            if sent.outcome is Outcome.ACKED:  # intent accepted by the gateway -> venue ack
                latency_s = max(0.0, (now_ns() - send.order.created_ts_ns) / 1e9)
                metrics.order_latency.labels(
                    account=command.account, venue=command.venue, symbol=command.symbol
                ).observe(latency_s)
            result = results[index] if index >= 0 else None
            if isinstance(result, Exception):
                log.error(
                    "order %s: outcome %s not recorded: %s",
                    command.client_order_id,
                    sent.outcome,
                    result,
                    extra={"cid": item.envelope.correlation_id},
                )
            elif isinstance(result, Change) and result.changed:
                count_change(metrics, result, reject_reason=_reject_label(sent))
        return events

    def _observe(self, stage: Stage, latencies_ns: Iterable[int]) -> None:
        histogram = self._ctx.metrics.order_stage.labels(stage=stage.value)
        for latency_ns in latencies_ns:
            histogram.observe(max(0.0, latency_ns / 1e9))

    async def _cancel_if_frozen(self, sends: Sequence[_Send]) -> None:
        """Cancel the orders just acknowledged if a freeze came while they were in flight."""
        if not sends or self._ctx.gate.barrier.is_open:
            return
        log.warning("frozen while %d order(s) were in flight: cancelling them", len(sends))
        cancels = [
            CancelOrder(
                category=s.item.command.category,
                symbol=s.order.symbol,
                client_order_id=s.order.client_order_id,
            )
            for s in sends
        ]
        try:
            await self._ctx.gate.cancel(cancels)
        except VenueError:
            log.exception("cancel of orders placed during a freeze failed; the sweep retries")


_SENT = frozenset({Outcome.ACKED, Outcome.REJECTED, Outcome.UNKNOWN})


class _Outcomes:
    """The events of each place outcome's record change, written with it (`Announcer`):
    `OrderSubmitted` for an order that reached the venue, then what the change means."""

    stream = topology.ORDERS_EVENTS

    def __init__(self, outcomes: dict[ClientOrderId, tuple[_Send, Sent]]) -> None:
        self._outcomes = outcomes

    def __call__(self, before: Order, after: Order) -> list[bytes]:
        send, sent = self._outcomes[after.client_order_id]
        corr = send.item.envelope.correlation_id
        code = sent.code if sent.outcome is Outcome.REJECTED else REFUSED_CODE
        why = sent.reason or _reject_label(sent)
        events: list[Message] = [_submitted(send)] if sent.outcome in _SENT else []
        events += order_events(before, after, code=code, reason=why)
        return [Envelope.wrap(e, corr).to_json() for e in events]


def _submitted(send: _Send) -> OrderSubmitted:
    command = send.item.command
    return OrderSubmitted(
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        ts_event_ns=now_ns(),
        account=command.account,
        venue=command.venue,
    )


def _reject_label(sent: Sent) -> str:
    """`orders_rejected_total{reason}`: a bounded value (retCode, or the router's reason)."""
    if sent.outcome is Outcome.REFUSED:
        return sent.reason.split(":", 1)[0]
    return str(sent.code) if sent.code > 0 else INVALID


def _replay(item: Approved, order: Order) -> list[Outgoing]:
    """A redelivered approval of a placed order: announce its acknowledgement again, in case
    the first delivery wrote the record and died before publishing (consumers dedupe)."""
    if item.attempt == 1 or order.venue_order_id is None:
        return []
    ack = OrderAcknowledged(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        ts_event_ns=order.updated_ts_ns,
        venue_order_id=order.venue_order_id,
        account=order.account,
        venue=order.venue,
    )
    return [(ack, item.envelope.correlation_id)]


def _start(order: Order, *, qty: Decimal, price: Decimal | None) -> Order:
    return start_send(order, qty, price, ts_ns=now_ns())


def _by_category(sends: Sequence[_Send]) -> list[list[_Send]]:
    groups: dict[str, list[_Send]] = {}
    for send in sends:
        groups.setdefault(send.item.command.category, []).append(send)
    return list(groups.values())


def _venue_order(send: _Send) -> PlaceOrder:
    order, command = send.order, send.item.command
    return PlaceOrder(
        category=command.category,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        qty=order.qty,
        price=order.price,
        time_in_force=order.time_in_force,
        reduce_only=order.reduce_only,
        client_order_id=order.client_order_id,
    )
