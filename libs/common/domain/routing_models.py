"""The router's inputs and outputs (`libs.common.domain.routing` routes them). Pure, frozen.

Inputs: `RouteRequest` (what to route and when), `RoutePolicy` (how venues are judged and
ranked), `VenueQuote` (one venue's book, fee, rules, health and risk headroom). Each checks
itself on construction and raises RoutingError saying what was wrong.

Output: `RoutePlan`, with a `RouteChild` per venue that gets a share and a `RouteVerdict` per
venue considered; `to_dict()` is JSON-safe, `explain(plan)` the lines to print.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from libs.common.domain.enums import OrderType, Side
from libs.common.domain.errors import RoutingError
from libs.common.domain.instruments import InstrumentRules
from libs.common.domain.routing_book import Level, check_levels

_ZERO = Decimal(0)


def _check_decimal(name: str, value: object, *, low: Decimal | None = None) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RoutingError(f"{name} {value!r} is invalid: expected a finite Decimal")
    if low is not None and value < low:
        raise RoutingError(f"{name} {value} is invalid: expected at least {low}")


def _check_fraction(name: str, value: Decimal) -> None:
    _check_decimal(name, value, low=_ZERO)
    if value > 1:
        raise RoutingError(f"{name} {value} is invalid: expected a fraction from 0 to 1")


# -- Inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What to route: `qty` on `side`, never beyond `limit_price` (None: a market order).

    `now_ns` is the time of routing, against which book ages are judged.
    """

    side: Side
    qty: Decimal
    limit_price: Decimal | None
    now_ns: int

    def __post_init__(self) -> None:
        _check_decimal("qty", self.qty)
        if self.qty <= 0:
            raise RoutingError(f"qty {self.qty} is invalid: expected a positive quantity")
        if self.limit_price is not None:
            _check_decimal("limit_price", self.limit_price)
            if self.limit_price <= 0:
                raise RoutingError(
                    f"limit_price {self.limit_price} is invalid: expected a positive price"
                )
        if self.now_ns < 0:
            raise RoutingError(f"now_ns {self.now_ns} is invalid: expected ns since the epoch")

    @property
    def order_type(self) -> OrderType:
        return OrderType.MARKET if self.limit_price is None else OrderType.LIMIT


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """How venues are judged and ranked. Defaults: a book older than 1 s is stale; a venue
    with less than 10% of its request budget left is spared; 1 ms of latency costs 0.01 bps
    (50 ms: 0.5 bps, about a tenth of a taker fee); no latency cap; no notional floor beyond
    each venue's own min notional."""

    max_book_age_ms: int = 1_000
    min_rate_headroom: Decimal = Decimal("0.1")
    latency_penalty_bps_per_ms: Decimal = Decimal("0.01")
    max_latency_ms: Decimal | None = None
    """Exclude a venue whose recent latency is above this; None: no cap."""
    min_child_notional: Decimal = _ZERO
    """Smallest child notional (quote currency) on any venue, on top of the venue's own."""

    def __post_init__(self) -> None:
        if self.max_book_age_ms <= 0:
            raise RoutingError(
                f"max_book_age_ms {self.max_book_age_ms} is invalid: expected a positive number"
            )
        _check_fraction("min_rate_headroom", self.min_rate_headroom)
        _check_decimal("latency_penalty_bps_per_ms", self.latency_penalty_bps_per_ms, low=_ZERO)
        if self.max_latency_ms is not None:
            _check_decimal("max_latency_ms", self.max_latency_ms, low=_ZERO)
        _check_decimal("min_child_notional", self.min_child_notional, low=_ZERO)


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """One venue as the router sees it at routing time: its book, fee, rules, health and risk
    headroom. Levels are `(price, qty)` Decimals, best first (see `routing_book`)."""

    venue: str
    rules: InstrumentRules
    """The instrument on this venue: tick, qty step, min qty, min notional, max order qty."""
    taker_fee_rate: Decimal
    """e.g. Decimal("0.00055") for 5.5 bps."""
    book_ts_ns: int
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    circuit_open: bool = False
    rate_headroom: Decimal = Decimal(1)
    """Fraction (0 to 1) of the venue's request/order budget left."""
    latency_ms: Decimal | None = None
    """Recent latency (p50 or EWMA); None: no sample yet."""
    risk_headroom_qty: Decimal | None = None
    """How much more of the request's side the per-venue risk limits allow; None: unlimited."""

    def __post_init__(self) -> None:
        if not self.venue:
            raise RoutingError("venue is invalid: expected a non-empty name")
        # Callers may pass lists; keep the quote hashable and immutable.
        object.__setattr__(self, "bids", tuple(tuple(level) for level in self.bids))
        object.__setattr__(self, "asks", tuple(tuple(level) for level in self.asks))
        check_levels(self.venue, "bids", self.bids, ascending=False)
        check_levels(self.venue, "asks", self.asks, ascending=True)
        _check_decimal(f"{self.venue} taker_fee_rate", self.taker_fee_rate)
        if abs(self.taker_fee_rate) >= 1:
            raise RoutingError(
                f"{self.venue} taker_fee_rate {self.taker_fee_rate} is invalid: expected a "
                "fraction, e.g. 0.00055 for 5.5 bps"
            )
        _check_fraction(f"{self.venue} rate_headroom", self.rate_headroom)
        if self.latency_ms is not None:
            _check_decimal(f"{self.venue} latency_ms", self.latency_ms, low=_ZERO)
        if self.risk_headroom_qty is not None:
            _check_decimal(f"{self.venue} risk_headroom_qty", self.risk_headroom_qty)
        rules = self.rules
        for name in ("tick_size", "qty_step"):
            value = getattr(rules, name)
            if value <= 0:
                raise RoutingError(f"{self.venue} {name} {value} is invalid: expected > 0")
        for name in ("min_qty", "min_notional"):
            value = getattr(rules, name)
            if value < 0:
                raise RoutingError(f"{self.venue} {name} {value} is invalid: expected >= 0")

    def book_side(self, side: Side) -> tuple[Level, ...]:
        """The levels an order on `side` takes: asks for a Buy, bids for a Sell."""
        return self.asks if side is Side.BUY else self.bids


