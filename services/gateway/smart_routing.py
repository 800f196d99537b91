"""Smart order routing at the gateway: where an order with `venue: "auto"` goes, and why.

`plan_route` gathers, in a few round trips, what the pure router
(`libs.common.domain.routing.route`) judges each venue of `MMX_VENUES` by:

- the venue's book top, taker fee and instrument rules (`libs.common.route_books`, written
  by the positions service's book feed; a venue without one is reported and skipped);
- its health: a circuit is open when any router instance's lane of the account at that
  venue has it open; the rate headroom is the least fraction left of the lane's `trade` and
  `batch` quotas the venue last reported; the latency is the lanes' mean answer time;
- the account's risk headroom on the symbol: how much more of the side its inventory limit
  admits at the mark, counting the position at every venue, the fills not folded yet and
  the open orders (`libs.common.domain.exposure`). Risk counts a symbol across venues, so
  the plan routes at most that much in all (the rest is `unfilledQty`, and the summary says
  why); each venue is capped by it, and by the venue's own inventory limit where one is
  set. Risk then decides each child as any order.

`POST /v1/route/preview` and `POST /v1/risk/simulate` answer the plan; `POST /v1/orders`
places it (`place_routed`): one child per venue, an IOC Limit at the plan's worst price
there (never beyond the parent's limit), each a normal order with `parentId` set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.display import plain
from libs.common.domain.enums import Side
from libs.common.domain.exposure import UNITS_PER_USD, SymbolBook, VenueTotals
from libs.common.domain.ids import DEFAULT_VENUE, AccountId, Symbol, VenueId
from libs.common.domain.routing import route
from libs.common.domain.routing_models import (
    RoutePlan,
    RoutePolicy,
    RouteRequest,
    RouteVerdict,
    VenueQuote,
)
from libs.common.metrics import CircuitState
from libs.common.risk_view import RiskView
from libs.common.route_books import StoredBook, read_books
from libs.common.stores._support import text
from libs.common.topology import venue_headroom_key
from libs.common.venue_circuits import read_circuit_fields
from services.gateway.context import Gateway

ORDER_GROUPS = frozenset({"trade", "batch"})
"""The quota groups an order's send spends (`services.router.gate.group_of`)."""


def policy_of(gateway: Gateway) -> RoutePolicy:
    """The routing policy the gateway is configured with (`MMX_GATEWAY_ROUTE_*`)."""
    s = gateway.settings
    return RoutePolicy(
        max_book_age_ms=s.route_max_book_age_ms,
        min_rate_headroom=s.route_min_rate_headroom,
        latency_penalty_bps_per_ms=s.route_latency_penalty_bps_per_ms,
        max_latency_ms=s.route_max_latency_ms,
    )


@dataclass(frozen=True, slots=True)
class Routing:
    """A plan with what the gateway adds: the qty asked for (the plan's may be less: the
    risk headroom), a verdict per venue not judged (no book), and why the qty was cut."""

    plan: RoutePlan
    qty: Decimal
    missing: tuple[RouteVerdict, ...]
    note: str = ""

    @property
    def unfilled_qty(self) -> Decimal:
        return self.qty - self.plan.routed_qty

    @property
    def summary(self) -> str:
        return f"{self.note}; {self.plan.summary}" if self.note else self.plan.summary


async def plan_route(
    gateway: Gateway,
    account: AccountId,
    symbol: Symbol,
    side: Side,
    qty: Decimal,
    limit_price: Decimal | None,
    view: RiskView | None = None,
) -> Routing:
    """The routing of `qty` of `symbol` on `side` now (see the module docstring), over
    `view` when the caller has read it (with `books=True`), else over one read here."""
    venues = gateway.settings.venues
    now_ns = gateway.clock_ns()
    books_read = read_books(gateway.redis, venues, symbol)
    health_read = _health(gateway.redis, account, venues)
    if view is None:  # the three reads at once
        view_read = read_view(gateway, account, symbol)
        books, health, read = await asyncio.gather(books_read, health_read, view_read)
    else:
        (books, health), read = await asyncio.gather(books_read, health_read), view
    headroom = risk_headroom(read, symbol, side)
    quotes: list[VenueQuote] = []
    missing: list[RouteVerdict] = []
    for venue in venues:
        book = books[venue]
        if book is None:
            reason = "no book: the positions service's book feed has not written one lately"
            missing.append(RouteVerdict(venue, False, reason))
            continue
        room = None if headroom is None else headroom.at(venue)
        quotes.append(_quote(book, health.get(venue, _Health()), room))
    routed, note = qty, ""
    if headroom is not None and 0 < headroom.total < qty:
        routed = headroom.total
        note = f"risk admits {plain(routed)} of {plain(qty)} more {symbol} {side.value}"
    request = RouteRequest(side=side, qty=routed, limit_price=limit_price, now_ns=now_ns)
    plan = route(request, quotes, policy_of(gateway))
    return Routing(plan, qty, tuple(missing), note)


