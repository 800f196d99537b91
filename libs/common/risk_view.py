"""What risk knows, read from Redis in two rounds: `RiskReader.read` returns a `RiskView`.

Round one: the trading state, the desk limits, today's P&L baseline and the symbols that
matter (every symbol with exposure, a position or a mark, and those asked for). Round two,
for those symbols: their limits, positions with versions, marks and, when asked, the
exposure ledger's totals and order rates. Nothing is read per open order: the cost is
O(symbols), whatever the size of the book.

Rules of the view:

- Only fresh marks (confirmed by a connected stream within `mark_max_age_s`) value a
  position for a check: `terms(symbol)` is None for a symbol with a position and no fresh
  mark, and risk then denies (`no_mark`) rather than guess. P&L uses the latest mark, fresh
  or not.
- P&L today = net P&L now - the net P&L when the day (UTC) was first observed, where net P&L
  = sum over positions of realized - fees + unrealized at the mark (0 without a mark). The
  risk service sets the baseline once a day (`ensure_pnl_baseline`, first writer wins);
  until it is set P&L today reads 0. P&L made between 00:00 and that first observation (risk
  down at midnight) is not counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from redis.asyncio import Redis

from libs.common.domain.exposure import (
    DeskTerms,
    SymbolBook,
    SymbolTerms,
    position_units,
    to_units,
)
from libs.common.domain.ids import Symbol
from libs.common.domain.positions import Position, unrealized_pnl
from libs.common.domain.risk_checks import RiskLimits, daily_loss_breach
from libs.common.domain.time import NS_PER_MS, NS_PER_SECOND, seconds_to_ns
from libs.common.metrics import ALL_SYMBOLS
from libs.common.stores import PositionStore, RiskStateStore, TradingStatus
from libs.common.stores._support import text
from libs.common.stores.exposure import ExposureLedger
from libs.common.stores.marks import Mark, MarkStore
from libs.common.topology import POSITION_SYMBOLS_KEY, pnl_baseline_key

_ZERO = Decimal(0)
PNL_BASELINE_TTL_S = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RiskView:
    """The risk state at `now_ns` over `symbols` (see the module docstring)."""

    now_ns: int
    status: TradingStatus
    desk_limits: RiskLimits
    symbol_limits: Mapping[Symbol, RiskLimits]
    positions: Mapping[Symbol, Position]
    versions: Mapping[Symbol, int]
    marks: Mapping[Symbol, Mark]
    """The latest mark of each symbol that has one, fresh or not."""
    fresh: Mapping[Symbol, Decimal]
    """The marks fresh enough to check against."""
    books: Mapping[Symbol, SymbolBook]
    """The ledger's totals (empty unless read with `books=True`)."""
    rates: Mapping[Symbol, int]
    """Admissions in the last second (empty unless read with `books=True`)."""
    net_pnl: Decimal
    pnl_baseline: Decimal | None

    @property
    def symbols(self) -> list[Symbol]:
        return sorted(self.symbol_limits)

    @property
    def pnl_today(self) -> Decimal:
        return _ZERO if self.pnl_baseline is None else self.net_pnl - self.pnl_baseline

    @property
    def daily_loss_reached(self) -> bool:
        return daily_loss_breach(self.pnl_today, self.desk_limits.daily_loss_limit)

    def limits(self, symbol: Symbol) -> RiskLimits:
        """The limits of `symbol`: the desk's with its overrides."""
        return self.symbol_limits.get(symbol, self.desk_limits)

    def position_qty(self, symbol: Symbol) -> Decimal:
        position = self.positions.get(symbol)
        return _ZERO if position is None else position.qty

    def terms(self, symbol: Symbol) -> SymbolTerms | None:
        """The symbol's terms for the ledger; None when its position has no fresh mark."""
        qty, mark = self.position_qty(symbol), self.fresh.get(symbol)
        if qty != 0 and mark is None:
            return None
        limits = self.limits(symbol)
        return SymbolTerms(
            symbol=symbol,
            position=0 if mark is None else position_units(qty, mark),
            position_version=self.versions.get(symbol, 0),
            inventory_limit=to_units(limits.max_inventory_usd, round_up=False),
            max_open_orders=limits.max_open_orders_per_symbol,
            max_orders_per_second=limits.max_orders_per_second,
        )

    def desk_terms(self) -> DeskTerms:
        desk = self.desk_limits
        return DeskTerms(
            now_ms=self.now_ns // NS_PER_MS,
            total_limit=to_units(desk.max_total_notional, round_up=False),
            max_positions_lag_ms=int(desk.max_positions_lag_s * 1000),
        )


