"""AmendOrder: the amended order must pass the price band, order notional and inventory.

The order is checked as it would stand after the amend (new qty less what is filled, new
price) against a snapshot without it, and its notional must fit in the side's headroom
less the other orders' reservations. Approved: the command goes on to `orders.approved` as
it came. Denied: `OrderAmendRejected` (code `RISK_REFUSAL_CODE`) on `orders.events`, and a
record the router already moved to PendingAmend goes back with AmendRejected.

Known gap: an amend up is checked against the reservations but does not reserve the
increase, so two instances approving amends up on one side at the same instant could pass
the limit by the increases. Orders (the common case) reserve atomically.

Decisions are remembered by the command's event id, as for orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

from libs.common.batching import derive_event_id
from libs.common.domain.orders import Order, OrderEventKind, OrderStatus, apply_event, is_terminal
from libs.common.messages import AmendOrder, Envelope, OrderAmendRejected
from libs.common.risk_snapshot import RiskSnapshotReader, RiskView
from libs.common.stores import OrderStore
from services.risk.decisions import Decision, DecisionStore
from services.risk.outbox import Outbox
from services.risk.rules import amend_denial, amend_intent, with_open

log = logging.getLogger(__name__)

RISK_REFUSAL_CODE = -1
"""`code` of a refusal by risk in a VenueRefusal event: no venue retCode is negative."""

Item = tuple[Envelope, AmendOrder]


@dataclass(frozen=True, slots=True)
class _Decided:
    envelope: Envelope
    command: AmendOrder
    decision: Decision


class Amender:
    """Decides AmendOrder commands; see the module docstring."""

    def __init__(
        self, *, orders: OrderStore, reader: RiskSnapshotReader, decisions: DecisionStore
    ) -> None:
        self._orders = orders
        self._reader = reader
        self._decisions = decisions

    async def amend(self, items: Sequence[Item], outbox: Outbox, now_ns: int) -> None:
        """Decide `items` (a batch's AmendOrders, in order) and queue their messages."""
        if not items:
            return
        keys = [env.event_id for env, _ in items]
        records, known = await asyncio.gather(
            self._orders.get_many([cmd.client_order_id for _, cmd in items]),
            self._decisions.get_many(keys),
        )
        fresh = [
            (item, record)
            for item, record, decision in zip(items, records, known, strict=True)
            if decision is None
        ]
        decided = [
            _Decided(*item, decision)
            for item, decision in zip(items, known, strict=True)
            if decision is not None
        ]
        decided += await self._decide(fresh, now_ns)
        await self._apply(decided, outbox, now_ns)

    async def _decide(
        self, fresh: Sequence[tuple[Item, Order | None]], now_ns: int
    ) -> list[_Decided]:
        if not fresh:
            return []
        view = await self._reader.read(
            now_ns,
            symbols={cmd.symbol for (_, cmd), _ in fresh},
            exclude={cmd.client_order_id for (_, cmd), _ in fresh},
        )
        decisions = []
        for (_, cmd), record in fresh:
            decision, view = _check(cmd, record, view)
            decisions.append(decision)
        keyed = [(env.event_id, d) for ((env, _), _), d in zip(fresh, decisions, strict=True)]
        recorded = await self._decisions.record_many(keyed)
        return [
            _Decided(env, cmd, kept)
            for ((env, cmd), _), (kept, _) in zip(fresh, recorded, strict=True)
        ]

    async def _apply(self, decided: Sequence[_Decided], outbox: Outbox, now_ns: int) -> None:
        denied = [d for d in decided if not d.decision.approved]
        back = partial(_amend_rejected, ts_ns=now_ns)
        results = await self._orders.update_many(
            [(d.command.client_order_id, back) for d in denied]
        )
        for d, result in zip(denied, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "amend of %s: record not updated: %s", d.command.client_order_id, result
                )
        for d in decided:
            if d.decision.approved:
                outbox.approved.append(d.envelope)
                continue
            refusal = OrderAmendRejected(
                client_order_id=d.command.client_order_id,
                symbol=d.command.symbol,
                ts_event_ns=now_ns,
                code=RISK_REFUSAL_CODE,
                reason=d.decision.reason,
            )
            event_id = derive_event_id(d.envelope.event_id, "amend-denied")
            outbox.events.append(
                Envelope.wrap(refusal, d.envelope.correlation_id, event_id=event_id)
            )
            log.info("amend of %s denied: %s", d.command.client_order_id, d.decision.reason)


def _check(cmd: AmendOrder, record: Order | None, view: RiskView) -> tuple[Decision, RiskView]:
    """The decision on one amend, and the view with the order as amended if approved."""
    if record is None:
        return _refuse(f"order {cmd.client_order_id} is unknown: nothing to amend"), view
    if is_terminal(record.status):
        return _refuse(f"order {cmd.client_order_id} is {record.status}: nothing to amend"), view
    intent = amend_intent(record, cmd.qty, cmd.price)
    if isinstance(intent, str):
        return _refuse(intent), view
    own = view.reserved.get((record.symbol, record.side), {}).get(record.client_order_id, 0)
    others = view.reserved_total(record.symbol, record.side) - own
    limits = view.limits(record.symbol)
    denial = amend_denial(intent, view.snapshot, limits, reserved_by_others=others)
    if denial is not None:
        return Decision.deny(*denial), view
    return Decision.approve(), replace(view, snapshot=with_open(view.snapshot, intent))


def _refuse(reason: str) -> Decision:
    return Decision(approved=False, reason=reason)


def _amend_rejected(order: Order, *, ts_ns: int) -> Order:
    """PendingAmend -> back to working; any other status is left (the router had not begun)."""
    if order.status is not OrderStatus.PENDING_AMEND:
        return order
    return apply_event(order, OrderEventKind.AMEND_REJECTED, ts_ns=ts_ns)
