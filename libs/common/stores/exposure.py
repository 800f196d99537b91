"""The exposure ledger: running totals of what the desk could hold, changed atomically.

The totals (`SymbolBook`, see `libs.common.domain.exposure`) are kept per symbol and changed
in the same atomic step as whatever changes them:

- every write of an order record (the order store's create and compare-and-set) sets the
  order's contribution to `order_units(record)`: admitted and open, what can still fill;
  ended, nothing. So no transition can free exposure early or leave it behind;
- `record_fills` (the router, for each fill the venue reports) claims the execId, adds the
  fill to the unfolded totals and publishes `OrderFilled`, in one step: a fill is counted
  from the moment it is published, and published exactly once;
- the position store's fold removes the fill from the unfolded totals in the step that
  folds it into the position;
- `admit` (risk) checks a batch of orders and amends against every limit and, for each one
  admitted, writes its record, its contribution, its order time and its approval, in one
  step: N risk instances can never together admit past a limit.

A check therefore costs O(1) in the number of open orders: nothing is scanned or parsed
but the totals of the symbols involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from libs.common.domain.enums import Side
from libs.common.domain.exposure import (
    RATE_WINDOW_MS,
    Candidate,
    Denial,
    DeskTerms,
    SymbolBook,
    SymbolTerms,
    VenueTotals,
    order_units,
)
from libs.common.domain.ids import DEFAULT_VENUE, ClientOrderId, ExecId, Symbol, VenueId
from libs.common.domain.orders import Order
from libs.common.stores.errors import StoreError
from libs.common.topology import AccountStream


class StaleView(StoreError):
    """The view a batch was checked against moved before it was admitted: a position took a
    fill, or a symbol gained exposure. Nothing was written; read again and admit again."""


class AdmitOutcome(StrEnum):
    """What `admit` did with one request."""

    ADMITTED = "admitted"
    """Record, contribution, order time and approval written."""
    DENIED = "denied"
    """A limit refused it (`Admission.denial` says which); nothing written."""
    CONFLICT = "conflict"
    """The record moved on since it was read: read it again."""
    DUPLICATE = "duplicate"
    """Its decision key exists: this command was decided before; nothing written."""
    MISSING = "missing"
    """No such record."""


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """One order or amend for `admit`: the candidate, and what to write if it is admitted."""

    candidate: Candidate
    read: Order
    """The record as read: admitted only if the stored version is still this one."""
    admitted: Order
    """The record to write when admitted (`admit` or `reserve_amend` of `read`)."""
    event: bytes
    """The bus entry to publish when admitted (the approval, on the `to` stream)."""
    rate_member: str
    """Its entry in the order-rate window (unique per order or amend)."""
    decision_key: str | None = None
    """Set to `decision` when admitted; a request whose key exists is a DUPLICATE (amends)."""
    decision: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: AdmitOutcome
    denial: Denial | None = None


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One reported fill for `record_fills`."""

    symbol: Symbol
    exec_id: ExecId
    side: Side
    units: int
    """`fill_units(qty, price)`."""
    claim_key: str
    """Set (with `claim_ttl_ms`) by the call that publishes the fill: the execId's dedupe."""
    event: bytes
    """The `OrderFilled` bus entry."""
    venue: VenueId = DEFAULT_VENUE
    """Where it filled: the venue's share of the unfolded fills counts it too."""


class ExposureLedger(Protocol):
    """Admission against the limits, fills reported, and the totals."""

    async def admit(
        self,
        desk: DeskTerms,
        terms: Sequence[SymbolTerms],
        requests: Sequence[AdmitRequest],
        *,
        to: AccountStream,
        decision_ttl_ms: int,
    ) -> list[Admission]:
        """Check and admit each request in turn (see the module docstring); one result each.

        `terms` must cover every symbol with exposure and every symbol of `requests`; raises
        StaleView (nothing written) when a symbol is missing or a position version moved.
        """
        ...

    async def record_fills(
        self, fills: Sequence[FillRecord], *, to: AccountStream, claim_ttl_ms: int, now_ms: int
    ) -> list[bool]:
        """Claim, count and publish each fill once; True for those this call published."""
        ...

    async def books(self, symbols: Iterable[Symbol]) -> dict[Symbol, SymbolBook]:
        """The totals of `symbols` (an empty book for a symbol without exposure)."""
        ...

    async def symbols(self) -> set[Symbol]:
        """Every symbol that has had exposure."""
        ...

    async def rates(self, symbols: Iterable[Symbol], now_ms: int) -> dict[Symbol, int]:
        """Orders and amends admitted per symbol in the second before `now_ms`."""
        ...


