"""Apply what the venue reports (order snapshots, executions) to the records, and publish it.

Used by the private-stream lease holder for every push and reconnect snapshot, and by
reconciliation for what it finds. Each call is one batch: one read of the records, one
compare-and-set round trip, one claim per execution, one `publish_many`.

Fills are published exactly once per venue execId, before the records take them: the
exposure ledger's `record_fills` claims the execId (`FILL_NAMESPACE`), counts the fill as
unfolded exposure and publishes `OrderFilled`, in one atomic step, so a fill is counted from
the moment it is published and no crash can leave it claimed and unpublished. Only then do
the records take the fills (`apply_fill` ignores a replay): between the two steps the fill is
counted twice (as unfolded, and in its order's open quantity), never not at all. A fill its
order refuses (an overfill: a duplicate under a new id, or a wrong order) is not published.
Dedupe does not rest on the claim's TTL alone. A fill its order's record already holds
(`exec_ids`, kept as long as the record) is never published again; an execution older than
`fill_replay_horizon_s` (below the claim's TTL) is never published at all, so a replay is
never mistaken for a first sighting after its claim expired. The namespace is the router's
own: positions dedupes its fold on `exec_seen_key` (namespace `exec`), and sharing it would
make positions skip every fill the router announced.

Funding settlements (executions of execType `Funding`, on no order) go the same way as
`FundingSettled`: claimed, counted as unfolded (with no units: funding moves no quantity, but
positions lag until it is folded) and published in one step, refused past the same horizon.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from libs.common import topology
from libs.common.domain.errors import DomainError
from libs.common.domain.exposure import fill_units
from libs.common.domain.ids import AccountId, ClientOrderId, Symbol, VenueId
from libs.common.domain.orders import Order, OrderStatus, apply_fill
from libs.common.messages import Envelope, FundingSettled, OrderFilled
from libs.common.metrics import FillRefusal
from libs.common.stores import OrderNotFound
from libs.common.stores.exposure import FillRecord
from libs.common.topology import keys_of
from libs.common.venue import Execution, VenueOrder
from services.router.context import RouterContext, now_ns
from services.router.tracking import Change, Tracker, count_change
from services.router.transitions import AnnounceEvents, from_venue, snapshot_reason

log = logging.getLogger(__name__)

FILL_NAMESPACE = "router-fill"
"""Idempotency namespace of the router's `OrderFilled` events (never `exec`: see above)."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    changed: int
    """Orders whose record this call changed."""
    fills: int
    """OrderFilled events this call published (execIds it claimed first)."""


FUNDING = "Funding"
"""Bybit's execType of a funding settlement."""


def is_trade(fill: Execution) -> bool:
    """A fill that moves a position (not a funding or settlement entry)."""
    return fill.qty > 0 and fill.price > 0 and fill.exec_type != FUNDING


def is_funding(entry: Execution) -> bool:
    """A funding settlement on a position: folded into P&L, never into the quantity."""
    return entry.exec_type == FUNDING and entry.price > 0