# -- Outputs ---------------------------------------------------------------------------------


def _str(value: Decimal) -> str:
    return f"{value:f}"


@dataclass(frozen=True, slots=True)
class RouteChild:
    """One venue's share: an IOC order of `qty` up to `worst_price` is expected to fill at
    `expected_avg_price`."""

    venue: str
    qty: Decimal
    expected_avg_price: Decimal
    notional: Decimal
    """qty * expected_avg_price, exactly: the sum over the levels taken."""
    expected_fee: Decimal
    effective_price: Decimal
    """The average price after the taker fee: buy avg * (1 + fee), sell avg * (1 - fee)."""
    worst_price: Decimal
    """The last level taken: the limit price that takes exactly the planned levels."""
    levels_used: int

    def to_dict(self) -> dict[str, object]:
        """JSON-safe: Decimals as strings."""
        return {
            "venue": self.venue,
            "qty": _str(self.qty),
            "expected_avg_price": _str(self.expected_avg_price),
            "notional": _str(self.notional),
            "expected_fee": _str(self.expected_fee),
            "effective_price": _str(self.effective_price),
            "worst_price": _str(self.worst_price),
            "levels_used": self.levels_used,
        }


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    """Why a venue got its share, or none."""

    venue: str
    eligible: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Where an order goes: children best first, what is left, a verdict per venue (by name)."""

    request: RouteRequest
    children: tuple[RouteChild, ...]
    unfilled_qty: Decimal
    verdicts: tuple[RouteVerdict, ...]
    summary: str

    @property
    def routed_qty(self) -> Decimal:
        return sum((child.qty for child in self.children), _ZERO)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe (Decimals as strings) for an API response."""
        limit = self.request.limit_price
        return {
            "side": self.request.side.value,
            "qty": _str(self.request.qty),
            "limit_price": None if limit is None else _str(limit),
            "children": [child.to_dict() for child in self.children],
            "unfilled_qty": _str(self.unfilled_qty),
            "verdicts": [
                {"venue": v.venue, "eligible": v.eligible, "reason": v.reason}
                for v in self.verdicts
            ],
            "summary": self.summary,
        }


def explain(plan: RoutePlan) -> list[str]:
    """The summary, then one line per venue: what an operator or an API prints."""
    return [plan.summary, *(f"{v.venue}: {v.reason}" for v in plan.verdicts)]