class RiskReader:
    """Reads `RiskView`s from the stores."""

    def __init__(
        self,
        redis: Redis,
        *,
        risk: RiskStateStore,
        positions: PositionStore,
        marks: MarkStore,
        ledger: ExposureLedger,
        mark_max_age_s: float = 30.0,
    ) -> None:
        self._redis = redis
        self._risk = risk
        self._positions = positions
        self._marks = marks
        self._ledger = ledger
        self._mark_max_age_ns = seconds_to_ns(Decimal(str(mark_max_age_s)))

    async def read(
        self, now_ns: int, *, symbols: Iterable[Symbol] = (), books: bool = False
    ) -> RiskView:
        """The view at `now_ns` over `symbols` and every symbol with exposure, a position or
        a mark; with the ledger's totals and rates when `books`."""
        status, desk, exposed, positioned, marked, baseline = await asyncio.gather(
            self._risk.trading_state(),
            self._risk.get_limits(),
            self._ledger.symbols(),
            self._redis.smembers(POSITION_SYMBOLS_KEY),
            self._marks.symbols(),
            self._redis.get(pnl_baseline_key(utc_day(now_ns))),
        )
        named = {Symbol(text(s)) for s in positioned}
        known = sorted({*symbols, *exposed, *named, *marked})
        limits, versioned, marks = await asyncio.gather(
            self._risk.get_limits_many(known),
            self._positions.versioned(known),
            self._marks.get_many(known),
        )
        totals: dict[Symbol, SymbolBook] = {}
        rates: dict[Symbol, int] = {}
        if books:
            totals, rates = await asyncio.gather(
                self._ledger.books(known), self._ledger.rates(known, now_ns // NS_PER_MS)
            )
        positions = {s: p for s, (p, _) in versioned.items()}
        net = sum((_net_pnl(p, marks.get(s)) for s, p in positions.items()), _ZERO)
        return RiskView(
            now_ns=now_ns,
            status=status,
            desk_limits=desk,
            symbol_limits=limits,
            positions=positions,
            versions={s: v for s, (_, v) in versioned.items()},
            marks=marks,
            fresh={
                s: m.mark for s, m in marks.items() if m.is_fresh(now_ns, self._mark_max_age_ns)
            },
            books=totals,
            rates=rates,
            net_pnl=net,
            pnl_baseline=None if baseline is None else Decimal(text(baseline)),
        )


def _net_pnl(position: Position, mark: Mark | None) -> Decimal:
    unrealized = _ZERO if mark is None else unrealized_pnl(position, mark.mark)
    return position.realized_pnl - position.fees_paid + unrealized


def utc_day(now_ns: int) -> str:
    """The UTC date of `now_ns` as YYYYMMDD: the day P&L today belongs to."""
    return dt.datetime.fromtimestamp(now_ns / NS_PER_SECOND, dt.UTC).strftime("%Y%m%d")


async def ensure_pnl_baseline(redis: Redis, now_ns: int, net_pnl: Decimal) -> Decimal:
    """Set today's P&L baseline to `net_pnl` unless set; return the baseline in force."""
    key = pnl_baseline_key(utc_day(now_ns))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(key, str(net_pnl), nx=True, ex=PNL_BASELINE_TTL_S)
        pipe.get(key)
        _, stored = await pipe.execute()
    return Decimal(text(stored))


def utilisation(view: RiskView) -> dict[tuple[str, str], float]:
    """Used fraction of each limit: {(limit name, symbol or ALL): ratio}, from the ledger.

    Inventory is the symbol's worst case (position and unfolded fills, with every open order
    of one side filled) over its limit; total notional sums the worst cases over the desk
    limit; open orders and order rate count; daily loss is the loss today over the limit (0
    while in profit); positions lag is the oldest unfolded fill's wait over its limit.
    Symbols whose position has no fresh mark have no inventory figure.
    """
    ratios: dict[tuple[str, str], float] = {}
    total = 0
    oldest: list[int] = []
    for symbol in view.symbols:
        limits, book = view.limits(symbol), view.books.get(symbol, SymbolBook())
        ratios[("max_open_orders_per_symbol", symbol)] = (
            book.count / limits.max_open_orders_per_symbol
        )
        ratios[("max_orders_per_second", symbol)] = (
            view.rates.get(symbol, 0) / limits.max_orders_per_second
        )
        if book.oldest_unfolded_ms is not None:
            oldest.append(book.oldest_unfolded_ms)
        terms = view.terms(symbol)
        if terms is None:
            continue
        worst = book.worst_case(terms.position)
        total += worst
        ratios[("max_inventory_usd", symbol)] = worst / max(1, terms.inventory_limit)
    desk = view.desk_terms()
    ratios[("max_total_notional", ALL_SYMBOLS)] = total / max(1, desk.total_limit)
    loss = max(_ZERO, -view.pnl_today)
    ratios[("daily_loss_limit", ALL_SYMBOLS)] = float(loss / view.desk_limits.daily_loss_limit)
    lag = max(0, desk.now_ms - min(oldest)) if oldest else 0
    ratios[("max_positions_lag_s", ALL_SYMBOLS)] = lag / max(1, desk.max_positions_lag_ms)
    return ratios
