"""Exposure: what the desk would hold if every open order filled, kept as running totals.

Units. Every amount is an integer of micro-USD ("units"): exact in Redis, whose Lua numbers
are doubles (exact below 2^53 units, about 9e9 USD, far above any limit a desk sets: limits
are bounded at `MAX_LIMIT_USD`). An exposure rounds up, a limit rounds down.

What counts, per symbol (`SymbolBook`):

    buy, sell      the open orders risk admitted, each at `order_units(order)`: what can
                   still fill (the larger of its qty and an amend's in flight, less fills)
                   at the larger of its risk price, limit price and amended price
    count          how many such orders are open
    unfolded_*     fills the venue reported that positions has not folded yet, at their
                   fill price: a fill counts from the moment the venue reports it until
                   positions folds its execId, so it is never counted nowhere
    position       the folded position at the mark (`position_units`), read at check time

A symbol's worst case is the larger magnitude of "every buy fills" and "every sell fills":

    p     = position + unfolded_buy - unfolded_sell
    worst = max(|p + buy|, |p - sell|)

and the desk's total notional is the sum of the worst cases over symbols. The totals, the
position and the limits are the symbol's across every venue. A venue with an inventory limit
of its own (`RiskLimits.venue_inventory_limit`) is also held to it with the same rule over
its own share: its position, its unfolded fills and its open orders (`VenueTotals`; the
ledger keeps them for every venue but Bybit, whose share is the rest).

`ExposureCheck.decide` is the admission rule, checked and applied one candidate at a time
against totals that already hold the candidates admitted before it. The Redis ledger runs the
same rule, line for line, in one Lua step per batch (`libs.common.stores.exposure_redis`), so
that N risk instances can never together admit past a limit; `tests/contract` holds the two to
the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import NamedTuple

from libs.common.domain.enums import Side
from libs.common.domain.ids import DEFAULT_VENUE, Symbol
from libs.common.domain.orders import Order, is_terminal
from libs.common.domain.risk_checks import Check, TradingState, fmt_usd

UNITS_PER_USD = 1_000_000
MAX_UNITS = 2**50
"""Largest single amount in units (about 1.1e9 USD)."""
RATE_WINDOW_MS = 1_000
"""The order-rate check counts admissions of the last second."""
FROZEN_REASON = "trading is FROZEN: no new orders"


def to_units(usd: Decimal, *, round_up: bool) -> int:
    """USD as whole micro-USD, rounded up (an exposure) or down (a limit); raises beyond
    MAX_UNITS."""
    units = int((usd * UNITS_PER_USD).to_integral_value(ROUND_CEILING if round_up else ROUND_FLOOR))
    if abs(units) > MAX_UNITS:
        raise ValueError(f"amount {usd} USD is out of range: expected at most {MAX_UNITS} units")
    return units


def from_units(units: int) -> Decimal:
    """Units back to USD (exact)."""
    return Decimal(units) / UNITS_PER_USD


def exposure_price(order: Order) -> Decimal | None:
    """The price the order counts at: the largest of its risk, limit and amended prices."""
    prices = [p for p in (order.risk_price, order.price, order.amend_price) if p is not None]
    return max(prices) if prices else None


def order_units(order: Order) -> int:
    """What the order adds to its side's exposure: 0 until risk admits it and once it ends."""
    price = exposure_price(order)
    if order.risk_price is None or price is None or is_terminal(order.status):
        return 0
    leaves = max(order.qty, order.amend_qty or order.qty) - order.filled_qty
    return to_units(leaves * price, round_up=True) if leaves > 0 else 0


def fill_units(qty: Decimal, price: Decimal) -> int:
    """What a fill adds to its side's unfolded exposure until positions folds it."""
    return to_units(qty * price, round_up=True)


def position_units(qty: Decimal, mark: Decimal) -> int:
    """A signed position at the mark, rounded away from zero (never under-counted)."""
    units = to_units(abs(qty) * mark, round_up=True)
    return units if qty >= 0 else -units


@dataclass(frozen=True, slots=True)
class VenueTotals:
    """One venue's share of a symbol's totals."""

    buy: int = 0
    sell: int = 0
    unfolded_buy: int = 0
    unfolded_sell: int = 0

    def side(self, side: Side) -> int:
        return self.buy if side is Side.BUY else self.sell


