"""The fault suite's books: what the simulator holds against what the engine holds.

`count_faults` compares, for the orders a scenario placed (and every order open at the
venue), the simulator's own orders, executions and positions with the engine's order
records, folded execIds and positions in Redis, and answers one `FaultRow`: every count
must be 0 once the engine has settled (`settle` polls until they are, or times out and
answers the last counts).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from libs.common import topology
from libs.common.domain.ids import DEFAULT_ACCOUNT, ClientOrderId, ExecId
from libs.common.domain.orders import Order, OrderStatus
from libs.common.redis_connect import redis_from_url
from libs.common.stores import RedisOrderStore
from libs.common.stores.positions_redis import RedisPositionStore
from tests.simulator import SimProcess

VENUE_OPEN = frozenset({"New", "PartiallyFilled", "Untriggered"})
ENGINE_FOR_VENUE = {
    "New": {OrderStatus.NEW, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND},
    "PartiallyFilled": {
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_AMEND,
    },
    "Filled": {OrderStatus.FILLED},
    "Cancelled": {OrderStatus.CANCELED},
    "PartiallyFilledCanceled": {OrderStatus.CANCELED},
    "Deactivated": {OrderStatus.CANCELED},
    "Rejected": {OrderStatus.REJECTED},
}
"""Engine states that agree with a venue status once the engine has settled."""
ZERO = Decimal(0)


@dataclass(frozen=True)
class FaultRow:
    """One scenario's counts; `scenario`, `orders`, `fills` and `seconds` describe the run."""

    scenario: str
    orders: int
    fills: int
    duplicates: int
    lost: int
    orphans: int
    left_after_freeze: int
    missed_or_double_fills: int
    position_drift: int
    state_mismatch: int
    limit_breaches: int = 0
    """Positions past the inventory limit (counted by scenarios that set one)."""
    seconds: float = 0.0
    examples: tuple[str, ...] = ()
    """A few of the faults found, for the failure message (not part of the table)."""

    COUNTS = (
        "duplicates",
        "lost",
        "orphans",
        "left_after_freeze",
        "missed_or_double_fills",
        "position_drift",
        "state_mismatch",
        "limit_breaches",
    )

    @property
    def faults(self) -> dict[str, int]:
        """The counts that are not 0."""
        return {name: getattr(self, name) for name in self.COUNTS if getattr(self, name)}

    @staticmethod
    def header() -> str:
        return " | ".join(f.name for f in fields(FaultRow) if f.name != "examples")

    def line(self) -> str:
        values = [
            f"{getattr(self, f.name):.1f}" if f.name == "seconds" else str(getattr(self, f.name))
            for f in fields(self)
            if f.name != "examples"
        ]
        return " | ".join(values)


@dataclass(frozen=True)
class Books:
    """Both sides, read once."""

    venue_orders: list[dict[str, Any]]
    venue_executions: list[dict[str, Any]]
    venue_positions: dict[str, Decimal]
    records: dict[str, Order | None]
    folded: set[str]
    engine_positions: dict[str, Decimal]


async def read_books(sim: SimProcess, redis: aioredis.Redis, placed: Iterable[str]) -> Books:
    """The simulator's orders, executions and positions; the engine's records (in `redis`)
    of `placed` and of every order open at the venue, its folded execIds and its positions."""
    venue_orders = await sim.orders()
    executions = (await sim.control("executions", method="GET"))["list"]
    listed = (await sim.control("positions", method="GET"))["list"]
    venue_positions = {
        p["symbol"]: (Decimal(p["size"]) if p["side"] == "Buy" else -Decimal(p["size"]))
        for p in listed
        if p.get("side") in ("Buy", "Sell")
    }
    ids = sorted(set(placed) | {o["orderLinkId"] for o in venue_orders if o["orderLinkId"]})
    records = await RedisOrderStore(redis).get_many([ClientOrderId(i) for i in ids])
    exec_ids = [e["execId"] for e in executions]
    seen = await _exist(
        redis, [topology.keys_of(DEFAULT_ACCOUNT).exec_seen(ExecId(i)) for i in exec_ids]
    )
    positions = await RedisPositionStore(redis).all()
    return Books(
        venue_orders=venue_orders,
        venue_executions=executions,
        venue_positions=venue_positions,
        records=dict(zip(ids, records, strict=True)),
        folded={i for i, hit in zip(exec_ids, seen, strict=True) if hit},
        engine_positions={str(p.symbol): p.qty for p in positions},
    )


async def _exist(client: aioredis.Redis, keys: list[str]) -> list[bool]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    return [bool(n) for n in await pipe.execute()] if keys else []