@dataclass
class LedgerState:
    """The in-memory ledger, shared by the fakes of the order, position and ledger stores.

    It keeps the entries (per order, per unfolded fill) and computes the totals from them:
    what the Redis ledger's running totals must always equal.
    """

    orders: dict[ClientOrderId, tuple[Symbol, Side, int, VenueId]] = field(default_factory=dict)
    fills: dict[ExecId, tuple[Symbol, Side, int, int, VenueId]] = field(default_factory=dict)
    folded: set[ExecId] = field(default_factory=set)
    rates: dict[Symbol, list[int]] = field(default_factory=dict)
    exposed: set[Symbol] = field(default_factory=set)
    position_versions: dict[Symbol, int] = field(default_factory=dict)

    def set_order(self, order: Order) -> None:
        """Set the order's contribution from its record (what every record write does)."""
        units = order_units(order)
        if units:
            self.orders[order.client_order_id] = (order.symbol, order.side, units, order.venue)
            self.exposed.add(order.symbol)
        else:
            self.orders.pop(order.client_order_id, None)

    def add_fill(
        self,
        symbol: Symbol,
        exec_id: ExecId,
        side: Side,
        units: int,
        ts_ms: int,
        venue: VenueId = DEFAULT_VENUE,
    ) -> None:
        if exec_id not in self.fills and exec_id not in self.folded:
            self.fills[exec_id] = (symbol, side, units, ts_ms, venue)
            self.exposed.add(symbol)

    def fold(self, symbol: Symbol, exec_id: ExecId, applied: bool) -> None:
        """Positions folded `exec_id` (or found it folded before): it is unfolded no more."""
        self.fills.pop(exec_id, None)
        self.folded.add(exec_id)
        self.exposed.add(symbol)
        if applied:
            self.position_versions[symbol] = self.position_versions.get(symbol, 0) + 1

    def book(self, symbol: Symbol) -> SymbolBook:
        mine = [(side, u, v) for s, side, u, v in self.orders.values() if s == symbol]
        unfolded = [(side, u, ts, v) for s, side, u, ts, v in self.fills.values() if s == symbol]
        others = {v for _, _, v in mine} | {v for _, _, _, v in unfolded}
        others.discard(DEFAULT_VENUE)
        return SymbolBook(
            buy=sum(u for side, u, _ in mine if side is Side.BUY),
            sell=sum(u for side, u, _ in mine if side is Side.SELL),
            count=len(mine),
            unfolded_buy=sum(u for side, u, _, _ in unfolded if side is Side.BUY),
            unfolded_sell=sum(u for side, u, _, _ in unfolded if side is Side.SELL),
            oldest_unfolded_ms=min((ts for _, _, ts, _ in unfolded), default=None),
            venues={
                venue: VenueTotals(
                    buy=sum(u for side, u, v in mine if v == venue and side is Side.BUY),
                    sell=sum(u for side, u, v in mine if v == venue and side is Side.SELL),
                    unfolded_buy=sum(
                        u for side, u, _, v in unfolded if v == venue and side is Side.BUY
                    ),
                    unfolded_sell=sum(
                        u for side, u, _, v in unfolded if v == venue and side is Side.SELL
                    ),
                )
                for venue in sorted(others)
            },
        )

    def rate(self, symbol: Symbol, now_ms: int) -> int:
        times = [t for t in self.rates.get(symbol, []) if t > now_ms - RATE_WINDOW_MS]
        self.rates[symbol] = times
        return len(times)
