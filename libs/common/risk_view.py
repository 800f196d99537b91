"""What risk knows, read from Redis: `RiskReader.read` returns a `RiskView`.

One pipeline reads the trading state (the desk's and the account's own), the desk limits,
the scaling rule and the volatility factors, today's P&L baseline, the symbols that matter
(every symbol with exposure, a position or a mark) and, for the symbols already known and
those asked for, their limits, positions with versions and marks; a symbol seen for the
first time costs a second round trip, once. With `books`, the exposure ledger's
totals and order rates too (for display). Nothing is read per open order: the cost is
O(symbols), whatever the size of the book.

Rules of the view:

- The limits in the view are those in force: configured (desk, then a symbol's overrides;
  for an account with overrides of its own, the stricter of those and the account's chain:
  `libs.common.stores.account_limits`) and scaled by the rule at `now_ns`
  (`domain.limit_scaling.Scale`): a schedule window applies from its exact instant; a
  volatility factor from the tick that wrote it (`services.risk.scaling`).
  `configured_desk_limits` are the desk's as set.

- Only fresh marks (confirmed by a connected stream within `mark_max_age_s`) value a
  position for a check: `terms(symbol)` is None for a symbol with a position and no fresh
  mark, and risk then denies (`no_mark`) rather than guess. P&L uses the latest mark, fresh
  or not.
- P&L today = net P&L now - the net P&L when the day (UTC) was first observed, where net P&L
  = sum over positions of realized - fees - funding + unrealized at the mark (0 without a
  mark; `domain.positions.net_pnl`). The
  risk service sets the baseline once a day (`ensure_pnl_baseline`, first writer wins);
  until it is set P&L today reads 0. P&L made between 00:00 and that first observation (risk
  down at midnight) is not counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from libs.common.accounts import DEFAULT_VENUES
from libs.common.domain.exposure import (
    DeskTerms,
    SymbolBook,
    SymbolTerms,
    VenueTerms,
    position_units,
    to_units,
)
from libs.common.domain.ids import DEFAULT_ACCOUNT, VENUES, AccountId, Symbol, VenueId
from libs.common.domain.limit_scaling import DESK_LIMITS, SYMBOL_LIMITS, Scale, ScalingRule
from libs.common.domain.positions import Position, net_pnl
from libs.common.domain.risk_checks import (
    RiskLimits,
    TradingState,
    combined_state,
    daily_loss_breach,
)
from libs.common.domain.time import NS_PER_MS, NS_PER_SECOND, seconds_to_ns
from libs.common.metrics import ALL_SYMBOLS
from libs.common.stores import TradingStatus
from libs.common.stores._support import text
from libs.common.stores.exposure import ExposureLedger
from libs.common.stores.marks import Mark, decode_mark
from libs.common.stores.positions_redis import RedisPositionStore, read_versioned
from libs.common.stores.risk_state import decode_scaling
from libs.common.stores.risk_state_redis import decode_limits, decode_status
from libs.common.stores.volatility import SymbolVolatility
from libs.common.stores.volatility import decode_all as decode_volatility
from libs.common.topology import (
    FREEZE_KEY,
    MARK_SYMBOLS_KEY,
    RISK_LIMITS_KEY,
    RISK_SCALING_KEY,
    RISK_VOLATILITY_KEY,
    keys_of,
    mark_key,
    symbol_limits_key,
)

_ZERO = Decimal(0)
PNL_BASELINE_TTL_S = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class LimitScope:
    """The desk's limits (symbol None, label `ALL`) or a symbol's, as scaling sees them."""

    label: str
    symbol: Symbol | None
    scalable: frozenset[str]
    """The scalable limits checked at this scope (desk-wide ones for the desk)."""
    limits: RiskLimits
    """The limits in force."""


@dataclass(frozen=True, slots=True)
class RiskView:
    """The risk state of `account` at `now_ns` over `symbols` (see the module docstring)."""

    account: AccountId
    now_ns: int
    status: TradingStatus
    """The desk's trading state."""
    account_status: TradingStatus
    """The account's own trading state (ACTIVE at epoch 0 when it was never frozen)."""
    configured_desk_limits: RiskLimits
    """The desk limits as set, before the scaling rule."""
    scale: Scale
    """What scales the limits now (`domain.limit_scaling`)."""
    volatility: Mapping[Symbol, SymbolVolatility]
    """Each symbol's realised-volatility estimate and factor, while the rule scales with
    volatility (empty otherwise)."""
    desk_limits: RiskLimits
    """The desk limits in force: configured, scaled."""
    symbol_limits: Mapping[Symbol, RiskLimits]
    """Each symbol's limits in force: the desk's with its overrides, scaled."""
    positions: Mapping[Symbol, tuple[Position, ...]]
    """Each symbol's positions, one per venue that has one: risk adds them up."""
    versions: Mapping[Symbol, int]
    """The sum of each symbol's venue position versions: it moves when any of them does."""
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
    def state(self) -> TradingState:
        """What the account may do: the stricter of the desk's state and its own."""
        return combined_state(self.status.state, self.account_status.state)

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
        """The limits in force for `symbol`: the desk's with its overrides, scaled."""
        return self.symbol_limits.get(symbol, self.desk_limits)

    def limit_scopes(self) -> list[LimitScope]:
        """The desk (`ALL`), then each symbol: its scalable limits and its limits in force."""
        desk = LimitScope(ALL_SYMBOLS, None, DESK_LIMITS, self.desk_limits)
        return [desk, *(LimitScope(s, s, SYMBOL_LIMITS, self.limits(s)) for s in self.symbols)]

    def position_qty(self, symbol: Symbol) -> Decimal:
        """The symbol's net position across every venue."""
        return sum((p.qty for p in self.positions.get(symbol, ())), _ZERO)

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
            venue_limits=self._venue_terms(symbol, limits, mark),
        )

    def _venue_terms(
        self, symbol: Symbol, limits: RiskLimits, mark: Decimal | None
    ) -> dict[str, VenueTerms]:
        """Each venue with an inventory limit of its own, with its share of the position."""
        held = {p.venue: p.qty for p in self.positions.get(symbol, ())}
        terms: dict[str, VenueTerms] = {}
        for venue in VENUES:
            limit = limits.venue_inventory_limit(venue)
            if limit is not None:
                qty = held.get(venue, _ZERO)
                terms[venue] = VenueTerms(
                    position=0 if mark is None else position_units(qty, mark),
                    inventory_limit=to_units(limit, round_up=False),
                )
        return terms

    def desk_terms(self) -> DeskTerms:
        desk = self.desk_limits
        return DeskTerms(
            now_ms=self.now_ns // NS_PER_MS,
            total_limit=to_units(desk.max_total_notional, round_up=False),
            max_positions_lag_ms=int(desk.max_positions_lag_s * 1000),
            trading=self.status.state,
        )