@dataclass(frozen=True, slots=True)
class _Health:
    """One venue's health as the account's router lanes last wrote it."""

    circuit_open: bool = False
    rate_headroom: Decimal = Decimal(1)
    latency_ms: Decimal | None = None


def _quote(book: StoredBook, health: _Health, headroom: Decimal | None) -> VenueQuote:
    return VenueQuote(
        venue=book.venue,
        rules=book.rules,
        taker_fee_rate=book.taker_fee,
        book_ts_ns=book.ts_ns,
        bids=book.bids,
        asks=book.asks,
        circuit_open=health.circuit_open,
        rate_headroom=health.rate_headroom,
        latency_ms=health.latency_ms,
        risk_headroom_qty=headroom,
    )


async def _health(
    redis: Redis, account: AccountId, venues: tuple[VenueId, ...]
) -> dict[VenueId, _Health]:
    circuits = await read_circuit_fields(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for venue in venues:
            pipe.hgetall(venue_headroom_key(account, venue))
        boards: list[Any] = await pipe.execute()
    found: dict[VenueId, _Health] = {}
    for venue, board in zip(venues, boards, strict=True):
        lanes = [
            f
            for f in circuits.values()
            if f.get("account", account) == account and f.get("venue", DEFAULT_VENUE) == venue
        ]
        latencies = [Decimal(f["latency_ms"]) for f in lanes if f.get("latency_ms")]
        found[venue] = _Health(
            circuit_open=any(f.get("state") == CircuitState.OPEN.value for f in lanes),
            rate_headroom=rate_headroom(board),
            latency_ms=sum(latencies, Decimal(0)) / len(latencies) if latencies else None,
        )
    return found


def rate_headroom(board: Mapping[Any, Any]) -> Decimal:
    """The least fraction left of the order quotas a venue last reported (1 when none)."""
    fractions = []
    for raw in board.values():
        entry = json.loads(text(raw))
        if entry.get("group") in ORDER_GROUPS and entry.get("limit"):
            left = Decimal(max(0, int(entry["remaining"]))) / Decimal(int(entry["limit"]))
            fractions.append(min(Decimal(1), left))
    return min(fractions, default=Decimal(1))


@dataclass(frozen=True, slots=True)
class RiskHeadroom:
    """How much more of a side the account's inventory limits admit on a symbol, in its qty
    at the mark: in all (across venues), and at each venue with a limit of its own."""

    total: Decimal
    venues: Mapping[str, Decimal]

    def at(self, venue: str) -> Decimal:
        return min(self.total, self.venues.get(venue, self.total))


async def read_view(gateway: Gateway, account: AccountId, symbol: Symbol) -> RiskView:
    """The account's risk view over `symbol`, with the ledger's totals."""
    return await gateway.book(account).snapshots.read(
        gateway.clock_ns(), symbols=[symbol], books=True
    )


def risk_headroom(view: RiskView, symbol: Symbol, side: Side) -> RiskHeadroom | None:
    """The account's risk headroom on `symbol` for `side` in `view`; None when there is no
    fresh mark (risk then decides alone)."""
    mark, terms = view.fresh.get(symbol), view.terms(symbol)
    if mark is None or terms is None:
        return None
    book = view.books.get(symbol) or SymbolBook()
    whole = VenueTotals(book.buy, book.sell, book.unfolded_buy, book.unfolded_sell)
    total = _left(side, terms.position, whole, terms.inventory_limit)
    venues = {
        venue: _left(side, own.position, book.at(venue), own.inventory_limit)
        for venue, own in terms.venue_limits.items()
    }
    return RiskHeadroom(
        _qty(total, mark), {venue: _qty(units, mark) for venue, units in venues.items()}
    )


def _left(side: Side, position: int, share: VenueTotals, limit: int) -> int:
    """Units of `side` an inventory limit still admits over a position and its book share."""
    p = position + share.unfolded_buy - share.unfolded_sell
    return limit - (p + share.buy) if side is Side.BUY else limit + (p - share.sell)


def _qty(units: int, mark: Decimal) -> Decimal:
    return max(Decimal(0), (Decimal(units) / UNITS_PER_USD / mark).quantize(_QTY, ROUND_FLOOR))


_QTY = Decimal("1e-8")
