"""Pre-trade risk checks and breach tests. Pure: each check returns a reason or None.

A reason is what the operator reads in `OrderDenied`, so it carries the numbers. Exposure is
counted worst case: a symbol's open orders on one side are assumed to fill. An order that
does not increase the worst case it is checked against is never denied for that limit, so
reducing a position that is already over a limit stays possible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from libs.common.domain.enums import Side
from libs.common.domain.ids import Symbol
from libs.common.domain.time import NS_PER_SECOND

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class TradingState(StrEnum):
    """ACTIVE trades; REDUCING takes only orders that reduce a position; FROZEN takes none."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    FROZEN = "FROZEN"


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


class RiskLimits(BaseModel):
    """Limits in USD (quote) and counts. Defaults are the prototype's, or chosen as noted.

    The prototype fixed max_inventory_usd 10000, max_total_notional 50000 and
    edge_freeze_threshold_bps 200 (freeze when edge < 200 bps). The rest: one order at most
    half the per-symbol inventory; a 500 bps (5%) band catches a misplaced digit yet spares
    volatile markets; 50 open orders per symbol (Bybit allows 500); 10 orders per second per
    symbol (Bybit's linear create/amend/cancel quota is 10/s per account, which the router
    enforces; this stops a runaway strategy); a 1000 USD daily loss, 2% of the total limit.
    Compare the edge threshold with a strategy's reported edge or an average of measured
    fill edges, never with one fill: a single taker fill routinely has negative edge.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal = Field(default=Decimal(5_000), gt=0)
    max_inventory_usd: Decimal = Field(default=Decimal(10_000), gt=0)
    """Per symbol, worst case."""
    max_total_notional: Decimal = Field(default=Decimal(50_000), gt=0)
    """Sum over symbols, worst case."""
    price_band_bps: Decimal = Field(default=Decimal(500), gt=0)
    max_open_orders_per_symbol: int = Field(default=50, gt=0)
    max_orders_per_second: int = Field(default=10, gt=0)
    """Per symbol."""
    edge_freeze_threshold_bps: Decimal = Decimal(200)
    daily_loss_limit: Decimal = Field(default=Decimal(1_000), gt=0)


class OrderIntent(BaseModel):
    """An order as risk sees it: price None for a Market order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    side: Side
    qty: Decimal = Field(gt=0)
    price: Decimal | None = Field(default=None, gt=0)
    reduce_only: bool = False


class OpenOrder(BaseModel):
    """The part of a resting order that can still fill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    side: Side
    leaves_qty: Decimal = Field(gt=0)
    price: Decimal | None = None


class RiskSnapshot(BaseModel):
    """What the checks need to know, read by the risk service just before checking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trading_state: TradingState = TradingState.ACTIVE
    positions: Mapping[Symbol, Decimal] = Field(default_factory=dict)
    """Signed qty per symbol."""
    open_orders: Mapping[Symbol, tuple[OpenOrder, ...]] = Field(default_factory=dict)
    marks: Mapping[Symbol, Decimal] = Field(default_factory=dict)
    recent_order_ts_ns: Mapping[Symbol, tuple[int, ...]] = Field(default_factory=dict)
    """When orders were last sent, per symbol (at least the last second's)."""
    pnl_today: Decimal = _ZERO
    """Net P&L since 00:00 UTC (realized minus fees, plus unrealized if the service adds it)."""


def check_trading_state(
    intent: OrderIntent,
    state: TradingState,
    position_qty: Decimal,
    open_orders: Iterable[OpenOrder],
) -> str | None:
    """FROZEN denies all; REDUCING allows only orders that reduce the position."""
    if state is TradingState.FROZEN:
        return "trading is FROZEN: no new orders"
    if state is TradingState.REDUCING and not _reduces(intent, position_qty, open_orders):
        return (
            f"trading is REDUCING: {intent.side} {intent.qty} {intent.symbol} would not reduce "
            f"the position {position_qty} (open {intent.side} orders counted)"
        )
    return None


def check_order_notional(intent: OrderIntent, mark: Decimal, limits: RiskLimits) -> str | None:
    """Deny an order worth more than max_order_notional (a Market order is valued at mark)."""
    notional = intent.qty * (intent.price or mark)
    if notional > limits.max_order_notional:
        return (
            f"order notional {intent.symbol} {_fmt(notional)} USD is above the limit "
            f"{_fmt(limits.max_order_notional)} USD"
        )
    return None


def check_inventory(
    intent: OrderIntent,
    position_qty: Decimal,
    open_orders: Iterable[OpenOrder],
    mark: Decimal,
    limits: RiskLimits,
) -> str | None:
    """Deny if |position + open same-side qty + this order| * mark passes max_inventory_usd."""
    open_qty = _open_qty(open_orders, intent.side)
    before = abs(position_qty + intent.side.sign * open_qty) * mark
    after = abs(position_qty + intent.side.sign * (open_qty + intent.qty)) * mark
    if after > limits.max_inventory_usd and after > before:
        return (
            f"inventory {intent.symbol} would be {_fmt(after)} USD, "
            f"limit {_fmt(limits.max_inventory_usd)} USD"
        )
    return None


