"""Reconciliation: the venue is the truth after any doubt.

At start and every `reconcile_interval_s`, the instance holding the lease `RECONCILE_LEASE`
compares, per symbol, the venue's open orders with the open-order index:

    venue open, no record          ADOPT: a New record from the snapshot (its orderLinkId,
                                   or `v-<orderId>`), then its fills from the executions
    venue open, record terminal    cancelled at the venue: we consider it dead
    venue open, record open        the snapshot applied (acks a Pending or Sending,
                                   settles an amend); a PendingCancel older than
                                   `pending_check_s` is cancelled again, a PendingAmend the
                                   venue did not take is rejected
    record open, not at the venue  SETTLED from `get_order`: its fills, then its final state;
                                   a Pending or Sending the venue does not know is Rejected
                                   "not at venue" once older than `pending_grace_s`
                                   (younger: in flight)

and sets `reconciliation_drift{kind="open_orders", symbol}` to the orders found on one side
only and `{kind="executions"}` to the fills it had to publish itself; each pass replaces
`ORDER_DRIFT_KEY` with the same counts per symbol, for the console. While trading is
FROZEN (the send barrier closed), whatever it finds open at the venue is cancelled first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis

from libs.common.domain.ids import ClientOrderId, Symbol, VenueOrderId
from libs.common.domain.orders import (
    UNACKNOWLEDGED_STATUSES,
    Order,
    OrderEventKind,
    OrderStatus,
    apply_event,
    is_terminal,
    reject,
)
from libs.common.messages import Envelope, OrderAmendRejected
from libs.common.metrics import DriftKind
from libs.common.stores._support import replace_hash
from libs.common.tasks import cancel_and_wait
from libs.common.topology import ORDER_DRIFT_KEY, ORDERS_EVENTS
from libs.common.venue import CancelOrder, Execution, VenueOrder
from services.router.context import Outgoing, RouterContext, now_ns
from services.router.gate import REFUSED_CODE
from services.router.sync import VenueSync
from services.router.tracking import Change, Tracker, changes_only, count_change
from services.router.transitions import AnnounceEvents, adopted_order, order_events

log = logging.getLogger(__name__)

RECONCILE_LEASE = "reconcile"
"""Lease name (`lease_key`) of the instance that reconciles."""
NOT_AT_VENUE = "not_at_venue"


@dataclass(frozen=True, slots=True)
class Drift:
    """What one reconciliation of a symbol found and did."""

    adopted: int = 0
    settled: int = 0
    stray: int = 0
    """Open at the venue although our record is terminal: cancelled there."""
    fills: int = 0

    @property
    def open_orders(self) -> int:
        return self.adopted + self.settled + self.stray

    def to_json(self, checked_ms: int) -> str:
        """This drift as a field of `ORDER_DRIFT_KEY`."""
        counts = {"open_orders": self.open_orders, "executions": self.fills}
        return json.dumps(counts | {"checked_ms": checked_ms}, separators=(",", ":"))


async def write_drift(
    redis: Redis, drift: Mapping[Symbol, Drift], *, checked_ms: int, key: str = ORDER_DRIFT_KEY
) -> None:
    """Replace `key` (`ORDER_DRIFT_KEY`, an account's scoped name of it) with one pass's counts
    per symbol, in one transaction."""
    fields: dict[str, str | int] = {s: d.to_json(checked_ms) for s, d in drift.items()}
    await replace_hash(redis, key, fields)


class Reconciler:
    """Reconciles while holding its lease (a Runner); `run_once` for one pass."""

    def __init__(self, ctx: RouterContext, sync: VenueSync) -> None:
        self._ctx = ctx
        self._sync = sync
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router:reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(Exception):
            await self._ctx.leases.release(self._ctx.scoped(RECONCILE_LEASE), self._ctx.instance)

    async def _run(self) -> None:
        interval = self._ctx.settings.reconcile_interval_s
        ttl_ms = int(max(interval * 3, 10.0) * 1000)
        while True:
            try:
                lease = self._ctx.scoped(RECONCILE_LEASE)
                if await self._ctx.leases.acquire(lease, self._ctx.instance, ttl_ms):
                    await self.run_once()
            except Exception:
                log.exception("reconciliation failed; next pass in %.0f s", interval)
            await asyncio.sleep(interval)

    async def run_once(self) -> dict[Symbol, Drift]:
        """Reconcile every configured symbol; the drift found per symbol."""
        drift = {symbol: await self.reconcile(symbol) for symbol in self._ctx.settings.symbols}
        await write_drift(
            self._ctx.redis,
            drift,
            checked_ms=now_ns() // 1_000_000,
            key=self._ctx.scoped(ORDER_DRIFT_KEY),
        )
        self.passes += 1
        return drift

    async def reconcile(self, symbol: Symbol) -> Drift:
        category = self._ctx.settings.category
        gate = self._ctx.gate
        venue_open = await gate.open_orders(category, symbol)
        if venue_open and not gate.barrier.is_open:
            log.error(
                "%d order(s) open at the venue on %s while trading is FROZEN: cancelling them",
                len(venue_open),
                symbol,
            )
            await gate.cancel_all(category, symbol)
        book = OpenBook(
            [o for o in await self._ctx.orders.open_orders(symbol) if self._ctx.mine(o)]
        )
        known = [s for s in venue_open if book.match(s) is not None]
        unknown = [s for s in venue_open if book.match(s) is None]
        seen = {o.client_order_id for s in known if (o := book.match(s)) is not None}
        vanished = [o for o in book.orders if o.client_order_id not in seen]
        await self._sync.apply(known, ())
        await self._stuck(known, book)
        adopted, stray, adopted_fills = await self._unknown(symbol, unknown)
        settled, settled_fills = await self._vanished(symbol, vanished)
        drift = Drift(adopted, settled, stray, adopted_fills + settled_fills)
        self._report(symbol, drift)
        return drift

    # -- venue orders we have no open record of ------------------------------------------------

    async def _unknown(self, symbol: Symbol, snaps: list[VenueOrder]) -> tuple[int, int, int]:
        adopted = stray = 0
        adopted_snaps: list[VenueOrder] = []
        for snap in snaps:
            record = await self._record_of(snap)
            if record is not None and is_terminal(record.status):
                stray += 1
                log.error(
                    "order %s is open at the venue but %s here: cancelling it at the venue",
                    record.client_order_id,
                    record.status,
                )
                cancel = CancelOrder(
                    category=snap.category, symbol=snap.symbol, venue_order_id=snap.venue_order_id
                )
                await self._ctx.gate.cancel([cancel])
                continue
            if await self._adopt(snap):
                adopted += 1
            adopted_snaps.append(snap)
        fills = await self._fills_of(symbol, adopted_snaps)
        return adopted, stray, (await self._sync.apply((), fills)).fills if fills else 0

    async def _adopt(self, snap: VenueOrder) -> bool:
        """Write a record of `snap` with its `OrderAcknowledged`, in one step (a crash leaves
        both or neither); False when a record of it exists already."""
        order = adopted_order(
            snap, ts_ns=now_ns(), account=self._ctx.account, venue=self._ctx.venue
        )
        (event,) = order_events(_unacked(order), order)  # an open snapshot: acknowledged
        entry = Envelope.wrap(event).to_json()
        (result,) = await self._ctx.orders.create_and_send([(order, entry)], ORDERS_EVENTS)
        if isinstance(result, Exception):
            raise result
        stored, created = result
        if created:
            log.warning("adopted venue order %s as %s", snap.venue_order_id, stored.client_order_id)
        return created

    async def _record_of(self, snap: VenueOrder) -> Order | None:
        if snap.client_order_id is not None:
            record = await self._ctx.orders.get(snap.client_order_id)
            if record is not None:
                return record
        return await self._ctx.orders.find_by_venue_id(snap.venue_order_id)

    # -- open records the venue no longer lists ------------------------------------------------

    async def _vanished(self, symbol: Symbol, orders: list[Order]) -> tuple[int, int]:
        settings = self._ctx.settings
        category = settings.category
        gate = self._ctx.gate
        now = now_ns()
        found: list[VenueOrder] = []
        lost: list[Order] = []
        for order in orders:
            age_s = (now - order.updated_ts_ns) / 1e9
            if order.status in UNACKNOWLEDGED_STATUSES and age_s < settings.pending_check_s:
                continue  # in flight: its answer is on the way
            snap = await gate.find_order(
                category, symbol, order.client_order_id, order.venue_order_id
            )
            if snap is not None:
                found.append(snap)
            elif (now - order.created_ts_ns) / 1e9 >= settings.pending_grace_s:
                lost.append(order)
        fills = await self._fills_of(symbol, [s for s in found if s.cum_exec_qty > 0])
        result = await self._sync.apply(found, fills)
        return result.changed + await self._lost(lost), result.fills

    async def _lost(self, orders: list[Order]) -> int:
        """Records the venue does not know at all: a Pending or Sending was never placed
        (Rejected); an acknowledged one is past the venue's history (Canceled)."""
        tracker = Tracker()
        grace_s = self._ctx.settings.pending_grace_s
        for order in orders:
            if order.venue_order_id is None:
                reason = (
                    f"{NOT_AT_VENUE}: the venue does not know this orderLinkId "
                    f"{grace_s:g} s after it was written (pending_grace_s): never placed"
                )
                step = partial(reject, reason=reason, ts_ns=now_ns())
            else:
                step = partial(apply_event, event_kind=OrderEventKind.CANCELED, ts_ns=now_ns())
            tracker.add(order.client_order_id, step)
        announce = AnnounceEvents(reason=NOT_AT_VENUE, code=REFUSED_CODE)
        changes = changes_only(await tracker.run(self._ctx.orders, announce=announce))
        for change in changes:
            count_change(self._ctx.metrics, change, reject_reason=NOT_AT_VENUE)
        return len(changes)

    # -- open on both sides, but stuck awaiting an answer ----------------------------------------

    async def _stuck(self, known: list[VenueOrder], book: OpenBook) -> None:
        limit_ns = int(self._ctx.settings.pending_check_s * 1e9)
        pairs = [(o.client_order_id, s) for s in known if (o := book.match(s)) is not None]
        fresh = await self._ctx.orders.get_many([cid for cid, _ in pairs])  # after the sync
        events: list[Outgoing] = []
        for order, (_, snap) in zip(fresh, pairs, strict=True):
            if order is None or now_ns() - order.updated_ts_ns < limit_ns:
                continue
            if order.status is OrderStatus.PENDING_CANCEL:
                log.warning("cancel of %s unanswered; cancelling again", order.client_order_id)
                cancel = CancelOrder(
                    category=snap.category, symbol=snap.symbol, venue_order_id=snap.venue_order_id
                )
                await self._ctx.gate.cancel([cancel])
            elif order.status is OrderStatus.PENDING_AMEND:
                events += await self._amend_not_taken(order)
        await self._ctx.publish(events)

    async def _amend_not_taken(self, order: Order) -> list[Outgoing]:
        """The venue still shows the old terms of a PendingAmend: the amend did not take."""
        fn = partial(apply_event, event_kind=OrderEventKind.AMEND_REJECTED, ts_ns=now_ns())
        tracker = Tracker()
        tracker.add(order.client_order_id, fn)
        (result,) = await tracker.run(self._ctx.orders)
        if not isinstance(result, Change) or not result.changed:
            return []
        rejected = OrderAmendRejected(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            ts_event_ns=result.after.updated_ts_ns,
            code=REFUSED_CODE,
            reason="the venue still has the old terms",
            account=order.account,
            venue=order.venue,
        )
        return [(rejected, None)]

    # -- helpers -----------------------------------------------------------------------------------

    async def _fills_of(self, symbol: Symbol, snaps: list[VenueOrder]) -> list[Execution]:
        """The venue's executions of these orders (from the oldest one's creation)."""
        if not snaps:
            return []
        category = self._ctx.settings.category
        gate = self._ctx.gate
        start_ms = min(s.created_ms for s in snaps) - 1000
        ids = {s.venue_order_id for s in snaps}
        fills = await gate.query(
            category, partial(gate.venue.executions, category, symbol, start_ms)
        )
        return [f for f in fills if f.venue_order_id in ids]

    def _report(self, symbol: Symbol, drift: Drift) -> None:
        gauge = self._ctx.metrics.reconciliation_drift
        account, venue = self._ctx.account, self._ctx.venue
        gauge.labels(
            account=account, venue=venue, kind=DriftKind.OPEN_ORDERS.value, symbol=symbol
        ).set(drift.open_orders)
        gauge.labels(
            account=account, venue=venue, kind=DriftKind.EXECUTIONS.value, symbol=symbol
        ).set(drift.fills)
        if drift.open_orders or drift.fills:
            log.warning("reconciliation of %s found drift: %s", symbol, drift)


class OpenBook:
    """Our open records of a symbol, found by the venue's order id or by orderLinkId."""

    def __init__(self, orders: Sequence[Order]) -> None:
        self.orders = list(orders)
        self._by_link: dict[ClientOrderId, Order] = {o.client_order_id: o for o in orders}
        self._by_venue_id: dict[VenueOrderId, Order] = {
            o.venue_order_id: o for o in orders if o.venue_order_id is not None
        }

    def match(self, snap: VenueOrder) -> Order | None:
        found = self._by_venue_id.get(snap.venue_order_id)
        if found is None and snap.client_order_id is not None:
            found = self._by_link.get(snap.client_order_id)
        return found


def _unacked(order: Order) -> Order:
    """`order` as it was before the venue acknowledged it: to announce an adoption."""
    return order.model_copy(update={"venue_order_id": None})