@dataclass(frozen=True, slots=True)
class SymbolBook:
    """The ledger's totals for one symbol (see the module docstring)."""

    buy: int = 0
    sell: int = 0
    count: int = 0
    unfolded_buy: int = 0
    unfolded_sell: int = 0
    oldest_unfolded_ms: int | None = None
    """Venue time of the oldest fill positions has not folded yet."""
    venues: Mapping[str, VenueTotals] = field(default_factory=dict)
    """The share of each venue but Bybit (whose share is the rest: `at`)."""

    def at(self, venue: str) -> VenueTotals:
        """`venue`'s share of the totals."""
        if venue != DEFAULT_VENUE:
            return self.venues.get(venue, VenueTotals())
        others = self.venues.values()
        return VenueTotals(
            buy=self.buy - sum(v.buy for v in others),
            sell=self.sell - sum(v.sell for v in others),
            unfolded_buy=self.unfolded_buy - sum(v.unfolded_buy for v in others),
            unfolded_sell=self.unfolded_sell - sum(v.unfolded_sell for v in others),
        )

    def side(self, side: Side) -> int:
        return self.buy if side is Side.BUY else self.sell

    def effective_position(self, position: int) -> int:
        """The folded position plus the fills not folded yet."""
        return position + self.unfolded_buy - self.unfolded_sell

    def worst_case(self, position: int) -> int:
        p = self.effective_position(position)
        return max(abs(p + self.buy), abs(p - self.sell))

    def with_side(
        self, side: Side, delta: int, count_delta: int = 0, venue: str = DEFAULT_VENUE
    ) -> SymbolBook:
        """The book with `delta` more on `side` (and `count_delta` more orders) at `venue`."""
        venues = self.venues
        if venue != DEFAULT_VENUE:
            mine = self.at(venue)
            if side is Side.BUY:
                mine = replace(mine, buy=mine.buy + delta)
            else:
                mine = replace(mine, sell=mine.sell + delta)
            venues = {**venues, venue: mine}
        count = self.count + count_delta
        if side is Side.BUY:
            return replace(self, buy=self.buy + delta, count=count, venues=venues)
        return replace(self, sell=self.sell + delta, count=count, venues=venues)


@dataclass(frozen=True, slots=True)
class SymbolTerms:
    """What risk read about one symbol for a batch: its position and its limits, in units."""

    symbol: Symbol
    position: int
    """Folded position at the mark (`position_units`)."""
    position_version: int
    """The position record's version read: the ledger refuses a batch checked against a
    position that positions has folded a fill into since."""
    inventory_limit: int
    max_open_orders: int
    max_orders_per_second: int
    venue_limits: Mapping[str, VenueTerms] = field(default_factory=dict)
    """The venues with an inventory limit of their own, with their share of the position."""


@dataclass(frozen=True, slots=True)
class VenueTerms:
    """A venue's own inventory limit on a symbol and its position there, in units."""

    position: int
    """The position at that venue at the mark (`position_units`)."""
    inventory_limit: int


@dataclass(frozen=True, slots=True)
class DeskTerms:
    """Desk-wide terms of a batch."""

    now_ms: int
    total_limit: int
    max_positions_lag_ms: int
    trading: TradingState = TradingState.ACTIVE
    """The desk's trading state as the batch's view read it (the account's own is read with
    the ledger, in the admission's step; the stricter of the two applies)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order (place) or an amend asking to be admitted with `units` of exposure."""

    symbol: Symbol
    side: Side
    units: int
    """The order's contribution once admitted (`order_units` of the admitted record)."""
    place: bool
    """A new order: the open-orders limit applies. False for an amend."""
    must_reduce: bool = False
    """The daily loss limit is reached: only an order that reduces the position passes."""
    venue: str = DEFAULT_VENUE
    """Where the order is: the venue's own inventory limit applies too, when it has one."""


class Denial(NamedTuple):
    """Why a candidate was refused, with the figure and the limit it was held to."""

    check: Check
    value: int
    limit: int