def count(
    scenario: str,
    books: Books,
    placed: Iterable[str],
    tried: Iterable[str] = (),
    *,
    after_freeze: bool = False,
) -> FaultRow:
    """The counts of `FaultRow` from `books`, for the orders in `placed`.

    - duplicates: venue orders beyond the first with one orderLinkId;
    - lost: placed (the gateway created it) or tried (the request failed, but the engine may
      hold a record), not at the venue, and not Rejected with a reason in the engine (a tried
      one without any record is not lost: its client was told it failed);
    - orphans: open at the venue, but unknown or terminal in the engine;
    - left after freeze (`after_freeze`): anything open at the venue;
    - missed or double fills: venue executions the engine never folded into a position, and
      orders whose filled qty differs between the two sides;
    - position drift: symbols whose engine position differs from the venue's;
    - state mismatch: orders at the venue whose engine state disagrees with the venue's.
    """
    placed = set(placed)
    tried = placed | set(tried)
    by_link = Counter(o["orderLinkId"] for o in books.venue_orders)
    venue = {o["orderLinkId"]: o for o in books.venue_orders}
    duplicates = sum(n - 1 for link, n in by_link.items() if n > 1 and link)
    lost = 0
    examples: list[str] = []
    for cid in sorted(tried - set(venue)):
        record = books.records.get(cid)
        if record is None:
            if cid in placed:
                lost += 1
                examples.append(f"lost {cid}: no record")
        elif record.status is not OrderStatus.REJECTED or not record.reason:
            lost += 1
            examples.append(f"lost {cid}: {record.status} {record.reason!r}, not at the venue")
    open_at_venue = [o for o in books.venue_orders if o["orderStatus"] in VENUE_OPEN]
    orphans = 0
    orphan_ids: set[str] = set()
    for order in open_at_venue:
        record = books.records.get(order["orderLinkId"])
        if record is None or record.status in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
        ):
            orphans += 1
            orphan_ids.add(order["orderLinkId"])
            state = "unknown" if record is None else f"{record.status} {record.reason!r}"
            examples.append(f"orphan {order['orderLinkId']}: {order['orderStatus']}, {state}")
    fills = [e for e in books.venue_executions if e["orderLinkId"] in placed]
    missed = 0
    for execution in fills:
        if execution["execId"] not in books.folded:
            missed += 1
            examples.append(f"fill {execution['execId']} of {execution['orderLinkId']} not folded")
    mismatch = 0
    for cid, order in venue.items():
        record = books.records.get(cid)
        if record is None or cid in orphan_ids:
            continue  # counted as an orphan, or history the engine never knew
        if Decimal(order["cumExecQty"]) != record.filled_qty:
            missed += 1
            examples.append(f"{cid}: filled {record.filled_qty}, venue {order['cumExecQty']}")
        if record.status not in ENGINE_FOR_VENUE.get(order["orderStatus"], set()):
            mismatch += 1
            examples.append(f"{cid}: {record.status}, venue {order['orderStatus']}")
    symbols = set(books.venue_positions) | set(books.engine_positions)
    drift = 0
    for symbol in sorted(symbols):
        venue_qty = books.venue_positions.get(symbol, ZERO)
        engine_qty = books.engine_positions.get(symbol, ZERO)
        if venue_qty != engine_qty:
            drift += 1
            examples.append(f"position {symbol}: engine {engine_qty}, venue {venue_qty}")
    return FaultRow(
        scenario=scenario,
        orders=len(placed),
        fills=len(fills),
        duplicates=duplicates,
        lost=lost,
        orphans=orphans,
        left_after_freeze=len(open_at_venue) if after_freeze else 0,
        missed_or_double_fills=missed,
        position_drift=drift,
        state_mismatch=mismatch,
        examples=tuple(examples[:8]),
    )


async def settle(
    scenario: str,
    sim: SimProcess,
    redis_url: str,
    placed: Iterable[str],
    tried: Iterable[str] = (),
    *,
    after_freeze: bool = False,
    timeout_s: float = 40.0,
) -> FaultRow:
    """Poll the counts until they are all 0 twice in a row (the engine has converged), or
    until `timeout_s`; answer the last row either way."""
    placed, tried = list(placed), list(tried)
    deadline = time.monotonic() + timeout_s
    clean_before = False
    client = redis_from_url(redis_url)
    try:
        while True:
            books = await read_books(sim, client, [*placed, *tried])
            row = count(scenario, books, placed, tried, after_freeze=after_freeze)
            if not row.faults:
                if clean_before:
                    return row
                clean_before = True
            else:
                clean_before = False
            if time.monotonic() > deadline:
                return row
            await asyncio.sleep(0.5)
    finally:
        await client.aclose()
