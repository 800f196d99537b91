"""`mmx audit replay`: rebuild positions and the order history from the archive, into an
empty Redis.

1. Every manifest is listed and every object checked against it before anything is
   written: one mismatch and nothing is replayed (`ArchiveCorrupt`).
2. The events are read hour by hour, each event id once, in archive order (the order of
   the stream entries, so each account's `orders.events` comes back in the order positions
   folded it live). Objects written before accounts had streams of their own name the
   streams plainly (`orders.events`): they read as the same families
   (`layout.stream_family`), and each message goes to the account it names.
3. `OrderFilled` and `FundingSettled` go through `RedisPositionStore.apply_fill` /
   `apply_funding` of their account, the live service's own fold and keys
   (`mmx:{account}:position:{symbol}`, ...), so the rebuilt positions are the live ones.
4. The order history: each order's terms, final status, fills and events, as JSON at
   `archived_order_key(clientOrderId)`, indexed by `ARCHIVED_ORDERS_KEY`.

Nothing is written to the streams: services started on the rebuilt Redis would otherwise
take the history for new work (their groups read from the start).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from itertools import groupby
from typing import Any

import orjson
from redis.asyncio import Redis

from libs.common import messages as msg
from libs.common import topology
from libs.common.domain.ids import AccountId, ClientOrderId, VenueId
from libs.common.domain.orders import TERMINAL_STATUSES, OrderStatus
from libs.common.domain.positions import Position
from libs.common.stores import RedisPositionStore
from services.archive.layout import ArchiveCorrupt, ArchivedEvent, Partition, dedupe, verify
from services.archive.reader import ArchiveReader, Listing

log = logging.getLogger(__name__)

_UNACKED = (OrderStatus.PENDING, OrderStatus.SENDING)


@dataclass(slots=True)
class ArchivedFill:
    exec_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    is_maker: bool
    ts_ns: int


@dataclass(slots=True)
class OrderHistory:
    """One order as the archive tells it. `status` follows the events: Pending (asked),
    Sending (submitted), New (acknowledged), PartiallyFilled / Filled (by the fills against
    the qty placed or amended), Canceled, Rejected (by risk or the venue)."""

    client_order_id: str
    symbol: str = ""
    side: str = ""
    order_type: str = ""
    qty: Decimal | None = None
    price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    venue_order_id: str | None = None
    reason: str = ""
    fills: list[ArchivedFill] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every archived event of the order: {type, stream, entry_id, event_id, ts_ns}."""
    first_ms: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), default=str)

    def _terms(self, order: msg.PlaceOrder) -> None:
        if self.qty is None:
            self.symbol, self.side = order.symbol, order.side.value
            self.order_type, self.qty, self.price = order.order_type.value, order.qty, order.price

    def _fill(self, fill: msg.OrderFilled) -> None:
        if any(f.exec_id == fill.exec_id for f in self.fills):
            return
        self.fills.append(
            ArchivedFill(
                fill.exec_id, fill.qty, fill.price, fill.fee, fill.is_maker, fill.ts_event_ns
            )
        )
        filled = self.filled_qty + fill.qty
        previous = self.avg_fill_price
        self.avg_fill_price = (
            fill.price
            if previous is None
            else (previous * self.filled_qty + fill.price * fill.qty) / filled
        )
        self.filled_qty = filled
        self.symbol = self.symbol or fill.symbol
        self._settle_fills()

    def _settle_fills(self) -> None:
        if self.qty is not None and self.filled_qty >= self.qty:
            self.status = OrderStatus.FILLED
        elif self.filled_qty > 0 and self.status not in TERMINAL_STATUSES:
            self.status = OrderStatus.PARTIALLY_FILLED

    def apply(self, event: ArchivedEvent, message: msg.Message) -> None:
        """Fold one archived event of this order."""
        self.first_ms = self.first_ms or event.ms
        self.events.append(
            {
                "type": event.envelope.type,
                "stream": event.stream,
                "entry_id": event.entry_id,
                "event_id": event.envelope.event_id,
                "ts_ns": event.envelope.ts_ns,
            }
        )
        handler = _FOLDS.get(type(message))
        if handler is not None:
            handler(self, message)


def _placed(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.PlaceOrder)
    order._terms(m)


def _approved(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderApproved)
    order._terms(m.order)


def _denied(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderDenied)
    if order.status in _UNACKED:
        order.status, order.reason = OrderStatus.REJECTED, m.reason


def _submitted(order: OrderHistory, m: msg.Message) -> None:
    if order.status is OrderStatus.PENDING:
        order.status = OrderStatus.SENDING


def _acknowledged(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderAcknowledged)
    order.venue_order_id = order.venue_order_id or m.venue_order_id
    if order.status in _UNACKED:
        order.status = OrderStatus.NEW