@dataclass
class ExposureCheck:
    """The admission rule over one batch: `decide` each candidate in turn.

    `books` and `rates` (admissions in the last second per symbol) are the ledger's state;
    an admitted candidate is added to them, so later candidates see it.
    """

    state: TradingState
    desk: DeskTerms
    terms: Mapping[Symbol, SymbolTerms]
    books: dict[Symbol, SymbolBook]
    rates: dict[Symbol, int] = field(default_factory=dict)
    total: int = 0

    def __post_init__(self) -> None:
        self.total = sum(
            self.books.get(s, SymbolBook()).worst_case(t.position) for s, t in self.terms.items()
        )

    def positions_lag_ms(self) -> int:
        """How long the oldest fill has waited for positions (0 when none waits)."""
        oldest = [b.oldest_unfolded_ms for b in self.books.values() if b.oldest_unfolded_ms]
        return max(0, self.desk.now_ms - min(oldest)) if oldest else 0

    def decide(self, candidate: Candidate, current_units: int) -> Denial | None:
        """Admit `candidate` (replacing `current_units` of its own) or say why not."""
        c, terms = candidate, self.terms[candidate.symbol]
        book = self.books.get(c.symbol, SymbolBook())
        delta = c.units - current_units
        p = book.effective_position(terms.position)
        after_side = book.side(c.side) + delta
        reduces = p < 0 and after_side <= -p if c.side is Side.BUY else p > 0 and after_side <= p
        if self.state is TradingState.FROZEN:
            return Denial(Check.TRADING_STATE, 0, 0)
        lag = self.positions_lag_ms()
        if lag > self.desk.max_positions_lag_ms:
            return Denial(Check.POSITIONS_LAG, lag, self.desk.max_positions_lag_ms)
        if self.state is TradingState.REDUCING and delta > 0 and not reduces:
            return Denial(Check.TRADING_STATE, after_side, abs(p))
        if c.place and book.count >= terms.max_open_orders:
            return Denial(Check.OPEN_ORDERS, book.count, terms.max_open_orders)
        rate = self.rates.get(c.symbol, 0)
        if rate >= terms.max_orders_per_second:
            return Denial(Check.ORDER_RATE, rate, terms.max_orders_per_second)
        after = book.with_side(c.side, delta, (c.units > 0) - (current_units > 0), c.venue)
        total = self.total - book.worst_case(terms.position) + after.worst_case(terms.position)
        if delta > 0:
            side_worst = p + after.buy if c.side is Side.BUY else -(p - after.sell)
            if side_worst > terms.inventory_limit:
                return Denial(Check.INVENTORY, side_worst, terms.inventory_limit)
            if (venue := terms.venue_limits.get(c.venue)) is not None:
                mine = after.at(c.venue)
                pv = venue.position + mine.unfolded_buy - mine.unfolded_sell
                worst = pv + mine.buy if c.side is Side.BUY else -(pv - mine.sell)
                if worst > venue.inventory_limit:
                    return Denial(Check.VENUE_INVENTORY, worst, venue.inventory_limit)
            if total > self.desk.total_limit and total > self.total:
                return Denial(Check.TOTAL_NOTIONAL, total, self.desk.total_limit)
            if c.must_reduce and not reduces:
                return Denial(Check.DAILY_LOSS, after_side, abs(p))
        self.books[c.symbol] = after
        self.rates[c.symbol] = rate + 1
        self.total = total
        return None


def explain(denial: Denial, candidate: Candidate, state: TradingState) -> str:
    """The reason an operator reads in `OrderDenied`, with the figures in USD or counts."""
    c, check = candidate, denial.check
    value, limit = fmt_usd(from_units(denial.value)), fmt_usd(from_units(denial.limit))
    if check is Check.TRADING_STATE and state is TradingState.FROZEN:
        return FROZEN_REASON
    if check is Check.TRADING_STATE:
        return (
            f"trading is REDUCING: {c.side} {c.symbol} would not reduce the position "
            f"({value} USD of {c.side} orders against a {limit} USD position)"
        )
    if check is Check.POSITIONS_LAG:
        return (
            f"positions lag: a reported fill has waited {denial.value} ms to be folded into "
            f"its position, limit {denial.limit} ms; exposure is unknown until positions "
            "catches up"
        )
    if check is Check.OPEN_ORDERS:
        return f"open orders {c.symbol}: {denial.value}, limit {denial.limit}"
    if check is Check.ORDER_RATE:
        return (
            f"order rate {c.symbol}: {denial.value} orders in the last second, "
            f"limit {denial.limit} per second"
        )
    if check is Check.INVENTORY:
        return f"inventory {c.symbol} {c.side} would be {value} USD, limit {limit} USD"
    if check is Check.VENUE_INVENTORY:
        return (
            f"inventory {c.symbol} {c.side} at {c.venue} would be {value} USD, limit {limit} "
            f"USD at {c.venue}"
        )
    if check is Check.TOTAL_NOTIONAL:
        return f"total notional would be {value} USD, limit {limit} USD"
    if check is Check.DAILY_LOSS:
        return (
            f"daily loss limit reached: only reducing orders are allowed, and {c.side} "
            f"{c.symbol} would not reduce the position ({value} USD of {c.side} orders "
            f"against a {limit} USD position)"
        )
    return f"{check}: {value} against {limit}"
