"""The records the exchange keeps: orders, executions, positions, market state, changes."""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from libs.common.domain.enums import Category, OrderType, Side, TimeInForce, VenueOrderStatus
from libs.common.domain.instruments import round_to_step
from services.venue_sim.engine.candles import CandleSeries
from services.venue_sim.engine.catalog import InstrumentSpec

ZERO = Decimal(0)
TAPE_SIZE = 1000
"""Public trades kept per market for `/v5/market/recent-trade` (Bybit serves up to 1000)."""
OPEN_STATUSES = frozenset({VenueOrderStatus.NEW, VenueOrderStatus.PARTIALLY_FILLED})
BookKey = tuple[Category, str]
DEFAULT_UID = "100100100"
"""The UID of the first account (the one of the first key pair; Bybit UIDs are numeric)."""
_ID_PREFIX = str(uuid.uuid4())[:23]
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A UUID-shaped id: random per process, then a counter (cheaper than uuid4 per call)."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER):012x}"


@dataclass(slots=True, kw_only=True, eq=False)
class SimOrder:
    """One order as the venue holds it; mutated in place as it fills, amends or cancels."""

    order_id: str
    link_id: str
    category: Category
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: Decimal
    """Limit price; for a Market order the price it was executed against."""
    qty: Decimal
    """In the base coin, except a spot Market Buy with marketUnit=quoteCoin (quote coin)."""
    leaves: Decimal
    created: int
    updated: int
    seq: int
    reduce_only: bool = False
    close_on_trigger: bool = False
    market_unit: str = ""
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    fee_currency: str = ""
    closed_pnl: Decimal = ZERO
    status: VenueOrderStatus = VenueOrderStatus.NEW
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    last_price_on_created: Decimal = ZERO
    reserved: Decimal = ZERO
    """Margin (linear) or coin (spot) this order holds while open."""
    uid: str = DEFAULT_UID
    """The account (UID) that placed it."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal | None:
        return self.cum_value / self.cum_qty if self.cum_qty else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One execution: a fill of one of our orders (`exec_type` "Trade") or a funding
    settlement on a position ("Funding", with no order: `order_id` and `link_id` empty)."""

    exec_id: str
    seq: int
    category: Category
    symbol: str
    order_id: str
    link_id: str
    side: Side
    order_price: Decimal
    order_qty: Decimal
    order_type: OrderType
    price: Decimal
    qty: Decimal
    value: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_currency: str
    is_maker: bool
    time: int
    leaves: Decimal
    closed_size: Decimal
    exec_pnl: Decimal
    mark_price: Decimal
    exec_type: str = "Trade"
    """Bybit's execType."""
    uid: str = DEFAULT_UID
    """The account (UID) whose execution it is."""


@dataclass(slots=True, kw_only=True)
class Position:
    """A one-way linear position; `size` is signed (+ long, - short)."""

    symbol: str
    size: Decimal = ZERO
    avg_price: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created: int = 0
    updated: int = 0
    seq: int = -1

    @property
    def side(self) -> str:
        return "Buy" if self.size > 0 else "Sell" if self.size < 0 else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicTrade:
    """A trade printed by the market (the aggressor side is `side`)."""

    trade_id: str
    category: Category
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    time: int
    tick_direction: str
    seq: int = 0
    """The market's trade sequence number (1 for its first print)."""


@dataclass(slots=True)
class MarketState:
    """The synthetic market of one (category, symbol): mid, touch and 24 h statistics, and
    what it printed: the last `TAPE_SIZE` trades, trade candles and mark (mid) candles."""

    spec: InstrumentSpec
    half_spread: Decimal
    mid: Decimal = ZERO
    bid: Decimal = ZERO
    ask: Decimal = ZERO
    last_price: Decimal = ZERO
    prev_price: Decimal = ZERO
    open_price: Decimal = ZERO
    high: Decimal = ZERO
    low: Decimal = ZERO
    volume: Decimal = ZERO
    turnover: Decimal = ZERO
    trade_seq: int = 0
    tape: deque[PublicTrade] = field(default_factory=lambda: deque(maxlen=TAPE_SIZE))
    candles: CandleSeries = field(default_factory=CandleSeries)
    """Trade candles (`/v5/market/kline`)."""
    marks: CandleSeries = field(default_factory=CandleSeries)
    """Mark price candles: the mid, sampled whenever it moves (mark = index = mid here)."""

    def __post_init__(self) -> None:
        self.open_price = self.high = self.low = self.spec.start_mid
        self.last_price = self.prev_price = self.spec.start_mid
        self.set_mid(self.spec.start_mid)

    def set_mid(self, mid: Decimal) -> None:
        """Move the mid; the synthetic touch is the mid -/+ the half spread, on the tick grid."""
        tick = self.spec.rules.tick_size
        self.mid = mid
        self.bid = max(round_to_step(mid - self.half_spread, tick, up=False), tick)
        self.ask = max(round_to_step(mid + self.half_spread, tick, up=True), self.bid + tick)

    def print_trade(self, side: Side, price: Decimal, qty: Decimal, now: int) -> PublicTrade:
        """Record a public trade in the statistics and return it."""
        previous = self.last_price
        self.prev_price, self.last_price = previous, price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += qty
        self.turnover += qty * price
        direction = (
            "PlusTick" if price > previous else "MinusTick" if price < previous else "ZeroPlusTick"
        )
        self.trade_seq += 1
        trade = PublicTrade(
            trade_id=new_id(),
            category=self.spec.category,
            symbol=self.spec.symbol,
            side=side,
            price=price,
            qty=qty,
            time=now,
            tick_direction=direction,
            seq=self.trade_seq,
        )
        self.tape.append(trade)
        self.candles.add(now, price, qty)
        return trade


@dataclass(slots=True)
class Changes:
    """What one operation changed, for the private and public streams. Orders and
    executions name their account (`uid`); positions and wallets are keyed by it."""

    orders: dict[str, SimOrder] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    positions: set[tuple[str, str]] = field(default_factory=set)
    """(uid, linear symbol) of the positions to push."""
    wallets: set[str] = field(default_factory=set)
    """UIDs of the accounts whose wallet to push."""
    trades: list[PublicTrade] = field(default_factory=list)
    books: set[BookKey] = field(default_factory=set)

    @property
    def wallet(self) -> bool:
        """Whether any account's wallet changed."""
        return bool(self.wallets)

    def order(self, order: SimOrder) -> None:
        self.orders[order.order_id] = order
        self.books.add((order.category, order.symbol))
        if order.category is Category.LINEAR:
            self.positions.add((order.uid, order.symbol))

    def position(self, uid: str, symbol: str) -> None:
        """The account's position of `symbol` changed (and so did its wallet)."""
        self.positions.add((uid, symbol))
        self.wallets.add(uid)

    def uids(self) -> set[str]:
        """The accounts these changes touch."""
        touched = {o.uid for o in self.orders.values()} | {e.uid for e in self.executions}
        return touched | {uid for uid, _ in self.positions} | self.wallets

    def merge(self, other: Changes) -> None:
        """Fold a later operation's changes into these."""
        self.orders.update(other.orders)
        self.executions.extend(other.executions)
        self.positions |= other.positions
        self.wallets |= other.wallets
        self.trades.extend(other.trades)
        self.books |= other.books