class VenueSync:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx

    async def apply(
        self, snaps: Sequence[VenueOrder], executions: Sequence[Execution]
    ) -> SyncResult:
        """Move the records as `snaps` and `executions` say; publish the events."""
        fills = self._recent([e for e in executions if is_trade(e)])
        funding = self._recent([e for e in executions if is_funding(e)])
        records = await self._records(snaps, fills)
        booked = [(f, records.get(f.venue_order_id)) for f in fills if self._bookable(f, records)]
        published = await self._publish_fills(booked, funding)
        ts = now_ns()
        tracker = Tracker()
        snap_items = [
            (tracker.add(order.client_order_id, partial(from_venue, snap=snap, ts_ns=ts)), snap)
            for snap in snaps
            if (order := records.get(snap.venue_order_id)) is not None
        ]
        fill_items = {
            fill.exec_id: tracker.add(order.client_order_id, partial(_fill, fill=fill, ts_ns=ts))
            for fill, order in booked
            if order is not None
        }
        known = {o.client_order_id: o for o in records.values()}  # just read: no second read
        reasons = {
            order.client_order_id: snapshot_reason(snap)
            for snap in snaps
            if (order := records.get(snap.venue_order_id)) is not None
        }
        results = await tracker.run(self._ctx.orders, known, AnnounceEvents(reasons))
        for index, snap in snap_items:
            self._count_snapshot(results[index], snap)
        for fill, _ in booked:
            self._count_fill(fill, _result(results, fill_items.get(fill.exec_id)))
        changed = {r.after.client_order_id for r in results if isinstance(r, Change) and r.changed}
        return SyncResult(len(changed), published)

    def _count_snapshot(self, result: Change | Exception, snap: VenueOrder) -> None:
        if isinstance(result, Change) and result.changed:
            count_change(self._ctx.metrics, result, reject_reason=snap.reject_reason)
            if result.after.status is OrderStatus.REJECTED:
                log.warning(
                    "order %s rejected by the venue: %s",
                    result.after.client_order_id,
                    snapshot_reason(snap),
                )

    def _recent(self, fills: list[Execution]) -> list[Execution]:
        """The fills young enough to dedupe by their execId claim (`fill_replay_horizon_s`);
        the older ones are refused and counted."""
        horizon_ms = now_ns() // 1_000_000 - int(self._ctx.settings.fill_replay_horizon_s * 1e3)
        recent: list[Execution] = []
        for fill in fills:
            if fill.exec_time_ms >= horizon_ms:
                recent.append(fill)
                continue
            self._refuse(fill, FillRefusal.TOO_OLD)
            log.error(
                "fill %s of %s executed at %d ms, before the replay horizon: not published "
                "(its claim may have expired); the position reconciliation reports the drift "
                "(reconciliation_drift{kind=position_qty})",
                fill.exec_id,
                fill.symbol,
                fill.exec_time_ms,
            )
        return recent

    def _refuse(self, fill: Execution, reason: FillRefusal) -> None:
        self._ctx.metrics.fills_refused.labels(
            account=self._ctx.account,
            venue=self._ctx.venue,
            symbol=fill.symbol,
            reason=reason.value,
        ).inc()

    def _bookable(self, fill: Execution, records: dict[str, Order]) -> bool:
        """May the fill be published? Not when its order already holds it (booked: published
        before), nor when its order refuses it (an overfill); a fill of an order we do not
        know is published: positions still needs it."""
        order = records.get(fill.venue_order_id)
        if order is None:
            return True
        if fill.exec_id in order.exec_ids:
            return False
        try:
            apply_fill(order, fill.exec_id, fill.qty, fill.price, ts_ns=now_ns())
        except DomainError as error:
            self._refuse(fill, FillRefusal.OVERFILL)
            log.error("fill %s not booked on its order: %s", fill.exec_id, error)
            return False
        return True

    def _count_fill(self, fill: Execution, result: Change | Exception | None) -> None:
        if isinstance(result, Change) and result.changed:
            count_change(self._ctx.metrics, result)
        elif isinstance(result, Exception) and not isinstance(result, OrderNotFound):
            log.error("fill %s published, not booked on its order: %s", fill.exec_id, result)

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
        self, fills: Sequence[tuple[Execution, Order | None]], funding: Sequence[Execution]
    ) -> int:
        """Claim, count and publish each fill and funding settlement once
        (`ExposureLedger.record_fills`); returns the fills published."""
        if not fills and not funding:
            return 0
        account = self._ctx.account
        claims = keys_of(account)  # each account's execIds are claimed under its own keys
        records = [
            FillRecord(
                symbol=Symbol(fill.symbol),
                exec_id=fill.exec_id,
                side=fill.side,
                units=fill_units(fill.qty, fill.price),
                claim_key=claims.idempotency(FILL_NAMESPACE, fill.exec_id),
                event=Envelope.wrap(_filled(fill, order, account, self._ctx.venue)).to_json(),
            )
            for fill, order in fills
        ]
        records += [
            FillRecord(
                symbol=Symbol(entry.symbol),
                exec_id=entry.exec_id,
                side=entry.side,
                units=0,
                claim_key=claims.idempotency(FILL_NAMESPACE, entry.exec_id),
                event=Envelope.wrap(_settled(entry, account, self._ctx.venue)).to_json(),
            )
            for entry in funding
        ]
        won = await self._ctx.ledger.record_fills(
            records,
            to=topology.ORDERS_EVENTS,
            claim_ttl_ms=int(self._ctx.settings.fill_dedupe_ttl_s * 1000),
            now_ms=now_ns() // 1_000_000,
        )
        if settled := sum(won[len(fills) :]):
            log.info("%d funding settlement(s) published", settled)
        claimed = [item for item, first in zip(fills, won[: len(fills)], strict=True) if first]
        for fill, order in claimed:
            if order is not None:
                latency_s = max(0.0, fill.exec_time_ms / 1000 - order.created_ts_ns / 1e9)
                self._ctx.metrics.fill_latency.labels(
                    account=self._ctx.account, venue=self._ctx.venue, symbol=fill.symbol
                ).observe(latency_s)
        return len(claimed)


def _result(results: Sequence[Change | Exception], index: int | None) -> Change | Exception | None:
    return None if index is None else results[index]


def _fill(order: Order, *, fill: Execution, ts_ns: int) -> Order:
    return apply_fill(order, fill.exec_id, fill.qty, fill.price, ts_ns=ts_ns)


def _settled(entry: Execution, account: AccountId, venue: VenueId) -> FundingSettled:
    return FundingSettled(
        account=account,
        venue=venue,
        symbol=Symbol(entry.symbol),
        exec_id=entry.exec_id,
        amount=entry.fee,
        rate=entry.fee_rate,
        position_qty=entry.qty * entry.side.sign,
        mark_price=entry.price,
        ts_event_ns=entry.exec_time_ms * 1_000_000,
    )


def _filled(
    fill: Execution, order: Order | None, account: AccountId, venue: VenueId
) -> OrderFilled:
    client_order_id: ClientOrderId | None = (
        order.client_order_id if order is not None else fill.client_order_id
    )
    return OrderFilled(
        account=account,
        venue=venue,
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