def _rejected(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderRejected)
    if order.status is not OrderStatus.FILLED:
        order.status, order.reason = OrderStatus.REJECTED, f"{m.code}: {m.reason}"


def _filled(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderFilled)
    order.venue_order_id = order.venue_order_id or m.venue_order_id
    order._fill(m)


def _canceled(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderCanceled)
    if order.status is not OrderStatus.FILLED:
        order.status, order.reason = OrderStatus.CANCELED, m.reason or order.reason


def _amended(order: OrderHistory, m: msg.Message) -> None:
    assert isinstance(m, msg.OrderAmended)
    order.qty, order.price = m.qty, m.price if m.price is not None else order.price
    order._settle_fills()


_FOLDS: dict[type[msg.Message], Callable[[OrderHistory, msg.Message], None]] = {
    msg.PlaceOrder: _placed,
    msg.OrderApproved: _approved,
    msg.OrderDenied: _denied,
    msg.OrderSubmitted: _submitted,
    msg.OrderAcknowledged: _acknowledged,
    msg.OrderRejected: _rejected,
    msg.OrderFilled: _filled,
    msg.OrderCanceled: _canceled,
    msg.OrderAmended: _amended,
}


@dataclass(slots=True)
class ReplayReport:
    """What a replay read and rebuilt."""

    objects: int = 0
    events: int = 0
    duplicates: int = 0
    unreadable: int = 0
    """Events whose message could not be opened (an unknown type or schema version)."""
    fills: int = 0
    fundings: int = 0
    positions: list[Position] = field(default_factory=list)
    orders: int = 0
    orphans: list[str] = field(default_factory=list)


async def verify_all(reader: ArchiveReader) -> tuple[Listing, ReplayReport]:
    """Check every object against its manifest; raise ArchiveCorrupt naming every mismatch.
    Returns the listing it checked: a replay reads exactly these objects, never one written
    after the check."""
    listing = await reader.listing()
    problems = list(listing.unreadable)
    for manifest in listing.manifests:
        try:  # a store that cannot be reached raises through: unreachable, not corrupt
            verify(manifest, await reader.body(manifest))
        except ArchiveCorrupt as error:
            problems.append(str(error))
    if problems:
        raise ArchiveCorrupt("; ".join(problems))
    return listing, ReplayReport(objects=len(listing.manifests), orphans=listing.orphans)


async def replay(reader: ArchiveReader, redis: Redis) -> ReplayReport:
    """Verify the whole archive, then rebuild positions and order history into `redis`."""
    listing, report = await verify_all(reader)
    stores: dict[tuple[AccountId, VenueId], RedisPositionStore] = {}

    def positions(message: msg.OrderFilled | msg.FundingSettled) -> RedisPositionStore:
        book = (message.account, message.venue)
        found = stores.get(book)
        if found is None:
            found = stores[book] = RedisPositionStore(redis, account=book[0], venue=book[1])
        return found

    orders: dict[str, OrderHistory] = {}
    seen: set[tuple[str, str]] = set()
    for _, hour in groupby(listing.manifests, key=lambda m: Partition.of(m.first_ms)):
        found: list[ArchivedEvent] = []
        for manifest in hour:
            found += await reader.read(manifest)
        events = dedupe(found, seen)
        report.duplicates += len(found) - len(events)
        for event in events:
            report.events += 1
            try:
                message = event.envelope.open()
            except ValueError as error:
                report.unreadable += 1
                log.warning("replay: %s %s left out: %s", event.stream, event.entry_id, error)
                continue
            if isinstance(message, msg.OrderFilled):
                await positions(message).apply_fill(message.to_fill())
                report.fills += 1
            elif isinstance(message, msg.FundingSettled):
                await positions(message).apply_funding(message.to_funding())
                report.fundings += 1
            if (cid := event.client_order_id) is not None:
                orders.setdefault(cid, OrderHistory(cid)).apply(event, message)
    async with redis.pipeline(transaction=False) as pipe:
        for cid, order in orders.items():
            pipe.set(topology.archived_order_key(ClientOrderId(cid)), order.to_json())
            pipe.zadd(topology.ARCHIVED_ORDERS_KEY, {cid: order.first_ms})
        await pipe.execute()
    report.orders = len(orders)
    report.positions = [p for book in sorted(stores) for p in await stores[book].all()]
    return report


async def archived_order(redis: Redis, client_order_id: str) -> dict[str, Any] | None:
    """An order as `replay` rebuilt it (decoded JSON), or None."""
    raw = await redis.get(topology.archived_order_key(ClientOrderId(client_order_id)))
    return None if raw is None else dict(orjson.loads(raw))