class RiskReader:
    """Reads the `RiskView`s of one account from Redis: one pipeline (one round trip) per view
    once the symbols are known, a second only when a symbol appears."""

    def __init__(
        self,
        redis: Redis,
        *,
        ledger: ExposureLedger,
        account: AccountId = DEFAULT_ACCOUNT,
        venues: Sequence[VenueId] = DEFAULT_VENUES,
        mark_max_age_s: float = 30.0,
    ) -> None:
        self._redis = redis
        self._ledger = ledger
        self._books = tuple(RedisPositionStore(redis, account=account, venue=v) for v in venues)
        """One position store per venue: their keys, and a flat position per venue."""
        self.account = account
        self._keys = keys_of(account)
        self._mark_max_age_ns = seconds_to_ns(Decimal(str(mark_max_age_s)))
        self._known: set[Symbol] = set()
        """Symbols seen in an earlier view: read in the first round trip."""
        self._rule_raw: bytes | None = None
        self._rule_decoded: ScalingRule | None = None

    async def read(
        self, now_ns: int, *, symbols: Iterable[Symbol] = (), books: bool = False
    ) -> RiskView:
        """The view at `now_ns` over `symbols` and every symbol with exposure, a position or
        a mark; with the ledger's totals and rates when `books`."""
        wanted = sorted(self._known | set(symbols))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(FREEZE_KEY)
            pipe.hgetall(self._keys.freeze)
            pipe.hgetall(RISK_LIMITS_KEY)
            pipe.hgetall(self._keys.limits)
            pipe.get(self._keys.pnl_baseline(utc_day(now_ns)))
            pipe.get(RISK_SCALING_KEY)
            pipe.hgetall(RISK_VOLATILITY_KEY)
            sets = (
                self._keys.exposure_symbols,
                *(book.symbols_key for book in self._books),
                MARK_SYMBOLS_KEY,
            )
            for key in sets:
                pipe.smembers(key)
            self._queue_symbols(pipe, wanted)
            status, own, desk, mine, baseline, rule, volatility, *replies = await pipe.execute()
        named = {Symbol(text(m)) for members in replies[: len(sets)] for m in members}
        parts = self._parts(wanted, replies[len(sets) :])
        new = sorted(named - set(wanted))
        if new:
            async with self._redis.pipeline(transaction=False) as pipe:
                self._queue_symbols(pipe, new)
                parts |= self._parts(new, await pipe.execute())
        self._known |= set(parts)
        known = sorted(parts)
        totals: dict[Symbol, SymbolBook] = {}
        rates: dict[Symbol, int] = {}
        if books:
            totals, rates = await asyncio.gather(
                self._ledger.books(known), self._ledger.rates(known, now_ns // NS_PER_MS)
            )
        scaling = self._rule(rule)
        # decoded only while the rule scales with it: each symbol's entry is JSON
        estimates = decode_volatility(volatility) if scaling and scaling.volatility else {}
        scale = Scale.at(scaling, now_ns, {s: e.factor for s, e in estimates.items()})
        statuses = decode_status(status), decode_status(own)
        limits = (desk, mine)
        return self._view(
            now_ns, statuses, limits, baseline, scale, estimates, parts, totals, rates
        )

    def _rule(self, raw: bytes | None) -> ScalingRule | None:
        """The stored rule, decoded once per change (it is read with every view)."""
        if raw != self._rule_raw:
            self._rule_raw, self._rule_decoded = raw, decode_scaling(raw)
        return self._rule_decoded

    def _queue_symbols(self, pipe: Any, symbols: Iterable[Symbol]) -> None:
        for symbol in symbols:
            pipe.hgetall(symbol_limits_key(symbol))
            pipe.hgetall(self._keys.symbol_limits(symbol))
            for book in self._books:
                pipe.hgetall(book.position_key(symbol))
            pipe.hgetall(mark_key(symbol))

    def _parts(self, symbols: list[Symbol], replies: list[Any]) -> dict[Symbol, _Part]:
        """Decode `_queue_symbols`' replies (limits, own limits, a position per venue, the
        mark for each symbol) in `symbols`' order."""
        per_symbol = 3 + len(self._books)
        parts: dict[Symbol, _Part] = {}
        for k, symbol in enumerate(symbols):
            overrides, own, *records, mark = replies[per_symbol * k : per_symbol * (k + 1)]
            read = [  # a venue without a record holds nothing (version 0)
                read_versioned(record, symbol, self.account, book.venue)
                for book, record in zip(self._books, records, strict=True)
                if record
            ]
            held = tuple(p for p, _ in read)
            version = sum(v for _, v in read)
            parts[symbol] = _Part(overrides, own, held, version, decode_mark(symbol, mark))
        return parts

    def _view(
        self,
        now_ns: int,
        statuses: tuple[TradingStatus, TradingStatus],
        limits: tuple[Mapping[Any, Any], Mapping[Any, Any]],
        baseline: bytes | str | None,
        scale: Scale,
        estimates: Mapping[Symbol, SymbolVolatility],
        parts: Mapping[Symbol, _Part],
        totals: dict[Symbol, SymbolBook],
        rates: dict[Symbol, int],
    ) -> RiskView:
        positions = {s: p.positions for s, p in parts.items()}
        marks = {s: p.mark for s, p in parts.items() if p.mark is not None}
        net = sum(
            (_net_pnl(p, marks.get(s)) for s, books in positions.items() for p in books), _ZERO
        )
        desk, mine = limits
        configured = decode_limits(desk)
        return RiskView(
            account=self.account,
            now_ns=now_ns,
            status=statuses[0],
            account_status=statuses[1],
            configured_desk_limits=configured,
            scale=scale,
            volatility=estimates,
            desk_limits=scale.apply(decode_limits(desk, None, mine), None),
            symbol_limits={
                s: scale.apply(decode_limits(desk, p.overrides, mine, p.own), s)
                for s, p in parts.items()
            },
            positions=positions,
            versions={s: p.version for s, p in parts.items()},
            marks=marks,
            fresh={
                s: m.mark for s, m in marks.items() if m.is_fresh(now_ns, self._mark_max_age_ns)
            },
            books=totals,
            rates=rates,
            net_pnl=net,
            pnl_baseline=None if baseline is None else Decimal(text(baseline)),
        )


@dataclass(frozen=True, slots=True)
class _Part:
    """One symbol's share of a view, decoded."""

    overrides: Mapping[Any, Any]
    """The symbol's desk-wide overrides."""
    own: Mapping[Any, Any]
    """The account's overrides for the symbol."""
    positions: tuple[Position, ...]
    """The symbol's position at each venue that has one."""
    version: int
    """The sum of their versions."""
    mark: Mark | None


def _net_pnl(position: Position, mark: Mark | None) -> Decimal:
    return net_pnl(position, None if mark is None else mark.mark)


def utc_day(now_ns: int) -> str:
    """The UTC date of `now_ns` as YYYYMMDD: the day P&L today belongs to."""
    return dt.datetime.fromtimestamp(now_ns / NS_PER_SECOND, dt.UTC).strftime("%Y%m%d")


async def ensure_pnl_baseline(
    redis: Redis, account: AccountId, now_ns: int, net_pnl: Decimal
) -> Decimal:
    """Set today's P&L baseline of `account` to `net_pnl` unless set; return the baseline in
    force."""
    key = keys_of(account).pnl_baseline(utc_day(now_ns))
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
    for symbol in view.symbols:
        limits, book = view.limits(symbol), view.books.get(symbol, SymbolBook())
        ratios[("max_open_orders_per_symbol", symbol)] = (
            book.count / limits.max_open_orders_per_symbol
        )
        ratios[("max_orders_per_second", symbol)] = (
            view.rates.get(symbol, 0) / limits.max_orders_per_second
        )
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
    lag = oldest_unfolded_wait_ms(view) or 0
    ratios[("max_positions_lag_s", ALL_SYMBOLS)] = lag / max(1, desk.max_positions_lag_ms)
    return ratios


def oldest_unfolded_wait_ms(view: RiskView) -> int | None:
    """How long the oldest fill the venue reported has waited for positions to fold it (ms;
    None when none waits). From the ledger's totals: a view read with `books`."""
    oldest = [b.oldest_unfolded_ms for b in view.books.values() if b.oldest_unfolded_ms is not None]
    return max(0, view.now_ns // NS_PER_MS - min(oldest)) if oldest else None