def check_total_notional(
    intent: OrderIntent, snapshot: RiskSnapshot, limits: RiskLimits
) -> str | None:
    """Deny if the sum over symbols of worst-case exposure passes max_total_notional."""
    symbols = set(snapshot.positions) | set(snapshot.open_orders) | {intent.symbol}
    before = after = _ZERO
    for symbol in sorted(symbols):
        position = snapshot.positions.get(symbol, _ZERO)
        orders = snapshot.open_orders.get(symbol, ())
        exposure = _worst_case_qty(position, orders, None)
        with_order = _worst_case_qty(position, orders, intent if symbol == intent.symbol else None)
        if with_order == 0:
            continue
        mark = snapshot.marks.get(symbol)
        if mark is None:
            return f"total notional: no mark price for {symbol}, which has exposure"
        before += exposure * mark
        after += with_order * mark
    if after > limits.max_total_notional and after > before:
        return (
            f"total notional would be {_fmt(after)} USD, "
            f"limit {_fmt(limits.max_total_notional)} USD"
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


def check_open_orders(intent: OrderIntent, open_order_count: int, limits: RiskLimits) -> str | None:
    """Deny when the symbol already has max_open_orders_per_symbol open orders."""
    if open_order_count >= limits.max_open_orders_per_symbol:
        return (
            f"open orders {intent.symbol}: {open_order_count}, "
            f"limit {limits.max_open_orders_per_symbol}"
        )
    return None


def check_order_rate(
    intent: OrderIntent, recent_ts_ns: Iterable[int], now_ns: int, limits: RiskLimits
) -> str | None:
    """Deny when max_orders_per_second orders were sent for the symbol in the last second."""
    count = sum(1 for ts in recent_ts_ns if now_ns - NS_PER_SECOND < ts <= now_ns)
    if count >= limits.max_orders_per_second:
        return (
            f"order rate {intent.symbol}: {count} orders in the last second, "
            f"limit {limits.max_orders_per_second} per second"
        )
    return None


def check_daily_loss(
    intent: OrderIntent,
    pnl_today: Decimal,
    position_qty: Decimal,
    open_orders: Iterable[OpenOrder],
    limits: RiskLimits,
) -> str | None:
    """Once the daily loss limit is reached, allow only orders that reduce the position."""
    if daily_loss_breach(pnl_today, limits.daily_loss_limit) and not _reduces(
        intent, position_qty, open_orders
    ):
        return (
            f"daily loss {_fmt(-pnl_today)} USD reached the limit "
            f"{_fmt(limits.daily_loss_limit)} USD: only reducing orders are allowed"
        )
    return None


def run_pre_trade_checks(
    intent: OrderIntent, snapshot: RiskSnapshot, limits: RiskLimits, now_ns: int
) -> str | None:
    """Run every check in order; return the first reason to deny, or None to approve."""
    denial = pre_trade_denial(intent, snapshot, limits, now_ns)
    return None if denial is None else denial[1]


def pre_trade_denial(
    intent: OrderIntent, snapshot: RiskSnapshot, limits: RiskLimits, now_ns: int
) -> tuple[Check, str] | None:
    """As `run_pre_trade_checks`, with the check that denied: (check, reason), or None."""
    symbol = intent.symbol
    position = snapshot.positions.get(symbol, _ZERO)
    orders = snapshot.open_orders.get(symbol, ())
    if reason := check_trading_state(intent, snapshot.trading_state, position, orders):
        return Check.TRADING_STATE, reason
    mark = snapshot.marks.get(symbol)
    if mark is None:
        return Check.NO_MARK, f"no mark price for {symbol}: cannot check the order"
    checks: tuple[tuple[Check, Callable[[], str | None]], ...] = (
        (Check.PRICE_BAND, lambda: check_price_band(intent, mark, limits)),
        (Check.ORDER_NOTIONAL, lambda: check_order_notional(intent, mark, limits)),
        (Check.OPEN_ORDERS, lambda: check_open_orders(intent, len(orders), limits)),
        (
            Check.ORDER_RATE,
            lambda: check_order_rate(
                intent, snapshot.recent_order_ts_ns.get(symbol, ()), now_ns, limits
            ),
        ),
        (Check.INVENTORY, lambda: check_inventory(intent, position, orders, mark, limits)),
        (Check.TOTAL_NOTIONAL, lambda: check_total_notional(intent, snapshot, limits)),
        (
            Check.DAILY_LOSS,
            lambda: check_daily_loss(intent, snapshot.pnl_today, position, orders, limits),
        ),
    )
    for check, run in checks:
        if reason := run():
            return check, reason
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


def _open_qty(open_orders: Iterable[OpenOrder], side: Side) -> Decimal:
    return sum((o.leaves_qty for o in open_orders if o.side is side), _ZERO)


def _worst_case_qty(
    position_qty: Decimal, open_orders: Iterable[OpenOrder], extra: OrderIntent | None
) -> Decimal:
    """Largest |position| if every open order on one side fills, `extra` included."""
    orders = list(open_orders)
    longest = position_qty + _open_qty(orders, Side.BUY)
    shortest = position_qty - _open_qty(orders, Side.SELL)
    if extra is not None and extra.side is Side.BUY:
        longest += extra.qty
    elif extra is not None:
        shortest -= extra.qty
    return max(abs(longest), abs(shortest))


def _reduces(intent: OrderIntent, position_qty: Decimal, open_orders: Iterable[OpenOrder]) -> bool:
    """True if the order, with open orders on its side, only brings the position toward zero."""
    if intent.side.sign * position_qty >= 0:
        return False
    return _open_qty(open_orders, intent.side) + intent.qty <= abs(position_qty)


def _fmt(value: Decimal) -> str:
    """Two decimals at most, no trailing zeros: 12000, 12000.5, 0.01."""
    return f"{value.quantize(Decimal('0.01')).normalize():f}"
