"""Risk limits, the pre-trade checks that need no exposure, and breach tests. Pure.

A reason is what the operator reads in `OrderDenied`, so it carries the numbers. The checks
on exposure (inventory, total notional, open orders, rate, daily loss, positions lag) run
against running totals: `libs.common.domain.exposure`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from libs.common.domain.enums import Side
from libs.common.domain.ids import Symbol

_BPS = Decimal(10_000)


class TradingState(StrEnum):
    """ACTIVE trades; REDUCING takes only orders that reduce a position; FROZEN takes none."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    FROZEN = "FROZEN"


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.FROZEN: 2}


def combined_state(desk: TradingState, account: TradingState) -> TradingState:
    """What an account may do: the stricter of the desk's state and its own (a desk freeze
    stops every account; an account's freeze stops only it)."""
    return desk if _SEVERITY[desk] >= _SEVERITY[account] else account


class FreezeClass(StrEnum):
    """How a state left ACTIVE ends (`libs.common.metrics.FREEZE_CLASSES` classifies each
    freeze reason).

    TRANSIENT recovers by itself once its cause has cleared (`libs.common.domain.recovery`);
    HARD stays until an operator resumes trading with a reason, within the cooldown rules.
    """

    TRANSIENT = "transient"
    HARD = "hard"


class Check(StrEnum):
    """The pre-trade check that denied an order (`orders_denied_total{reason}` spells them
    the same)."""

    TRADING_STATE = "trading_state"
    NO_MARK = "no_mark"
    PRICE_BAND = "price_band"
    ORDER_NOTIONAL = "order_notional"
    OPEN_ORDERS = "open_orders"
    ORDER_RATE = "order_rate"
    INVENTORY = "inventory"
    TOTAL_NOTIONAL = "total_notional"
    DAILY_LOSS = "daily_loss"
    POSITIONS_LAG = "positions_lag"
    VENUE_INVENTORY = "venue_inventory"


USD = Annotated[Decimal, Field(gt=0, le=Decimal(10**9), decimal_places=6)]
"""A USD limit: positive, at most 1e9 (what the exposure ledger holds exactly) and at most
micro-USD precision."""
Bps = Annotated[Decimal, Field(gt=0, le=Decimal(10_000), decimal_places=2)]


class RiskLimits(BaseModel):
    """Limits in USD (quote) and counts. Defaults are the prototype's, or chosen as noted.

    The prototype fixed max_inventory_usd 10000, max_total_notional 50000 and
    edge_freeze_threshold_bps 200 (freeze when edge < 200 bps). The rest: one order at most
    half the per-symbol inventory; a 500 bps (5%) band catches a misplaced digit yet spares
    volatile markets; 50 open orders per symbol (Bybit allows 500); 10 orders per second per
    symbol (Bybit's linear create/amend/cancel quota is 10/s per account, which the router
    enforces; this stops a runaway strategy); a 1000 USD daily loss, 2% of the total limit,
    with no soft threshold unless one is set (a loss that reaches it puts trading in REDUCING);
    5 s for positions to fold a fill the venue reported, after which every order is denied
    (`positions_lag`): while positions is behind, exposure cannot be known.
    Compare the edge threshold with a strategy's reported edge or an average of measured
    fill edges, never with one fill: a single taker fill routinely has negative edge.

    Every field is bounded, so a limit a desk sets by mistake (`1E-25`, `1e12`) is refused
    with the field and the range instead of breaking the checks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: USD = Decimal(5_000)
    max_inventory_usd: USD = Decimal(10_000)
    """Per symbol, worst case, across every venue."""
    max_inventory_usd_bybit: USD | None = None
    """Per symbol at Bybit alone, worst case: the position there and the fills there not
    folded yet, with every open order there on the side filled. None: no limit of its own
    (`max_inventory_usd`, across venues, still applies)."""
    max_inventory_usd_binance_usdm: USD | None = None
    """The same at Binance USDⓈ-M."""
    max_total_notional: USD = Decimal(50_000)
    """Sum over symbols, worst case."""
    price_band_bps: Bps = Decimal(500)
    max_open_orders_per_symbol: int = Field(default=50, gt=0, le=100_000)
    max_orders_per_second: int = Field(default=10, gt=0, le=100_000)
    """Per symbol: orders and amends admitted in the last second."""
    edge_freeze_threshold_bps: Decimal = Field(
        default=Decimal(200), ge=-10_000, le=10_000, decimal_places=2
    )
    daily_loss_limit: USD = Decimal(1_000)
    daily_loss_soft_limit: USD | None = None
    """A loss today at or beyond this (below `daily_loss_limit`) puts trading in REDUCING;
    None: no soft threshold."""
    max_positions_lag_s: Decimal = Field(
        default=Decimal(5), ge=Decimal("0.1"), le=3_600, decimal_places=3
    )
    """Longest a reported fill may wait for positions before every order is denied."""

    def venue_inventory_limit(self, venue: str) -> Decimal | None:
        """The inventory limit of one venue (`VENUE_INVENTORY_LIMITS`); None: none set."""
        limit: Decimal | None = getattr(self, VENUE_INVENTORY_LIMITS[venue])
        return limit

    @field_validator("daily_loss_soft_limit")
    @classmethod
    def _soft_below_hard(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        hard = info.data.get("daily_loss_limit")
        if value is not None and hard is not None and value >= hard:
            raise ValueError(
                f"the soft daily loss limit {value} must be below the daily loss limit {hard}"
            )
        return value


LOOSER_WHEN_LOWER = frozenset({"edge_freeze_threshold_bps"})
"""Limits a lower value loosens (a lower edge threshold freezes later); every other limit
is looser when higher."""


VENUE_INVENTORY_LIMITS: dict[str, str] = {
    "bybit": "max_inventory_usd_bybit",
    "binance-usdm": "max_inventory_usd_binance_usdm",
}
"""The field of each venue's own inventory limit (`libs.common.domain.ids.VENUES`)."""


