"""Apply what the venue reports (order snapshots, executions) to the records, and publish it.

Used by the private-stream lease holder for every push and reconnect snapshot, and by
reconciliation for what it finds. Each call is one batch: one read of the records, one
compare-and-set round trip, one claim per execution, one `publish_many`.

Fills are published exactly once per venue execId: the record takes each execId once
(`apply_fill` ignores a replay, and refuses an overfill), and `OrderFilled` is published only
by the caller whose claim of the execId in `FILL_NAMESPACE` succeeded. That namespace is the
router's own: positions dedupes its fold on `exec_seen_key` (namespace `exec`), and sharing it
would make positions skip every fill the router announced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from libs.common.domain.ids import ClientOrderId, Symbol
from libs.common.domain.orders import Order, apply_fill
from libs.common.messages import OrderFilled
from libs.common.stores import OrderNotFound
from libs.common.venue import Execution, VenueOrder
from services.router.context import Outgoing, RouterContext, now_ns
from services.router.tracking import Change, Tracker, count_change
from services.router.transitions import from_venue, order_events, snapshot_reason

log = logging.getLogger(__name__)

FILL_NAMESPACE = "router-fill"
"""Idempotency namespace of the router's `OrderFilled` events (never `exec`: see above)."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    changed: int
    """Orders whose record this call changed."""
    fills: int
    """OrderFilled events this call published (execIds it claimed first)."""


def is_trade(fill: Execution) -> bool:
    """A fill that moves a position (not a funding or settlement entry)."""
    return fill.qty > 0 and fill.price > 0 and fill.exec_type != "Funding"


class VenueSync:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx

    async def apply(
        self, snaps: Sequence[VenueOrder], executions: Sequence[Execution]
    ) -> SyncResult:
        """Move the records as `snaps` and `executions` say; publish the events."""
        fills = [e for e in executions if is_trade(e)]
        records = await self._records(snaps, fills)
        ts = now_ns()
        tracker = Tracker()
        snap_items = [
            (tracker.add(order.client_order_id, partial(from_venue, snap=snap, ts_ns=ts)), snap)
            for snap in snaps
            if (order := records.get(snap.venue_order_id)) is not None
        ]
        fill_items = {
            fill.exec_id: tracker.add(order.client_order_id, partial(_fill, fill=fill, ts_ns=ts))
            for fill in fills
            if (order := records.get(fill.venue_order_id)) is not None
        }
        results = await tracker.run(self._ctx.orders)
        events: list[Outgoing] = []
        for index, snap in snap_items:
            events += self._snapshot_events(results[index], snap)
        booked = [
            (fill, records.get(fill.venue_order_id))
            for fill in fills
            if self._booked(fill, _result(results, fill_items.get(fill.exec_id)))
        ]
        published = await self._publish_fills(events, booked)
        changed = {r.after.client_order_id for r in results if isinstance(r, Change) and r.changed}
        return SyncResult(len(changed), published)

    def _snapshot_events(self, result: Change | Exception, snap: VenueOrder) -> list[Outgoing]:
        if not isinstance(result, Change) or not result.changed:
            return []
        count_change(self._ctx.metrics, result, reject_reason=snap.reject_reason)
        events = order_events(result.before, result.after, reason=snapshot_reason(snap))
        return [(event, None) for event in events]

    def _booked(self, fill: Execution, result: Change | Exception | None) -> bool:
        """Is the fill to be published? Not when its order refused it (an overfill)."""
        if isinstance(result, Change):
            if result.changed:
                count_change(self._ctx.metrics, result)
            return True
        if isinstance(result, Exception) and not isinstance(result, OrderNotFound):
            log.error("fill %s not booked on its order: %s", fill.exec_id, result)
            return False
        return True  # not our order (or no longer stored): positions still needs it

    async def _records(
        self, snaps: Sequence[VenueOrder], fills: Sequence[Execution]
    ) -> dict[str, Order]:
        """Our record of each venue order, by the venue's order id: by orderLinkId first,
        then by the venue id an ack recorded."""
        wanted = {s.venue_order_id: s.client_order_id for s in snaps}
        wanted |= {f.venue_order_id: f.client_order_id for f in fills}
        by_link = [cid for cid in set(wanted.values()) if cid is not None]
        found = {o.client_order_id: o for o in await self._ctx.orders.get_many(by_link) if o}
        records: dict[str, Order] = {}
        for venue_id, cid in wanted.items():
            order = found.get(cid) if cid is not None else None
            if order is None:
                order = await self._ctx.orders.find_by_venue_id(venue_id)
            if order is not None:
                records[venue_id] = order
        return records

    async def _publish_fills(
        self, events: list[Outgoing], fills: Sequence[tuple[Execution, Order | None]]
    ) -> int:
        """Claim each execId; publish the order events and the fills this call claimed."""
        ttl = self._ctx.settings.fill_dedupe_ttl_s
        idem = self._ctx.idempotency
        claims = await asyncio.gather(
            *(idem.claim(FILL_NAMESPACE, f.exec_id, ttl) for f, _ in fills)
        )
        claimed = [(f, order) for (f, order), won in zip(fills, claims, strict=True) if won]
        events = events + [(_filled(f, order), None) for f, order in claimed]
        try:
            await self._ctx.publish(events)
        except BaseException:
            await asyncio.gather(*(idem.forget(FILL_NAMESPACE, f.exec_id) for f, _ in claimed))
            raise
        for fill, order in claimed:
            if order is not None:
                latency_s = max(0.0, fill.exec_time_ms / 1000 - order.created_ts_ns / 1e9)
                self._ctx.metrics.fill_latency.labels(symbol=fill.symbol).observe(latency_s)
        return len(claimed)


def _result(results: Sequence[Change | Exception], index: int | None) -> Change | Exception | None:
    return None if index is None else results[index]


def _fill(order: Order, *, fill: Execution, ts_ns: int) -> Order:
    return apply_fill(order, fill.exec_id, fill.qty, fill.price, ts_ns=ts_ns)


def _filled(fill: Execution, order: Order | None) -> OrderFilled:
    client_order_id: ClientOrderId | None = (
        order.client_order_id if order is not None else fill.client_order_id
    )
    return OrderFilled(
        client_order_id=client_order_id,
        venue_order_id=fill.venue_order_id,
        symbol=Symbol(fill.symbol),
        exec_id=fill.exec_id,
        side=fill.side,
        qty=fill.qty,
        price=fill.price,
        fee=fill.fee,
        is_maker=fill.is_maker,
        ts_event_ns=fill.exec_time_ms * 1_000_000,
    )
