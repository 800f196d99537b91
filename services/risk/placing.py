"""PlaceOrder: check, reserve, decide, then approve or deny, a batch at a time.

For the batch's new orders (record Pending, no decision yet): one snapshot read, the pure
checks in arrival order (each approval joins the snapshot the next order is checked
against), then every approved order's reservation at once (`rules` has the formula). The
decisions are written (SET NX) before their effects, which are:

- approved: the order time is recorded for the rate check and `OrderApproved` (under the
  command's event id) goes to `orders.approved`;
- denied: the reservation is dropped if one was taken, the record moves Pending -> Rejected,
  `OrderDenied` goes to `orders.events`, and `orders_denied_total{reason}` counts it once.

A command whose order already has a decision (a redelivery) repeats that decision's
effects, which are idempotent; one whose record has moved on without a decision is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from redis.asyncio import Redis

from libs.common.batching import derive_event_id, gather_limited
from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import Order, OrderEventKind, OrderStatus, apply_event
from libs.common.domain.risk_checks import Check, pre_trade_denial
from libs.common.messages import Envelope, OrderApproved, OrderDenied, PlaceOrder
from libs.common.metrics import EngineMetrics
from libs.common.risk_snapshot import RiskSnapshotReader, record_order_times
from libs.common.stores import OrderStore, RiskStateStore
from services.risk.decisions import Decision, DecisionStore
from services.risk.outbox import Outbox
from services.risk.rules import (
    DENY_REASONS,
    inventory_headroom,
    order_notional,
    reservation_refusal,
    with_approved,
)

log = logging.getLogger(__name__)

Item = tuple[Envelope, PlaceOrder]


@dataclass(frozen=True, slots=True)
class _Decided:
    envelope: Envelope
    command: PlaceOrder
    decision: Decision
    won: bool
    """True for the handling that wrote the decision (it counts the metric)."""


@dataclass(frozen=True, slots=True)
class _Tentative:
    index: int
    notional: Decimal
    headroom: Decimal


class Placer:
    """Decides PlaceOrder commands; see the module docstring."""

    def __init__(
        self,
        *,
        redis: Redis,
        orders: OrderStore,
        risk: RiskStateStore,
        reader: RiskSnapshotReader,
        decisions: DecisionStore,
        metrics: EngineMetrics,
    ) -> None:
        self._redis = redis
        self._orders = orders
        self._risk = risk
        self._reader = reader
        self._decisions = decisions
        self._metrics = metrics

    async def place(self, items: Sequence[Item], outbox: Outbox, now_ns: int) -> None:
        """Decide `items` (a batch's PlaceOrders, in order) and queue their messages."""
        if not items:
            return
        first: dict[ClientOrderId, Item] = {}
        for env, cmd in items:  # a command repeated within the batch is decided once
            first.setdefault(cmd.client_order_id, (env, cmd))
        unique = list(first.values())
        cids = [cmd.client_order_id for _, cmd in unique]
        found, known = await asyncio.gather(
            self._orders.get_many(cids), self._decisions.get_many(cids)
        )
        records = await self._create_missing(unique, found, now_ns)
        decided: list[_Decided] = []
        fresh: list[Item] = []
        for item, record, decision in zip(unique, records, known, strict=True):
            pending = record.status is OrderStatus.PENDING
            if decision is not None and (pending or not decision.approved):
                decided.append(_Decided(*item, decision, won=False))  # repeat its effects
            elif decision is None and pending:
                fresh.append(item)
            else:  # approved and taken on by the router, or moved on without us: nothing to do
                log.info("order %s is %s: command left", record.client_order_id, record.status)
        decided += await self._decide(fresh, now_ns)
        await self._apply(decided, outbox, now_ns)

    async def _create_missing(
        self, items: Sequence[Item], records: Sequence[Order | None], now_ns: int
    ) -> list[Order]:
        """Write the Pending record of commands that arrived without one (the gateway writes
        it first; another publisher may not have)."""

        async def ensure(cmd: PlaceOrder, record: Order | None) -> Order:
            if record is not None:
                return record
            stored, _ = await self._orders.create(cmd.to_order(now_ns))
            return stored

        return await gather_limited(
            ensure(cmd, record) for (_, cmd), record in zip(items, records, strict=True)
        )

    async def _decide(self, fresh: Sequence[Item], now_ns: int) -> list[_Decided]:
        if not fresh:
            return []
        cids = {cmd.client_order_id for _, cmd in fresh}
        view = await self._reader.read(now_ns, symbols={c.symbol for _, c in fresh}, exclude=cids)
        snapshot = view.snapshot
        decisions: list[Decision] = []
        tentative: list[_Tentative] = []
        for index, (_, cmd) in enumerate(fresh):
            intent, limits = cmd.to_intent(), view.limits(cmd.symbol)
            denial = pre_trade_denial(intent, snapshot, limits, now_ns)
            if denial is not None:
                decisions.append(Decision.deny(*denial))
                continue
            mark = snapshot.marks[cmd.symbol]
            position = snapshot.positions.get(cmd.symbol, Decimal(0))
            headroom = inventory_headroom(limits, position, mark, cmd.side)
            tentative.append(_Tentative(index, order_notional(intent, mark), headroom))
            decisions.append(Decision.approve())
            snapshot = with_approved(snapshot, intent, now_ns)
        await self._reserve(fresh, tentative, decisions)
        keyed = [(cmd.client_order_id, d) for (_, cmd), d in zip(fresh, decisions, strict=True)]
        recorded = await self._decisions.record_many(keyed)
        return [
            _Decided(env, cmd, kept, won)
            for (env, cmd), (kept, won) in zip(fresh, recorded, strict=True)
        ]

    async def _reserve(
        self, fresh: Sequence[Item], tentative: Sequence[_Tentative], decisions: list[Decision]
    ) -> None:
        """Reserve every tentatively approved order; deny those the store refuses."""
        replies = await gather_limited(
            self._risk.reserve(cmd.symbol, cmd.side, cmd.client_order_id, t.notional, t.headroom)
            for t in tentative
            for cmd in (fresh[t.index][1],)
        )
        for t, reserved in zip(tentative, replies, strict=True):
            if not reserved:
                intent = fresh[t.index][1].to_intent()
                reason = reservation_refusal(intent, t.notional, t.headroom)
                decisions[t.index] = Decision.deny(Check.INVENTORY, reason)

    async def _apply(self, decided: Sequence[_Decided], outbox: Outbox, now_ns: int) -> None:
        approved = [d for d in decided if d.decision.approved]
        denied = [d for d in decided if not d.decision.approved]
        await record_order_times(
            self._redis,
            [(d.command.symbol, d.command.client_order_id, now_ns) for d in approved if d.won],
        )
        await self._deny(denied, now_ns)
        for d in approved:
            outbox.approved.append(
                Envelope.wrap(
                    OrderApproved(order=d.command),
                    d.envelope.correlation_id,
                    event_id=d.envelope.event_id,
                )
            )
        for d in denied:
            denial = OrderDenied(
                client_order_id=d.command.client_order_id,
                symbol=d.command.symbol,
                ts_event_ns=now_ns,
                reason=d.decision.reason,
            )
            event_id = derive_event_id(d.envelope.event_id, "denied")
            outbox.events.append(
                Envelope.wrap(denial, d.envelope.correlation_id, event_id=event_id)
            )

    async def _deny(self, denied: Sequence[_Decided], now_ns: int) -> None:
        """Drop reservations, reject the records, count the denials this handling decided."""
        if not denied:
            return
        cids = [d.command.client_order_id for d in denied]
        await gather_limited(self._risk.release(cid) for cid in cids)
        reject = partial(_reject, ts_ns=now_ns)
        results = await self._orders.update_many([(cid, reject) for cid in cids])
        for cid, result in zip(cids, results, strict=True):
            if isinstance(result, Exception):
                log.error("order %s: could not record its denial: %s", cid, result)
        for d in denied:
            if d.won and d.decision.check is not None:
                self._metrics.orders_denied.labels(
                    symbol=d.command.symbol,
                    side=d.command.side.value,
                    reason=DENY_REASONS[d.decision.check].value,
                ).inc()
                log.info("order %s denied: %s", d.command.client_order_id, d.decision.reason)


def _reject(order: Order, *, ts_ns: int) -> Order:
    """Pending -> Rejected; a record already Rejected (a redelivery) stays as it is."""
    if order.status is OrderStatus.REJECTED:
        return order
    return apply_event(order, OrderEventKind.REJECTED, ts_ns=ts_ns)