def tighter(a: RiskLimits, b: RiskLimits) -> RiskLimits:
    """Each limit at the stricter of `a`'s and `b`'s: an account's limits within the desk's.
    A soft daily loss limit that is no longer below the daily loss limit so chosen is
    dropped (the hard one is the stricter then)."""
    fields: dict[str, object] = {}
    for name in RiskLimits.model_fields:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            fields[name] = y if x is None else x
        elif name in LOOSER_WHEN_LOWER:
            fields[name] = max(x, y)
        else:
            fields[name] = min(x, y)
    soft, hard = fields["daily_loss_soft_limit"], fields["daily_loss_limit"]
    if isinstance(soft, Decimal) and isinstance(hard, Decimal) and soft >= hard:
        fields["daily_loss_soft_limit"] = None
    return RiskLimits.model_validate(fields)


class OrderIntent(BaseModel):
    """An order as risk sees it: price None for a Market order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    side: Side
    qty: Decimal = Field(gt=0)
    price: Decimal | None = Field(default=None, gt=0)
    reduce_only: bool = False


def check_order_notional(intent: OrderIntent, mark: Decimal, limits: RiskLimits) -> str | None:
    """Deny an order worth more than max_order_notional (a Market order is valued at mark)."""
    notional = intent.qty * (intent.price or mark)
    if notional > limits.max_order_notional:
        return (
            f"order notional {intent.symbol} {_fmt(notional)} USD is above the limit "
            f"{_fmt(limits.max_order_notional)} USD"
        )
    return None


def check_price_band(intent: OrderIntent, mark: Decimal, limits: RiskLimits) -> str | None:
    """Deny a limit price more than price_band_bps away from mark (fat finger)."""
    if intent.price is None:
        return None
    distance = abs(intent.price - mark) / mark * _BPS
    if distance > limits.price_band_bps:
        return (
            f"price {intent.price} {intent.symbol} is {_fmt(distance)} bps from mark {mark}, "
            f"band {_fmt(limits.price_band_bps)} bps"
        )
    return None


def order_denial(
    intent: OrderIntent, mark: Decimal | None, limits: RiskLimits
) -> tuple[Check, str] | None:
    """The checks that need no exposure, in order: a mark, the price band, the order's
    notional. The exposure checks (state, open orders, rate, inventory, total notional,
    daily loss, positions lag) are `libs.common.domain.exposure.ExposureCheck`."""
    if mark is None:
        return Check.NO_MARK, f"no mark price for {intent.symbol}: cannot check the order"
    if reason := check_price_band(intent, mark, limits):
        return Check.PRICE_BAND, reason
    if reason := check_order_notional(intent, mark, limits):
        return Check.ORDER_NOTIONAL, reason
    return None


def measured_edge_bps(side: Side, fill_price: Decimal, mid: Decimal) -> Decimal:
    """Edge of a fill against the mid at fill time, in bps: positive means we earned."""
    if mid <= 0:
        raise ValueError(f"mid {mid} is invalid: expected a positive price")
    return (mid - fill_price) * side.sign / mid * _BPS


def edge_breach(edge_bps: Decimal, threshold_bps: Decimal) -> bool:
    """True when edge has collapsed below the threshold (strictly, as in the prototype)."""
    return edge_bps < threshold_bps


def daily_loss_breach(pnl_today: Decimal, limit: Decimal) -> bool:
    """True when the loss today has reached `limit` (a positive amount)."""
    return -pnl_today >= limit


def fmt_usd(value: Decimal) -> str:
    """Two decimals at most, no trailing zeros: 12000, 12000.5, 0.01."""
    return _fmt(value)


def _fmt(value: Decimal) -> str:
    """Two decimals at most, no trailing zeros: 12000, 12000.5, 0.01."""
    return f"{value.quantize(Decimal('0.01')).normalize():f}"
